// Measures the history index on disk (src/api/history.hpp): indexing from scratch, page
// reads for a device with a year of hourly versions, and the process's RSS as the number
// of versions grows (issue 16: memory that does not grow with history).
//
//   bench-history [--per-job N] [--devices D] [--stages S] [--fleet V] [--queries Q] [--dir DIR]
//
// 1. A RocksDB event log in DIR (default a fresh folder under the current directory,
//    removed afterwards): completions and the git writer's record of each (every one a
//    commit), for one device "bench-dev" with 2 jobs x N versions (default 8,760: hourly
//    for a year) and D other devices (default 10,000) x 2 jobs sharing V versions (default
//    200,000), written in S stages (default 4).
// 2. After each stage the index catches up (HistoryIndex::catch_up, as netkeepd at start)
//    and the RSS is printed with the versions indexed so far.
// 3. Q (default 1,000) reads of each kind for bench-dev: the newest page of 100, of 1,000,
//    a page of 100 at a random `before`, and the whole list (config ?at= and diff): p50,
//    p99, max.
// Target (issue 16): p99 < 50 ms for the history of a device with 8,760 versions.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/history.hpp"
#include "netkeep/git_records.hpp"

namespace fs = std::filesystem;
using namespace netkeep;
using clock_type = std::chrono::steady_clock;

namespace {

struct Options {
    std::uint64_t per_job = 8760;
    std::uint64_t devices = 10'000;
    std::uint64_t fleet = 200'000;
    std::uint64_t stages = 4;
    std::uint64_t queries = 1000;
    std::string dir;
};

[[noreturn]] void die(const std::string& why) {
    fmt::print(stderr, "bench-history: {}\n", why);
    std::exit(1);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            die("usage: bench-history [--per-job N] [--devices D] [--stages S] "
                "[--fleet V] [--queries Q] [--dir DIR]");
        std::string v = argv[++i];
        if (a == "--dir")
            o.dir = v;
        else if (a == "--per-job")
            o.per_job = std::stoull(v);
        else if (a == "--devices")
            o.devices = std::max<std::uint64_t>(1, std::stoull(v));
        else if (a == "--fleet")
            o.fleet = std::stoull(v);
        else if (a == "--stages")
            o.stages = std::max<std::uint64_t>(1, std::stoull(v));
        else if (a == "--queries")
            o.queries = std::max<std::uint64_t>(1, std::stoull(v));
        else
            die("unknown option " + a);
    }
    return o;
}

double rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

std::string hex(char kind, std::uint64_t n) { return fmt::format("{}{:039x}", kind, n); }

// Appends `n` completions (the i-th of the whole run is `first + k`) and their records.
void write_stage(EventLog& log, std::uint64_t first, std::uint64_t n, const Options& o) {
    const std::uint64_t total = o.fleet + 2 * o.per_job;
    std::vector<Event> events;
    for (std::uint64_t k = first; k < first + n; ++k) {
        // bench-dev's versions spread evenly over the run, between the fleet's.
        const bool mine = (k * 2 * o.per_job) / total != ((k + 1) * 2 * o.per_job) / total;
        std::string device = mine ? "bench-dev" : fmt::format("dev-{:06}", k % o.devices);
        const char* job = k % 2 ? "show_run" : "show_version";
        const unix_time end = 1'700'000'000 + unix_time(k) * 3;
        events.push_back(CompletionRecorded{end, std::move(device), job, 1, end - 2, end,
                                            std::nullopt, 1000, std::string(64, 'a'), "spool",
                                            "worker-1"});
        if (events.size() == 10'000 || k + 1 == first + n) {
            auto range = log.append(events);
            if (!range) die(range.status().to_string());
            std::vector<std::pair<std::string, std::string>> meta;
            for (std::uint64_t seq = range->first; seq <= range->last; ++seq)
                meta.emplace_back(gitwriter::applied_key(seq),
                                  hex('b', seq) + " " + hex('c', seq) + " dev/file");
            if (Status s = log.put_meta_batch(meta); !s) die(s.to_string());
            events.clear();
        }
    }
}

struct Figures {
    double p50 = 0, p99 = 0, max = 0;
};

template <class F>
Figures time_it(std::uint64_t n, F&& f) {
    std::vector<double> ms;
    for (std::uint64_t i = 0; i < n; ++i) {
        auto t0 = clock_type::now();
        f(i);
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back()};
}

void queries(const api::HistoryIndex& h, const Options& o) {
    std::mt19937_64 rng(16);
    auto last = h.last_change("bench-dev", "show_run");
    if (!last) die("bench-dev has no versions");
    const std::uint64_t newest = last->last.seq;
    fmt::print("bench-dev/show_run: {} versions (newest seq {})\n", last->count, newest);
    auto page = [&](std::uint64_t before, std::size_t limit) {
        auto p = h.page("bench-dev", "show_run", before, limit);
        if (!p) die(p.status().to_string());
        return p->versions.size();
    };
    auto show = [](const char* what, Figures f) {
        fmt::print("  {:<40} p50 {:7.3f} ms  p99 {:7.3f} ms  max {:7.3f} ms\n", what, f.p50, f.p99,
                   f.max);
    };
    show("newest page of 100", time_it(o.queries, [&](auto) { page(UINT64_MAX, 100); }));
    show("newest page of 1000", time_it(o.queries, [&](auto) { page(UINT64_MAX, 1000); }));
    show("page of 100 at a random before",
         time_it(o.queries, [&](auto) { page(1 + rng() % (newest + 1), 100); }));
    show("whole list (config ?at=, diff)",
         time_it(std::min<std::uint64_t>(o.queries, 200), [&](auto) {
             auto all = h.all("bench-dev", "show_run");
             if (!all) die(all.status().to_string());
         }));
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const fs::path dir = o.dir.empty()
                             ? fs::current_path() / fmt::format("bench-history-{}", ::getpid())
                             : fs::path(o.dir);
    const bool remove = o.dir.empty();
    {
        auto log = open_event_log((dir / "log").string(), {.sync = false});
        if (!log) die(log.status().to_string());
        const std::uint64_t total = o.fleet + 2 * o.per_job;
        fmt::print(
            "{} completions: bench-dev 2 jobs x {}, {} devices sharing {}; RSS at start "
            "{:.1f} MiB\n",
            total, o.per_job, o.devices, o.fleet, rss_mib());
        std::uint64_t written = 0;
        for (std::uint64_t stage = 1; stage <= o.stages; ++stage) {
            const std::uint64_t upto = total * stage / o.stages;
            write_stage(**log, written, upto - written, o);
            written = upto;
            api::HistoryIndex h(**log);  // a start: loads the cache, indexes the new records
            auto t0 = clock_type::now();
            if (Status s = h.catch_up(); !s) die(s.to_string());
            const double ms =
                std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
            fmt::print("stage {}: {:>9} versions indexed ({:.0f} ms to catch up), RSS {:.1f} MiB\n",
                       stage, h.versions(), ms, rss_mib());
            if (stage == o.stages) queries(h, o);
        }
    }
    if (remove) fs::remove_all(dir);
    return 0;
}
