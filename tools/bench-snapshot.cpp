// Measures projection snapshots (docs/snapshots.md) in-process on a real RocksDB log:
//
//   bench-snapshot [--devices N] [--hours H] [--dir DIR] [--keep]
//
// Builds a log for N devices (default 10,000) x 2 jobs run hourly for H hours (default 24):
// per run a lease, a completion and a close (decide_* on a live projection, as the server
// appends them), sync off. Then reports: full replay time; snapshot write time and size;
// start-up from the snapshot (load + replay of the last hour's tail) against full replay;
// and the writer thread following the log while a second thread appends, with the longest
// append it saw (the io thread never waits for the snapshot thread: nothing is shared but
// the log). With --keep, DIR stays as a netkeepd data dir (log/, snapshots/) with the
// inventory in DIR/inventory, to time `netkeepd --no-git-writer` starting on it with and
// without --no-snapshots.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "netkeep/event_log.hpp"
#include "netkeep/projection.hpp"
#include "netkeep/snapshot.hpp"

namespace fs = std::filesystem;
using namespace netkeep;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point t) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

InventoryFiles inventory(int devices) {
    std::string list;
    for (int i = 0; i < devices; ++i)
        list += fmt::format(R"({}{{"name": "dev-{:05}", "profile": "p", "tags": ["site-{}"]}})",
                            i ? "," : "", i, i % 50);
    return {
        R"({"credentials": {"c": {"user": "u"}}, "profiles": {"p": {"credentials": "c"}}, "devices": [)" +
            list + "]}",
        R"({"jobs": [{"name": "running", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}},
                         {"name": "version", "schedule": {"interval": 3600}, "command": {"inline": ["show ver"]}}]})"};
}

void check(const Status& s) {
    if (!s) {
        fmt::print(stderr, "bench-snapshot: {}\n", s.to_string());
        std::exit(1);
    }
}

// One hour: every due task is leased, completed (1 in 20 a failure) and closed.
void run_hour(EventLog& log, Projection& live, unix_time now) {
    std::vector<Event> events;
    std::vector<task_id> due = live.due({}, now, 1'000'000);
    std::uint64_t n = 0;
    auto flush = [&] {
        if (events.empty()) return;
        auto range = log.append(events);
        check(range.status());
        for (std::size_t i = 0; i < events.size(); ++i)
            check(live.apply(EventRecord{range->first + i, std::move(events[i])}));
        events.clear();
    };
    for (task_id id : due) events.push_back(decide_grant(live, id, now, "w"));
    flush();
    for (task_id id : due) {
        const TaskState& t = live.task(id);
        CompletionRecorded c{now + 30,
                             std::string(t.device),
                             std::string(t.job),
                             t.timestamp,
                             now,
                             now + 20,
                             ++n % 20 == 0 ? std::optional<std::string>("timeout") : std::nullopt,
                             4000,
                             std::string(32, 'x'),
                             "spool",
                             "w"};
        auto d = decide_completion(live, c);
        for (Event& e : d.events) events.push_back(std::move(e));
        if (events.size() > 4096) flush();
    }
    flush();
}

}  // namespace

int main(int argc, char** argv) {
    int devices = 10'000;
    int hours = 24;
    fs::path dir = fs::current_path() / fmt::format("bench-snapshot-{}", ::getpid());
    bool keep = false;
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "--keep") keep = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--keep") {
            --i;
            continue;
        }
        if (flag == "--devices")
            devices = std::atoi(argv[i + 1]);
        else if (flag == "--hours")
            hours = std::atoi(argv[i + 1]);
        else if (flag == "--dir")
            dir = argv[i + 1];
    }
    fs::remove_all(dir);
    auto opened =
        open_event_log((dir / "log").string(), {.sync = false, .create_if_missing = true});
    check(opened.status());
    EventLog& log = **opened;
    Projection live;
    const unix_time t0 = 1'760'000'000;
    InventoryFiles files = inventory(devices);
    {
        std::vector<Event> first{InventoryApplied{t0, files.devices_json, files.jobs_json}};
        auto range = log.append(first);
        check(range.status());
        check(live.apply(EventRecord{range->first, std::move(first[0])}));
    }
    auto started = clock_type::now();
    std::uint64_t before_last_hour = 0;
    for (int h = 0; h < hours; ++h) {
        if (h == hours - 1) before_last_hour = log.last_seq();
        run_hour(log, live, t0 + unix_time(h) * 3600 + 1);
    }
    fmt::print("log: {} devices x 2 jobs, {} hours, {} events, built in {:.0f} ms\n", devices,
               hours, log.last_seq(), ms_since(started));

    started = clock_type::now();
    Projection full;
    check(replay(log, log.last_seq(), full));
    const double full_ms = ms_since(started);
    fmt::print("full replay: {:.0f} ms ({:.2f} M events/s)\n", full_ms,
               double(log.last_seq()) / full_ms / 1000);

    // A snapshot an hour before the end, as the writer would have left it.
    Projection at_snapshot;
    check(replay(log, before_last_hour, at_snapshot));
    const std::string snaps = (dir / "snapshots").string();
    started = clock_type::now();
    auto written = write_snapshot(snaps, at_snapshot, t0, 0);
    check(written.status());
    fmt::print("snapshot write: {:.0f} ms, {} bytes ({:.1f} bytes/task), {} tasks, at seq {}\n",
               ms_since(started), written->bytes,
               double(written->bytes) / double(at_snapshot.task_count()), at_snapshot.task_count(),
               written->seq);

    started = clock_type::now();
    auto loaded = load_snapshot(written->path);
    check(loaded.status());
    const double load_ms = ms_since(started);
    Projection p = std::move(*loaded);
    check(replay(log, log.last_seq(), p));
    const double total_ms = ms_since(started);
    fmt::print(
        "start-up from snapshot: load {:.0f} ms + tail of {} events {:.0f} ms = {:.0f} ms "
        "(full replay {:.0f} ms)\n",
        load_ms, log.last_seq() - before_last_hour, total_ms - load_ms, total_ms, full_ms);
    if (encode_snapshot(p, 0) != encode_snapshot(full, 0)) {
        fmt::print(stderr, "bench-snapshot: snapshot + tail differs from the full replay\n");
        return 1;
    }

    // The writer thread following the log while another thread appends an hour: the
    // appender never waits for it.
    fs::remove_all(snaps);
    SnapshotWriter writer(log, {.dir = snaps,
                                .every = std::uint64_t(devices) * 2 * 3,
                                .interval = std::chrono::seconds(0),
                                .keep_days = 400,
                                .now = {},
                                .write_at_stop = true});
    writer.start();
    started = clock_type::now();
    double longest_ms = 0;
    for (int h = hours; h < hours + 2; ++h) {
        const auto t = clock_type::now();
        run_hour(log, live, t0 + unix_time(h) * 3600 + 1);
        longest_ms = std::max(longest_ms, ms_since(t));
    }
    writer.stop();
    const SnapshotStats stats = writer.stats();
    fmt::print(
        "writer thread: {} snapshots while appending 2 hours; last at seq {} of {}, {} "
        "bytes; appending an hour took at most {:.0f} ms\n",
        stats.written, stats.last_seq, log.last_seq(), stats.last_bytes, longest_ms);
    log.close();
    if (!keep) {
        fs::remove_all(dir);
        return 0;
    }
    fs::create_directories(dir / "inventory");
    std::ofstream(dir / "inventory" / "devices.json") << files.devices_json;
    std::ofstream(dir / "inventory" / "jobs.json") << files.jobs_json;
    fmt::print("kept {} (netkeepd --data-dir {} --inventory {}/inventory)\n", dir.string(),
               dir.string(), dir.string());
    return 0;
}
