// What the web UI asks of netkeepd, measured against the real server (issue 12):
//
//   bench-ui [--tasks N] [--configs M] [--config-bytes B] [--requests R] [--work DIR]
//
// Defaults: 100,000 tasks (devices x one job), of which 10,000 get a config of 50 KB
// through GET /worker/next + POST /worker/complete, and 20 of those a second, changed
// version. Then, with netkeepd's RSS after each:
//   fleet   GET /api/v1/tasks pages (limit 100): first page by name, sorted by next due,
//           a name filter, and pages deep in a cursor walk; p50/p99
//   diff    GET .../diff between the two 50 KB versions, unified and JSON; p50/p99
//   search  GET /api/v1/search for a literal and a regex over the newest config of
//           every task; p50/p99, against `git grep` on main's tree in the same run
// Prints figures; exits 1 when a request fails or search and git grep disagree.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "bench_util.hpp"
#include "bench_work_dir.hpp"
#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
    int tasks = 100'000;
    int configs = 10'000;
    int config_bytes = 50'000;
    int changed = 20;  // configs that get a second version (diff)
    int requests = 100;
    std::string work;
};

// netkeepd's pid once started: exit() runs no destructors, so die() stops it itself.
pid_t g_server = -1;

[[noreturn]] void die(const std::string& message) {
    fmt::print(stderr, "bench-ui: {}\n", message);
    if (g_server > 0) ::kill(g_server, SIGKILL);
    std::exit(1);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--tasks")
            o.tasks = std::stoi(value());
        else if (a == "--configs")
            o.configs = std::stoi(value());
        else if (a == "--config-bytes")
            o.config_bytes = std::stoi(value());
        else if (a == "--requests")
            o.requests = std::stoi(value());
        else if (a == "--work")
            o.work = value();
        else
            die("usage: bench-ui [--tasks N] [--configs M] [--config-bytes B] [--requests R] "
                "[--work DIR]");
    }
    o.configs = std::min(o.configs, o.tasks);
    o.changed = std::min(o.changed, o.configs);
    return o;
}

std::string device_name(int i) { return fmt::format("sw-{:06}.example.net", i); }

// Devices 0..configs-1 carry the tag "cfg" (the ones the bench backs up); every device
// has a site tag and one of 20 groups, as a real fleet would.
void write_inventory(const fs::path& dir, const Options& o) {
    fs::create_directories(dir);
    std::string d = R"({"credentials": {"lab": {"user": "netops", "pass": "bench"}}, "devices": [)";
    for (int i = 0; i < o.tasks; ++i) {
        if (i) d += ',';
        d += fmt::format(
            R"({{"name": "{}", "host": "10.{}.{}.{}", "credentials": "lab", "group": "region-{}", "tags": ["site-{}"{}]}})",
            device_name(i), (i >> 16) & 255, (i >> 8) & 255, i & 255, i % 20, i % 50,
            i < o.configs ? R"(, "cfg")" : "");
    }
    d += "]}";
    std::ofstream(dir / "devices.json", std::ios::binary) << d;
    std::ofstream(dir / "jobs.json", std::ios::binary)
        << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 86400}, "command": {"inline": ["show running-config"]}, "timeout": 3600}]})";
}

// A switch config of about `bytes` bytes: interfaces with descriptions and VLANs, routes
// and an ACL, unique per device. One device in a hundred has the "uplink to core-7"
// description the literal search looks for; `version` > 0 changes a few lines.
std::string make_config(int device, int bytes, int version) {
    std::string c = fmt::format(
        "!\nversion 17.9\nhostname {}\n!\nip domain name example.net\n"
        "snmp-server location rack-{}-row-{}\nntp server 10.0.0.{}\n!\n",
        device_name(device), device % 40, device % 7, 1 + device % 4);
    for (int port = 1; int(c.size()) < bytes; ++port) {
        const int vlan = 100 + (device * 7 + port) % 400;
        std::string description = port == 48 && device % 100 == 7
                                      ? "uplink to core-7"
                                      : fmt::format("access port {}", port);
        if (version > 0 && port % 50 == version % 50)
            description += fmt::format(" (moved v{})", version);
        c += fmt::format(
            "interface GigabitEthernet1/0/{}\n description {}\n switchport access vlan {}\n"
            " switchport mode access\n spanning-tree portfast\n!\n",
            port, description, vlan);
        if (port % 10 == 0)
            c += fmt::format("ip route 10.{}.{}.0 255.255.255.0 10.0.{}.1\n", device % 250,
                             port % 250, vlan % 250);
        if (port % 25 == 0)
            c += fmt::format("access-list 110 permit tcp any host 10.{}.{}.{} eq 443\n",
                             device % 250, port % 250, vlan % 250);
    }
    return c + "end\n";
}

netkeep::http::Client connect(const netkeep::testing::RunningServer& s) {
    auto c = netkeep::http::Client::connect(s.host, s.port);
    if (!c) die(c.status().to_string());
    return std::move(*c);
}

constexpr std::string_view k_boundary = "bench-ui-boundary-51c";

std::string field(std::string_view name, std::string_view value) {
    return fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                       k_boundary, name, value);
}

void complete(netkeep::http::Client& c, const std::string& device, std::int64_t timestamp,
              const std::string& config) {
    std::string body = field("device", device) + field("job_timestamp", std::to_string(timestamp)) +
                       field("start_timestamp", std::to_string(timestamp)) +
                       field("end_timestamp", std::to_string(timestamp + 1));
    body += fmt::format(
        "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"show_run\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n{}\r\n--{}--\r\n",
        k_boundary, config, k_boundary);
    netkeep::http::Headers h;
    h.add("Content-Type", fmt::format("multipart/form-data; boundary={}", k_boundary));
    auto r = c.request("POST", "/worker/complete", body, h);
    if (!r || r->status != 200)
        die(fmt::format("complete {}: {}", device, r ? r->body : r.status().to_string()));
}

// Leases every due "cfg" task and completes it with its config (version `version`);
// `devices` limits it to those names (run-now'd ones), else all.
int fill(const netkeep::testing::RunningServer& s, const Options& o, int version) {
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&] {
            auto c = connect(s);
            simdjson::dom::parser parser;
            for (;;) {
                auto r = c.get("/worker/next?tag=cfg&max=50&seconds=1");
                if (!r) die(r.status().to_string());
                if (r->status == 204) return;
                if (r->status != 200) die("/worker/next: " + r->body);
                for (auto item : parser.parse(r->body).get_array()) {
                    std::string device(item["device"]["name"].get_string().value());
                    const int index = std::stoi(device.substr(3, 6));
                    complete(c, device, item["timestamp"].get_int64().value(),
                             make_config(index, o.config_bytes, version));
                    done++;
                }
            }
        });
    for (auto& t : threads) t.join();
    return done;
}

// A connection of its own each time: the fill takes minutes, longer than netkeepd keeps
// an idle connection.
double metric(const netkeep::testing::RunningServer& s, std::string_view name) {
    auto c = connect(s);
    auto r = c.get("/metrics");
    if (!r || r->status != 200) die("/metrics failed");
    const std::string prefix = std::string(name) + " ";
    std::size_t at = r->body.find("\n" + prefix);
    if (at == std::string::npos) return -1;
    return std::stod(r->body.substr(at + 1 + prefix.size()));
}

// Until the git writer has applied every event (the versions are then in the index).
void wait_for_git(const netkeep::testing::RunningServer& s) {
    const auto deadline = clock_type::now() + 30min;
    while (metric(s, "netkeep_git_lag_events") != 0) {
        if (clock_type::now() > deadline) die("the git writer did not catch up in 30 minutes");
        std::this_thread::sleep_for(200ms);
    }
}

struct Timing {
    double p50 = 0, p99 = 0;
    std::size_t bytes = 0;
};

Timing time_get(netkeep::http::Client& c, const std::function<std::string(int)>& target,
                int requests) {
    std::vector<double> ms;
    Timing t;
    for (int i = 0; i < requests; ++i) {
        const std::string path = target(i);
        auto before = clock_type::now();
        auto r = c.get(path);
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - before).count());
        if (!r || r->status != 200)
            die(fmt::format("GET {}: {}", path,
                            r ? r->body.substr(0, 300) : r.status().to_string()));
        t.bytes = r->body.size();
    }
    std::sort(ms.begin(), ms.end());
    t.p50 = ms[ms.size() / 2];
    t.p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    return t;
}

// A field of /proc/<pid>/status in MiB ("VmRSS", "RssAnon", "RssFile").
double status_mib(const netkeep::testing::RunningServer& s, std::string_view field) {
    std::ifstream status(fmt::format("/proc/{}/status", s.process.pid()));
    std::string line;
    const std::string prefix = std::string(field) + ":";
    while (std::getline(status, line))
        if (line.starts_with(prefix)) return std::stod(line.substr(prefix.size())) / 1024.0;
    return 0;
}

double rss_mib(const netkeep::testing::RunningServer& s) { return status_mib(s, "VmRSS"); }

// Anonymous memory (heap) apart from file pages (mapped packs, which the kernel may drop).
void print_memory(std::string_view when, const netkeep::testing::RunningServer& s) {
    fmt::print("  {:<44} RSS {:>7.1f} MiB (anonymous {:.1f}, file {:.1f})\n", when, rss_mib(s),
               status_mib(s, "RssAnon"), status_mib(s, "RssFile"));
}

void print_row(std::string_view what, const Timing& t, double rss) {
    fmt::print("  {:<44} p50 {:>8.2f} ms  p99 {:>8.2f} ms  {:>9} B  RSS {:>7.1f} MiB\n", what,
               t.p50, t.p99, t.bytes, rss);
}

using Server = netkeep::testing::RunningServer;

void bench_fleet(netkeep::http::Client& c, const Server& server, const Options& o) {
    fmt::print("fleet (GET /api/v1/tasks, limit 100):\n");
    const std::pair<const char*, const char*> pages[] = {
        {"first page, by device", "/api/v1/tasks?limit=100"},
        {"first page, by next_due desc", "/api/v1/tasks?limit=100&sort=next_due&order=desc"},
        {"name filter q=0042 + group + status",
         "/api/v1/tasks?limit=100&q=0042&group=region-2&status=scheduled"},
    };
    for (const auto& [label, target] : pages)
        print_row(label,
                  time_get(
                      c, [&](int) { return std::string(target); }, o.requests),
                  rss_mib(server));
    // A cursor walk deep into the fleet: every page's next_cursor feeds the next.
    std::string cursor;
    simdjson::dom::parser parser;
    std::vector<std::string> cursors;
    for (int page = 0; page < std::min(o.requests, o.tasks / 100); ++page) {
        auto r = c.get("/api/v1/tasks?limit=100" + (cursor.empty() ? "" : "&cursor=" + cursor));
        if (!r || r->status != 200) die("cursor walk failed");
        auto next = parser.parse(r->body)["next_cursor"];
        if (next.is_null()) break;
        cursor = std::string(next.get_string().value());
        cursors.push_back(cursor);
    }
    if (cursors.empty()) return;
    auto deep = [&](int i) {
        return "/api/v1/tasks?limit=100&cursor=" + cursors[std::size_t(i) % cursors.size()];
    };
    print_row(fmt::format("pages 2..{} of a cursor walk", cursors.size() + 1),
              time_get(c, deep, o.requests), rss_mib(server));
}

// Between the two versions of device 0's config.
void bench_diff(netkeep::http::Client& c, const Server& server, const Options& o) {
    fmt::print("diff ({} KB versions):\n", o.config_bytes / 1000);
    simdjson::dom::parser parser;
    auto versions = c.get(fmt::format("/api/v1/devices/{}/jobs/show_run/versions", device_name(0)));
    if (!versions || versions->status != 200) die("versions failed");
    auto list = parser.parse(versions->body)["versions"].get_array();
    if (list.size() < 2) die("device 0 has fewer than two versions");
    const std::string to(list.at(0)["commit"].get_string().value());
    const std::string from(list.at(1)["commit"].get_string().value());
    const std::string diff = fmt::format("/api/v1/devices/{}/jobs/show_run/diff?from={}&to={}",
                                         device_name(0), from, to);
    print_row("unified",
              time_get(
                  c, [&](int) { return diff; }, o.requests),
              rss_mib(server));
    print_row("json hunks",
              time_get(
                  c, [&](int) { return diff + "&format=json"; }, o.requests),
              rss_mib(server));
}

// git grep -l over main's tree: the p50 of five runs and the number of files it lists.
std::pair<double, long> git_grep(const fs::path& repo, const std::string& pattern) {
    const std::string grep =
        fmt::format("git --git-dir {} grep -l {} main | wc -l", repo.string(), pattern);
    std::vector<double> ms;
    std::string out;
    for (int i = 0; i < 5; ++i) {
        auto before = clock_type::now();
        out = netkeep::bench::output_of(grep).value_or("");
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - before).count());
    }
    std::sort(ms.begin(), ms.end());
    return {ms[2], std::atol(out.c_str())};
}

// False when search and git grep disagree on the files that match.
bool bench_search(netkeep::http::Client& c, const Server& server, const Options& o,
                  const fs::path& repo) {
    fmt::print("search (newest config of {} tasks):\n", o.configs);
    struct Query {
        std::string label, params, grep;
    };
    const Query queries[] = {
        {"literal 'uplink to core-7'", "q=uplink+to+core-7&literal=1", "-F 'uplink to core-7'"},
        {"regex 'permit tcp any host 10\\.1\\d\\.'", "q=permit+tcp+any+host+10%5C.1%5Cd%5C.",
         "-E 'permit tcp any host 10\\.1[0-9]\\.'"},
    };
    const int searches = std::max(5, o.requests / 10);
    simdjson::dom::parser parser;
    bool agree = true;
    for (const Query& q : queries) {
        const std::string target = "/api/v1/search?limit=1000&" + q.params;
        Timing t = time_get(
            c, [&](int) { return target; }, searches);
        auto r = c.get(target);
        if (!r || r->status != 200) die("search failed");
        auto doc = parser.parse(r->body);
        const std::int64_t files = doc["files_matched"].get_int64().value();
        print_row(fmt::format("{} ({} files)", q.label, files), t, rss_mib(server));
        const auto [grep_ms, grep_files] = git_grep(repo, q.grep);
        fmt::print("  {:<44} p50 {:>8.2f} ms  ({} files){}\n", "  git grep -l, same tree", grep_ms,
                   grep_files, grep_files == files ? "" : "  MISMATCH");
        if (grep_files != files && !doc["truncated"].get_bool().value()) agree = false;
    }
    return agree;
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    const Options o = parse(argc, argv);
    auto work_dir = netkeep::bench::WorkDir::open(o.work, "bench-ui");
    if (!work_dir) die(work_dir.status().message());
    const fs::path work = work_dir->path();
    write_inventory(work / "inventory", o);
    auto started =
        netkeep::testing::start_netkeepd({"--data-dir", (work / "data").string(), "--inventory",
                                          (work / "inventory").string(), "--listen", "127.0.0.1:0"},
                                         {}, 600s);
    if (!started) die(started.status().to_string());
    netkeep::testing::RunningServer& server = *started;
    g_server = server.process.pid();

    fmt::print("bench-ui: {} tasks, {} configs of {} bytes\n", o.tasks, o.configs, o.config_bytes);
    print_memory("netkeepd started", server);
    auto t0 = clock_type::now();
    const int filled = fill(server, o, 0);
    wait_for_git(server);
    fmt::print("  {:<44} {:>8.1f} s\n", fmt::format("fill: {} completions + git writer", filled),
               std::chrono::duration<double>(clock_type::now() - t0).count());
    print_memory("after the fill", server);
    auto c = connect(server);
    // A second version of a few configs: run now, lease, complete a changed config.
    for (int i = 0; i < o.changed; ++i) {
        auto r = c.request("POST", fmt::format("/api/v1/tasks/{}/show_run/run", device_name(i)));
        if (!r || r->status != 200) die("run-now failed");
    }
    fill(server, o, 1);
    wait_for_git(server);

    bench_fleet(c, server, o);
    bench_diff(c, server, o);
    const bool agree = bench_search(c, server, o, work / "data" / "repo.git");
    fmt::print("netkeepd peak RSS {:.1f} MiB\n",
               netkeep::bench::peak_rss_mib(server.process.pid()));
    return agree ? 0 : 1;
}
