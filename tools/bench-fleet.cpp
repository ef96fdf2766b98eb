// Measures the fleet page's API (GET /api/v1/tasks, issue 12) on the real netkeepd.
//
//   bench-fleet [--devices N] [--requests R] [--work DIR]
//
// 1. An inventory of N devices (default 50,000) x 2 jobs = 100,000 tasks, spread over 10
//    site tags and 20 groups; a fifth of the tasks are leased (GET /worker/next), so
//    statuses and counts vary.
// 2. One keep-alive client asks pages of /api/v1/tasks, one at a time: first pages R times
//    (default 50) for several sorts and filters, at limit 100 and 1000, and whole cursor
//    walks (every page from the first to the last, so most cursors are deep). Prints
//    p50/p99/max latency per page request, the answer size, and netkeepd's RSS (now and
//    peak) after each scenario.
// 3. The status page and the audit tail (GET /api/v1/status, /api/v1/events?tail=1, with
//    and without a filter) on the same server.
// Target (issue 12): "fast at 100,000 tasks": a page well under 100 ms at p99.
//
// The netkeepd binary is the one built next to this tool, or $NETKEEPD.

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "bench_work_dir.hpp"
#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct options {
    int devices = 50'000;
    int requests = 50;
    std::string work;
};

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "bench-fleet: {}\n", why);
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    if (argc % 2 == 0) die("usage: bench-fleet [--devices N] [--requests R] [--work DIR]");
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
        else if (a == "--requests")
            o.requests = int(v);
        else
            die(fmt::format("unknown option {}", a));
    }
    return o;
}

void write_inventory(const fs::path& dir, int devices) {
    fs::create_directories(dir);
    std::string d = R"({"credentials": {"lab": {"user": "netops", "pass": "bench"}}, "devices": [)";
    for (int i = 0; i < devices; ++i) {
        if (i) d += ',';
        d += fmt::format(
            R"({{"name": "rtr-{:06}.example.net", "host": "10.{}.{}.{}", "credentials": "lab", "tags": ["site-{}"], "group": "g{}"}})",
            i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i % 10, i % 20);
    }
    d += "]}";
    std::ofstream(dir / "devices.json", std::ios::binary) << d;
    std::ofstream(dir / "jobs.json", std::ios::binary)
        << R"({"jobs": [)"
           R"({"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show running-config"]}, "timeout": 600},)"
           R"({"name": "show_version", "schedule": {"cron": "0 3 * * *"}, "command": {"inline": ["show version"]}, "timeout": 600}]})";
}

long rss_kib(pid_t pid, std::string_view field) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field)) return std::atol(line.c_str() + field.size());
    return -1;
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    return sorted[std::min(sorted.size() - 1, std::size_t(p * double(sorted.size())))];
}

// The next_cursor of an answer, undone of JSON quoting (cursors hold no escapes), then
// percent-encoded for the query string.
std::optional<std::string> next_cursor(const std::string& body) {
    const std::string_view key = R"("next_cursor":")";
    auto at = body.rfind(key);
    if (at == std::string::npos) return std::nullopt;
    auto end = body.find('"', at + key.size());
    std::string out;
    for (char c : std::string_view(body).substr(at + key.size(), end - at - key.size())) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')
            out += c;
        else
            out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
    return out;
}

struct Bench {
    netkeep::http::Client& client;
    pid_t server;

    // One page; its latency in ms. Dies on anything but 200.
    double page(const std::string& target, std::string& body) {
        auto before = clock_type::now();
        auto r = client.request("GET", target);
        double ms = std::chrono::duration<double, std::milli>(clock_type::now() - before).count();
        if (!r || r->status != 200)
            die(r ? fmt::format("{}: HTTP {}: {}", target, r->status, r->body)
                  : r.status().to_string());
        body = std::move(r->body);
        return ms;
    }

    void report(std::string_view what, std::vector<double> ms, std::size_t bytes) {
        std::sort(ms.begin(), ms.end());
        fmt::print(
            "  {:<58} {:>5} req  p50 {:>7.2f} ms  p99 {:>7.2f} ms  max {:>7.2f} ms  {:>7} B/page  "
            "RSS {:>4} MiB (peak {})\n",
            what, ms.size(), percentile(ms, 0.5), percentile(ms, 0.99), ms.back(),
            bytes / std::max<std::size_t>(1, ms.size()), rss_kib(server, "VmRSS:") / 1024,
            rss_kib(server, "VmHWM:") / 1024);
    }

    // The same first page `requests` times.
    void first_pages(const std::string& query, int requests) {
        repeat("/api/v1/tasks?" + query, requests, query);
    }

    void repeat(const std::string& target, int requests, std::string_view what) {
        std::vector<double> ms;
        std::size_t bytes = 0;
        std::string body;
        for (int i = 0; i < requests; ++i) {
            ms.push_back(page(target, body));
            bytes += body.size();
        }
        report(what, std::move(ms), bytes);
    }

    // Every page, following next_cursor to the end.
    void walk(const std::string& query) {
        std::vector<double> ms;
        std::size_t bytes = 0;
        std::string body;
        std::string cursor;
        for (;;) {
            ms.push_back(page("/api/v1/tasks?" + query + cursor, body));
            bytes += body.size();
            auto next = next_cursor(body);
            if (!next) break;
            cursor = "&cursor=" + *next;
        }
        report(fmt::format("walk {}", query), std::move(ms), bytes);
    }
};

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    auto work_dir = netkeep::bench::WorkDir::open(o.work, "bench-fleet");
    if (!work_dir) die(work_dir.status().message());
    const fs::path work = work_dir->path();
    write_inventory(work / "inventory", o.devices);
    auto server =
        netkeep::testing::start_netkeepd({"--data-dir", (work / "data").string(), "--inventory",
                                          (work / "inventory").string(), "--listen", "127.0.0.1:0"},
                                         {}, 600s);
    if (!server) die(server.status().to_string());
    auto client = netkeep::http::Client::connect(server->host, server->port);
    if (!client) die(client.status().to_string());
    const pid_t pid = server->process.pid();
    // A fifth of the tasks leased: every status has members.
    const int tasks = o.devices * 2;
    for (int leased = 0; leased < tasks / 5; leased += 1000) {
        auto r = client->request("GET", "/worker/next?max=1000&seconds=1");
        if (!r || (r->status != 200 && r->status != 204)) die("leasing failed");
        if (r->status == 204) break;
    }
    fmt::print("GET /api/v1/tasks: {} devices x 2 jobs = {} tasks, one keep-alive client\n",
               o.devices, tasks);
    fmt::print("  netkeepd RSS before the pages: {} MiB (peak {})\n", rss_kib(pid, "VmRSS:") / 1024,
               rss_kib(pid, "VmHWM:") / 1024);
    Bench b{*client, pid};
    for (std::string query :
         {"limit=100", "limit=1000", "sort=next_due&order=desc&limit=100", "sort=status&limit=100",
          "sort=last_change&limit=1000", "sort=job&order=desc&limit=1000", "q=rtr-0001&limit=100",
          "q=EXAMPLE&limit=100", "tag=site-3&status=due&limit=100",
          "group=g7&sort=last_failure&order=desc&limit=1000", "status=leased&limit=1000"})
        b.first_pages(query, o.requests);
    for (std::string query : {"limit=1000", "sort=next_due&order=desc&limit=1000",
                              "sort=status&limit=1000", "group=g3&limit=100"})
        b.walk(query);
    b.walk("limit=100");  // 1,000 pages at 100,000 tasks: cursors at every depth
    // The other routes of the fleet's pages, on the same server: the status page (two
    // passes over the tasks) and the audit tail, unfiltered and with a filter that matches
    // nothing (so each request scans the whole log, bounded by 100,000 events).
    fmt::print("other routes ({} events in the log)\n", tasks / 5 + 1);
    for (std::string target : {"/api/v1/status", "/api/v1/events?tail=1&limit=100",
                               "/api/v1/events?tail=1&limit=100&type=CompletionRecorded",
                               "/api/v1/events?from=2&limit=1000&device=nope"})
        b.repeat(target, std::max(5, o.requests / 5), target);
    (void)server->process.send_signal(SIGTERM);
    (void)server->process.wait(60s);
    return 0;
}
