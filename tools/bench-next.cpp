// Measures GET /worker/next on the real netkeepd, and its start-up replay.
//
//   bench-next [--devices N] [--clients C] [--max M] [--replay-events E] [--work DIR]
//   bench-next --reloads R [--devices N] [--clients C] [--work DIR]
//
// 1. An inventory of N devices (default 100,000) x 2 jobs, all due at once (the
//    baseline occurrence of every new task), devices spread over 10 site tags.
// 2. C keep-alive clients (default 32) call /worker/next?seconds=15&max=M&tag=site-K
//    until every task is leased. Prints requests/s, leases/s (durable: each answer is
//    written after its LeaseGranted events are fsync'd), p50/p99 latency, peak RSS.
//    Run twice, on a fresh server each: plaintext without tokens, then HTTPS with a
//    worker token (--auth, --tls-cert; bench_secure.hpp), and the secure run's cost.
// 3. A log of E events (default 1,000,000: the inventory, then lease grants and
//    expiries for every task) is written, and netkeepd is started on it; prints the
//    time to replay it (from netkeepd's log.replayed line) and to "listening on".
// With --reloads R, only this instead (issue 11: reload parsing moved off the io thread):
// 4. C clients (default 32; use 4 or so) lease one task per GET /worker/next for 5 s, then
//    while R reloads of a changed N-device inventory run back to back (POST
//    /admin/reload). Prints /worker/next's p50/p99/max latency without a reload and during
//    the reloads, and how long each reload took.
// Targets (issue 3): >= 20,000 leases/s, p99 < 10 ms, RSS < 512 MiB, replay >= 1,000,000 events/s.
// Target (issue 10): tokens + TLS cost <= 25% of the plaintext leases/s.
//
// The netkeepd binary is the one built next to this tool, or $NETKEEPD.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_secure.hpp"
#include "bench_work_dir.hpp"
#include "http/client.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct options {
    int devices = 100'000;
    int clients = 32;
    int max = 15;
    long replay_events = 1'000'000;
    int reloads = 0;   // > 0: only the reload measurement
    std::string work;  // keep everything here (for profiling) instead of a temp dir
};

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "bench-next: {}\n", why);
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--work") {
            o.work = argv[i + 1];
            continue;
        }
        long v = std::atol(argv[i + 1]);
        if (v <= 0) die(fmt::format("{} wants a positive number", a));
        if (a == "--devices")
            o.devices = int(v);
        else if (a == "--clients")
            o.clients = int(v);
        else if (a == "--max")
            o.max = int(v);
        else if (a == "--replay-events")
            o.replay_events = v;
        else if (a == "--reloads")
            o.reloads = int(v);
        else
            die(fmt::format("unknown option {}", a));
    }
    if (argc % 2 == 0)
        die("usage: bench-next [--devices N] [--clients C] [--max M] [--replay-events E] "
            "[--reloads R] [--work DIR]");
    return o;
}

constexpr int k_sites = 10;

netkeep::InventoryFiles make_inventory(int devices) {
    std::string d =
        R"({"credentials": {"lab": {"user": "netops", "pass": "bench", "prompt": {"ends_with": "#"}}},)"
        R"("profiles": {"ios": {"credentials": "lab", "tags": ["cisco"]}}, "devices": [)";
    for (int i = 0; i < devices; ++i) {
        if (i) d += ',';
        d += fmt::format(
            R"({{"name": "rtr-{:06}.example.net", "host": "10.{}.{}.{}", "profile": "ios", "tags": ["site-{}"]}})",
            i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i % k_sites);
    }
    d += "]}";
    std::string j =
        R"({"jobs": [)"
        R"({"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show running-config"]}, "timeout": 600},)"
        R"({"name": "show_version", "schedule": {"cron": "0 3 * * *"}, "command": {"inline": ["show version"]}, "timeout": 600}]})";
    return {std::move(d), std::move(j)};
}

void write_inventory(const fs::path& dir, const netkeep::InventoryFiles& files) {
    fs::create_directories(dir);
    std::ofstream(dir / "devices.json", std::ios::binary) << files.devices_json;
    std::ofstream(dir / "jobs.json", std::ios::binary) << files.jobs_json;
}

long peak_rss_kib(pid_t pid) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmHWM:")) return std::atol(line.c_str() + 6);
    return -1;
}

netkeep::testing::RunningServer start(const fs::path& data, const fs::path& inventory,
                                      const netkeep::bench::SecureSetup* secure = nullptr) {
    std::vector<std::string> args{"--data-dir",       data.string(), "--inventory",
                                  inventory.string(), "--listen",    "127.0.0.1:0"};
    if (secure) args.insert(args.end(), secure->server_args.begin(), secure->server_args.end());
    auto server = netkeep::testing::start_netkeepd(args, {}, 600s);
    if (!server) die(server.status().to_string());
    return std::move(server.value());
}

std::size_t count_leases(std::string_view body) {
    std::size_t n = 0;
    for (std::size_t pos = 0; (pos = body.find("\"timestamp\":", pos)) != std::string_view::npos;
         ++pos)
        ++n;
    return n;
}

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    std::size_t i = std::min(sorted.size() - 1, std::size_t(p * double(sorted.size())));
    return sorted[i];
}

struct lease_figures {
    double leases_per_s = 0;
    double p99_ms = 0;
};

// `secure`: HTTPS and a worker token; null: plaintext without tokens.
lease_figures bench_leases(const options& o, const fs::path& work,
                           const netkeep::InventoryFiles& files,
                           const netkeep::bench::SecureSetup* secure) {
    write_inventory(work / "inventory", files);
    auto started = clock_type::now();
    auto server = start(work / "data", work / "inventory", secure);
    netkeep::http::Headers headers;
    if (secure) secure->add_to(headers);
    double startup = std::chrono::duration<double>(clock_type::now() - started).count();
    const std::size_t total_tasks = std::size_t(o.devices) * 2;

    std::atomic<std::size_t> leased{0};
    std::atomic<std::size_t> requests{0};
    std::mutex mutex;
    std::vector<double> latencies_ms;
    std::atomic<bool> failed{false};
    auto t0 = clock_type::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c)
        threads.emplace_back([&, c] {
            auto client = netkeep::http::Client::connect(
                server.host, server.port, secure ? secure->client : netkeep::http::ClientOptions{});
            if (!client) {
                fmt::print(stderr, "bench-next: {}\n", client.status().to_string());
                failed = true;
                return;
            }
            std::vector<double> mine;
            int site = c % k_sites;
            int empty_sites = 0;
            while (empty_sites < k_sites && leased.load() < total_tasks) {
                auto target =
                    fmt::format("/worker/next?seconds=15&max={}&tag=site-{}", o.max, site);
                auto before = clock_type::now();
                auto r = client->request("GET", target, {}, headers);
                mine.push_back(
                    std::chrono::duration<double, std::milli>(clock_type::now() - before).count());
                requests++;
                if (!r || (r->status != 200 && r->status != 204)) {
                    fmt::print(stderr, "bench-next: {}\n",
                               r ? fmt::format("HTTP {}: {}", r->status, r->body)
                                 : r.status().to_string());
                    failed = true;
                    return;
                }
                if (r->status == 204) {  // this site is done: help with the next one
                    site = (site + 1) % k_sites;
                    ++empty_sites;
                    continue;
                }
                empty_sites = 0;
                leased += count_leases(r->body);
            }
            std::lock_guard lock(mutex);
            latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
        });
    for (auto& t : threads) t.join();
    double elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (failed) die("a client failed");
    long rss = peak_rss_kib(server.process.pid());
    (void)server.process.send_signal(SIGTERM);
    (void)server.process.wait(60s);

    std::sort(latencies_ms.begin(), latencies_ms.end());
    fmt::print(
        "GET /worker/next: {} devices x 2 jobs, {} clients, max={}, seconds=15, tag filter, {}\n",
        o.devices, o.clients, o.max, secure ? "HTTPS + worker token" : "plaintext, no tokens");
    fmt::print("  {:<34} {:>12.2f} s\n", "first start (inventory + listen)", startup);
    fmt::print("  {:<34} {:>12} of {}\n", "leases granted", leased.load(), total_tasks);
    fmt::print("  {:<34} {:>12.0f} /s\n", "requests", double(requests) / elapsed);
    fmt::print("  {:<34} {:>12.0f} /s   (target >= 20,000)\n", "leases granted (durable)",
               double(leased) / elapsed);
    fmt::print("  {:<34} {:>12.2f} ms\n", "latency p50", percentile(latencies_ms, 0.50));
    fmt::print("  {:<34} {:>12.2f} ms   (target < 10)\n", "latency p99",
               percentile(latencies_ms, 0.99));
    fmt::print("  {:<34} {:>12.1f} MiB  (target < 512)\n", "server peak RSS", double(rss) / 1024);
    return {double(leased) / elapsed, percentile(latencies_ms, 0.99)};
}

void bench_replay(const options& o, const fs::path& work, const netkeep::InventoryFiles& files) {
    fs::path data = work / "replay-data";
    fs::path inventory = work / "replay-inventory";
    write_inventory(inventory, files);
    const netkeep::unix_time at = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count() -
                                  60;
    long written = 0;
    {
        fs::create_directories(data);
        auto log = netkeep::open_event_log((data / "log").string(),
                                           {.sync = false, .create_if_missing = true});
        if (!log) die(log.status().to_string());
        if (!(*log)->append({netkeep::InventoryApplied{at, files.devices_json, files.jobs_json}}))
            die("append");
        written = 1;
        // Per task: grant, expire, grant, expire, grant (still leased, deadline far ahead).
        std::vector<netkeep::Event> batch;
        auto flush = [&] {
            if (batch.empty()) return;
            auto r = (*log)->append(batch);
            if (!r) die(r.status().to_string());
            written += long(batch.size());
            batch.clear();
        };
        const char* jobs[] = {"show_run", "show_version"};
        for (int round = 0; round < 5 && written + long(batch.size()) < o.replay_events; ++round)
            for (int d = 0; d < o.devices && written + long(batch.size()) < o.replay_events; ++d)
                for (const char* job : jobs) {
                    std::string device = fmt::format("rtr-{:06}.example.net", d);
                    if (round % 2 == 0)
                        batch.push_back(netkeep::LeaseGranted{at, device, job, at, at + 86400,
                                                              std::uint32_t(round / 2 + 1), "bench",
                                                              ""});
                    else
                        batch.push_back(netkeep::LeaseExpired{at, device, job, at});
                    if (batch.size() == 10'000) flush();
                }
        flush();
    }
    auto started = clock_type::now();
    auto server = start(data, inventory);
    double to_listen = std::chrono::duration<double>(clock_type::now() - started).count();
    long rss = peak_rss_kib(server.process.pid());
    (void)server.process.send_signal(SIGTERM);
    (void)server.process.wait(60s);
    // "... log.replayed seq=N tasks=T ms=M" on stderr.
    std::string err = server.process.stderr_text();
    double replay_ms = -1;
    if (auto pos = err.find("log.replayed"); pos != std::string::npos)
        if (auto ms = err.find("ms=", pos); ms != std::string::npos)
            replay_ms = std::atof(err.c_str() + ms + 3);
    fmt::print("start-up replay of {} events ({} tasks)\n", written, o.devices * 2);
    fmt::print("  {:<34} {:>12.2f} s\n", "replay + inventory check", replay_ms / 1000);
    fmt::print("  {:<34} {:>12.0f} events/s  (target >= 1,000,000)\n", "replay rate",
               written / (replay_ms / 1000));
    fmt::print("  {:<34} {:>12.2f} s\n", "spawn to \"listening on\"", to_listen);
    fmt::print("  {:<34} {:>12.1f} MiB\n", "server peak RSS", double(rss) / 1024);
}

// What the reload measurement's clients and its driver share.
struct reload_run {
    enum phase_t { warmup, baseline, reloading, done };
    std::atomic<int> phase{warmup};
    std::atomic<bool> failed{false};
    std::mutex mutex;  // guards base_ms and reload_ms
    std::vector<double> base_ms, reload_ms;
};

// One client: leases one task per request until the run is done, timing each request
// against the phase it started and ended in.
void reload_client(reload_run& run, const netkeep::testing::RunningServer& server, int c) {
    auto client = netkeep::http::Client::connect(server.host, server.port);
    if (!client) {
        run.failed = true;
        return;
    }
    std::vector<double> mine_base, mine_reload;
    while (run.phase.load() != reload_run::done) {
        auto target = fmt::format("/worker/next?seconds=15&max=1&tag=site-{}", c % k_sites);
        const int at = run.phase.load();
        auto before = clock_type::now();
        auto r = client->get(target);
        const double ms =
            std::chrono::duration<double, std::milli>(clock_type::now() - before).count();
        if (!r || (r->status != 200 && r->status != 204)) {
            fmt::print(stderr, "bench-next: {}\n",
                       r ? fmt::format("HTTP {}: {}", r->status, r->body) : r.status().to_string());
            run.failed = true;
            return;
        }
        // A request counts for a phase only if it started and ended in it.
        if (at == run.phase.load())
            (at == reload_run::reloading ? mine_reload : mine_base).push_back(ms);
        if (at == reload_run::warmup) mine_base.clear();
    }
    std::lock_guard lock(run.mutex);
    run.base_ms.insert(run.base_ms.end(), mine_base.begin(), mine_base.end());
    run.reload_ms.insert(run.reload_ms.end(), mine_reload.begin(), mine_reload.end());
}

// R reloads back to back, each of a changed inventory; how long each took, in seconds.
std::vector<double> run_reloads(const options& o, const fs::path& work,
                                const netkeep::testing::RunningServer& server,
                                const reload_run& run) {
    auto admin = netkeep::http::Client::connect(server.host, server.port);
    if (!admin) die(admin.status().to_string());
    std::vector<double> reload_s;
    for (int i = 0; i < o.reloads && !run.failed; ++i) {
        // A changed inventory each time (one more device), so every reload appends and applies.
        write_inventory(work / "inventory", make_inventory(o.devices + 1 + i));
        auto before = clock_type::now();
        auto r = admin->request("POST", "/admin/reload", "", {});
        if (!r || r->status != 200)
            die(r ? fmt::format("reload: HTTP {}: {}", r->status, r->body)
                  : r.status().to_string());
        reload_s.push_back(std::chrono::duration<double>(clock_type::now() - before).count());
    }
    return reload_s;
}

void print_reload_figures(const options& o, reload_run& run, const std::vector<double>& reload_s,
                          long rss) {
    std::sort(run.base_ms.begin(), run.base_ms.end());
    std::sort(run.reload_ms.begin(), run.reload_ms.end());
    fmt::print(
        "GET /worker/next during POST /admin/reload: {} devices x 2 jobs, {} clients, max=1, {} "
        "reloads\n",
        o.devices, o.clients, o.reloads);
    for (std::size_t i = 0; i < reload_s.size(); ++i)
        fmt::print("  {:<34} {:>12.2f} s\n", fmt::format("reload {}", i + 1), reload_s[i]);
    auto row = [](std::string_view what, std::vector<double>& ms) {
        fmt::print("  {:<34} {:>8} requests  p50 {:.2f} ms  p99 {:.2f} ms  max {:.2f} ms\n", what,
                   ms.size(), percentile(ms, 0.50), percentile(ms, 0.99),
                   ms.empty() ? 0.0 : ms.back());
    };
    row("without a reload (5 s)", run.base_ms);
    row("during the reloads", run.reload_ms);
    fmt::print("  {:<34} {:>12.1f} MiB\n", "server peak RSS", double(rss) / 1024);
}

// /worker/next latency while the inventory is reloaded, against the same without.
void bench_reload(const options& o, const fs::path& work) {
    netkeep::InventoryFiles files = make_inventory(o.devices);
    write_inventory(work / "inventory", files);
    auto server = start(work / "data", work / "inventory");

    reload_run run;
    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c)
        threads.emplace_back([&run, &server, c] { reload_client(run, server, c); });
    std::this_thread::sleep_for(1s);
    run.phase = reload_run::baseline;
    std::this_thread::sleep_for(5s);
    run.phase = reload_run::reloading;
    std::vector<double> reload_s = run_reloads(o, work, server, run);
    run.phase = reload_run::done;
    for (auto& t : threads) t.join();
    if (run.failed) die("a client failed");
    long rss = peak_rss_kib(server.process.pid());
    (void)server.process.send_signal(SIGTERM);
    (void)server.process.wait(60s);
    print_reload_figures(o, run, reload_s, rss);
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    auto work_dir = netkeep::bench::WorkDir::open(o.work, "bench-next");
    if (!work_dir) die(work_dir.status().message());
    const fs::path work = work_dir->path();
    if (o.reloads > 0) {
        bench_reload(o, work);
        return 0;
    }
    auto files = make_inventory(o.devices);
    auto secure = netkeep::bench::make_secure_setup(work / "secure", DEV_CA_PATH);
    if (!secure) die(secure.status().to_string());
    lease_figures plain = bench_leases(o, work / "plain", files, nullptr);
    lease_figures tls = bench_leases(o, work / "tls", files, &*secure);
    fmt::print("tokens + TLS against plaintext\n");
    fmt::print("  {:<34} {:>12.1f} %    (target <= 25)\n", "leases/s lost",
               100 * (1 - tls.leases_per_s / plain.leases_per_s));
    fmt::print("  {:<34} {:>12.2f} ms -> {:.2f} ms\n", "latency p99", plain.p99_ms, tls.p99_ms);
    bench_replay(o, work, files);
    return 0;
}
