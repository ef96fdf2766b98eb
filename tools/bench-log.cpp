// Measures durable append throughput of the event log against the raw cost of a sync.
//
//   bench-log [--dir DIR] [--single N] [--concurrent N] [--threads T] [--syncs N]
//
// Three figures on the same filesystem (DIR, default a fresh folder under the current
// directory, removed afterwards):
//   1. one thread appending one 200-byte event at a time (each waits for its fsync),
//   2. T threads (default 32) doing the same concurrently (group commit shares syncs),
//   3. raw 4 KiB write + fdatasync in a loop: the disk's sync rate, the reference.
// Target (issue 2): concurrent appends >= 3x the raw fdatasync rate.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/event_format.hpp"
#include "netkeep/event_log.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    fs::path dir;
    int single = 2000;
    int concurrent = 40000;
    int threads = 32;
    int syncs = 2000;
};

[[noreturn]] void usage(const char* why) {
    fmt::print(stderr,
               "bench-log: {}\nusage: bench-log [--dir DIR] [--single N] [--concurrent N] "
               "[--threads T] [--syncs N]\n",
               why);
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) usage("missing value");
        const char* v = argv[++i];
        if (a == "--dir")
            o.dir = v;
        else if (a == "--single")
            o.single = std::atoi(v);
        else if (a == "--concurrent")
            o.concurrent = std::atoi(v);
        else if (a == "--threads")
            o.threads = std::atoi(v);
        else if (a == "--syncs")
            o.syncs = std::atoi(v);
        else
            usage("unknown option");
    }
    if (o.single <= 0 || o.concurrent <= 0 || o.threads <= 0 || o.syncs <= 0)
        usage("counts must be positive");
    return o;
}

// A lease grant whose encoded record is 200 bytes, the size of a typical event.
netkeep::Event sample_event() {
    netkeep::LeaseGranted e{1700000000,
                            "edge-router-042.dc1.example.net",
                            "show_running_config",
                            1699999800,
                            1700000300,
                            1,
                            "",
                            ""};
    while (netkeep::event_format::encode(e).size() < 200) e.worker.push_back('w');
    while (netkeep::event_format::encode(e).size() > 200) e.worker.pop_back();
    return e;
}

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

double bench_appends(netkeep::EventLog& log, int total, int threads) {
    const netkeep::Event event = sample_event();
    std::atomic<int> remaining{total};
    std::atomic<bool> failed{false};
    auto start = clock_type::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            while (remaining.fetch_sub(1) > 0) {
                auto r = log.append({event});
                if (!r) {
                    fmt::print(stderr, "append failed: {}\n", r.status().to_string());
                    failed = true;
                    return;
                }
            }
        });
    for (auto& w : workers) w.join();
    if (failed) std::exit(1);
    return total / seconds_since(start);
}

double bench_fdatasync(const fs::path& file, int count) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        std::perror("open");
        std::exit(1);
    }
    std::string block(4096, 'x');
    auto start = clock_type::now();
    for (int i = 0; i < count; ++i) {
        if (::write(fd, block.data(), block.size()) != ssize_t(block.size()) ||
            ::fdatasync(fd) != 0) {
            std::perror("write/fdatasync");
            std::exit(1);
        }
    }
    double rate = count / seconds_since(start);
    ::close(fd);
    return rate;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    bool own_dir = o.dir.empty();
    if (own_dir) o.dir = fs::current_path() / fmt::format("bench-log.{}", ::getpid());
    fs::create_directories(o.dir);

    double single = 0, concurrent = 0;
    {
        auto log = netkeep::open_event_log((o.dir / "log").string());
        if (!log) {
            fmt::print(stderr, "bench-log: {}\n", log.status().to_string());
            return 1;
        }
        single = bench_appends(**log, o.single, 1);
        concurrent = bench_appends(**log, o.concurrent, o.threads);
    }
    double syncs = bench_fdatasync(o.dir / "fdatasync.bin", o.syncs);
    if (own_dir) fs::remove_all(o.dir);

    fmt::print("event log durable appends, 200-byte events, on {}\n", o.dir.parent_path().string());
    fmt::print("  {:<36} {:>12.0f} events/s\n", "1 appender", single);
    fmt::print("  {:<36} {:>12.0f} events/s\n", fmt::format("{} concurrent appenders", o.threads),
               concurrent);
    fmt::print("  {:<36} {:>12.0f} syncs/s\n", "raw 4 KiB write + fdatasync", syncs);
    fmt::print("  {:<36} {:>12.2f}x  (target >= 3x)\n", "concurrent / fdatasync",
               concurrent / syncs);
    return 0;
}
