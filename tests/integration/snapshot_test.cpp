// Projection snapshots with the real netkeepd (docs/snapshots.md): written while serving,
// loaded after kill -9 so that only the tail replays, the same state as a full replay, and
// a damaged newest snapshot skipped with a warning, never a refused start.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
namespace fs = std::filesystem;

namespace {

struct Dirs {
    TempDir root = TempDir::create("netkeepd-snap-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    Dirs() {
        fs::create_directories(inventory);
        std::string devices;
        for (int i = 0; i < 30; ++i)
            devices += (i ? "," : "") + std::string(R"({"name": "r)") + std::to_string(i) +
                       R"(", "credentials": {"user": "u", "pass": "p"}})";
        std::ofstream(inventory / "devices.json") << R"({"devices": [)" + devices + "]}";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}, "max_attempts": 3, "retry_delay": 3600}]})";
    }
};

RunningServer start(const Dirs& dirs, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "--data-dir", dirs.data.string(), "--inventory",    dirs.inventory.string(),
        "--listen",   "127.0.0.1:0",      "--no-git-writer"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = start_netkeepd(args);
    if (!server) FAIL(server.status().to_string());
    return std::move(server.value());
}

// One round of work: lease everything due, complete two thirds (one in three of those as a
// failure), and ask for a run of a few.
void work(Client& client, int round) {
    int i = 0;
    for (const Lease& l : lease(client, "?max=30")) {
        if (i % 3 != 2)
            complete(client, l, "config " + std::to_string(round) + "\n",
                     i % 3 == 1 ? std::optional<std::string>("timeout") : std::nullopt);
        ++i;
    }
    for (int d = 0; d < 5; ++d) {
        auto r =
            client.request("POST", "/api/v1/tasks/r" + std::to_string(d * 5) + "/show_run/run", "");
        REQUIRE(r.is_ok());
    }
}

std::string tasks(const RunningServer& server) {
    auto client = connect(server);
    auto r = client.get("/api/v1/tasks?limit=1000");
    REQUIRE(r.is_ok());
    REQUIRE(r->status == 200);
    // Without the clock's reading, which differs between two starts.
    return std::regex_replace(r->body, std::regex(R"("now":\d+,)"), "");
}

// The from_snapshot field of the log.replayed line; -1 when there is none.
long long replayed_from(const std::string& stderr_text) {
    std::smatch m;
    static const std::regex line("log\\.replayed seq=(\\d+) from_snapshot=(\\d+)");
    if (!std::regex_search(stderr_text, m, line)) return -1;
    return std::stoll(m[2]);
}

}  // namespace

TEST_CASE("snapshots: kill -9, restart from the snapshot, same tasks as a full replay") {
    Dirs dirs;
    const fs::path snaps = dirs.data / "snapshots";
    std::uint64_t snapshotted = 0;
    {
        auto server = start(dirs, {"--snapshot-every", "100", "--snapshot-interval", "1"});
        auto client = connect(server);
        work(client, 1);
        work(client, 2);
        // A snapshot of everything so far, then a tail that only the log has.
        REQUIRE(eventually([&] {
            const double last = metric_value(client, "netkeep_log_last_seq");
            return metric_value(client, "netkeep_snapshot_last_seq") == last;
        }));
        snapshotted = std::uint64_t(metric_value(client, "netkeep_snapshot_last_seq"));
        CHECK(snapshotted > 50);
        CHECK(metric_value(client, "netkeep_snapshot_last_bytes") > 0);
        CHECK(metric_value(client, "netkeep_snapshot_age_seconds") >= 0);
        REQUIRE(!fs::is_empty(snaps));
        auto r = client.request("POST", "/api/v1/tasks/r1/show_run/run", "");
        REQUIRE(r.is_ok());
        CHECK(r->status == 200);
        server.process.kill();
    }
    std::string from_snapshot;
    {
        auto server = start(dirs, {"--snapshot-interval", "0", "--snapshot-every", "0"});
        from_snapshot = tasks(server);
        server.process.kill();
        const std::string err = server.process.stderr_text();
        INFO(err);
        CHECK(replayed_from(err) >= static_cast<long long>(snapshotted));
        CHECK(err.find("snapshot.loaded") != std::string::npos);
    }
    std::string full;
    {
        auto server = start(dirs, {"--no-snapshots"});
        full = tasks(server);
        server.process.kill();
        CHECK(replayed_from(server.process.stderr_text()) == 0);
    }
    CHECK(from_snapshot == full);

    // The newest snapshot damaged: skipped with a warning, an older one or the log instead.
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(snaps)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    REQUIRE(!files.empty());
    {
        std::fstream f(files.back(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.put('\x5a');
    }
    {
        auto server = start(dirs, {"--snapshot-interval", "0", "--snapshot-every", "0"});
        CHECK(tasks(server) == full);
        server.process.kill();
        const std::string err = server.process.stderr_text();
        INFO(err);
        CHECK(err.find("snapshot.skipped") != std::string::npos);
        CHECK(replayed_from(err) >= 0);
    }
    // A garbage file under a snapshot's name, and an empty one, are skipped too.
    std::ofstream(snaps / "snap-99999999999999999999.nks") << "garbage";
    std::ofstream(snaps / "snap-00000000000000000002.nks");
    {
        auto server = start(dirs);
        CHECK(tasks(server) == full);
        server.process.kill();
    }
}

TEST_CASE("snapshots: netkeepctl state --at uses them and agrees with the log") {
    Dirs dirs;
    std::uint64_t last = 0;
    const std::int64_t started = std::time(nullptr);
    std::int64_t ended = 0;
    {
        auto server = start(dirs, {"--snapshot-every", "100", "--snapshot-interval", "1"});
        auto client = connect(server);
        work(client, 1);
        work(client, 2);
        work(client, 3);
        REQUIRE(eventually([&] {
            return metric_value(client, "netkeep_snapshot_last_seq") ==
                   metric_value(client, "netkeep_log_last_seq");
        }));
        last = std::uint64_t(metric_value(client, "netkeep_log_last_seq"));
        ended = std::time(nullptr);
    }
    // The state at several seqs, and at times (@unix seconds) around the seconds the events
    // were written in, with the snapshots and without them (moved away).
    std::vector<std::string> points;
    for (std::uint64_t at : {std::uint64_t(1), last / 3, last / 2, last - 1, last})
        points.push_back(std::to_string(at));
    for (std::int64_t t = started - 1; t <= ended + 1; ++t)
        points.push_back("@" + std::to_string(t));
    std::vector<std::string> with;
    for (const std::string& at : points) {
        auto r = ctl({"--data-dir", dirs.data.string(), "--json", "state", "--at", at});
        REQUIRE_MESSAGE(r.code == 0, r.err);
        with.push_back(r.out);
    }
    fs::rename(dirs.data / "snapshots", dirs.root / "moved");
    for (std::size_t i = 0; i < points.size(); ++i) {
        INFO("--at ", points[i]);
        auto r = ctl({"--data-dir", dirs.data.string(), "--json", "state", "--at", points[i]});
        REQUIRE_MESSAGE(r.code == 0, r.err);
        CHECK(r.out == with[i]);
    }
}
