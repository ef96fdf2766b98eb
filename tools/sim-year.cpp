// sim-year: a year of netkeep history, generated and measured (issue 16).
//
//   sim-year [--phase generate|measure|all] [--data-dir DIR] [--devices N] [--jobs N]
//            [--days N] [--change-rate F] [--git-writer on|off] [--seed N]
//            [--mode on|off|both] [--retention-days N] [--requests N] ...
//
// generate: writes, into DIR (netkeepd's data dir; DIR/inventory holds the inventory), the
//   event log a netkeepd would have written for N devices x J hourly jobs over D days
//   ending at the last full hour (sim_generate.hpp). With --git-writer on, every
//   completion's spool file too, and then runs the real netkeepd until its git writer has
//   applied every completion (the repository and the writer's records exist as after a
//   real year). DIR/sim-year.json records what was generated.
// measure: runs the real netkeepd and netkeepctl on DIR: start-up time to "listening on",
//   RSS after start-up, disk use of log, archive, snapshots and git, `netkeepctl state
//   --at` an instant half the period back (6 months for a year), `netkeepctl verify`, and
//   GET /api/v1/devices/<first device>/history (p50/p99). First with snapshots and
//   retention off (--no-snapshots, keeping everything), then on (the defaults plus
//   --log-retention): a retention pass runs first (apply_retention, in-process) over the
//   snapshots the generator wrote. Retention removes events: measure "off" before "on"
//   (--mode both does).
// all (default): both, in a temp dir unless --data-dir is given.
//
// docs/operations.md#capacity-planning has the figures; tools/README.md the commands.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "http/client.hpp"
#include "netkeep/event_log.hpp"
#include "sim_generate.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#if __has_include("netkeep/retention.hpp")
#include "netkeep/retention.hpp"
#define SIM_HAVE_RETENTION 1
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using netkeep::Result;
using netkeep::Status;

namespace {

struct Options {
    std::string phase = "all";
    std::string data_dir;
    std::string mode = "both";
    netkeep::sim::GenerateOptions gen;
    std::optional<bool> hot_device;
    int retention_days = 30;
    int requests = 200;
    int settle_seconds = 2;
    // Without apply_retention in this build: how long the "on" warm-up start may wait for
    // netkeepd's own retention pass.
    int warmup_seconds = 180;
};

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "sim-year: {}\n", why);
    std::exit(1);
}

constexpr std::string_view k_usage =
    "usage: sim-year [--phase generate|measure|all] [--data-dir DIR] [--devices N] [--jobs N]\n"
    "                [--days N] [--change-rate F] [--failure-rate F] [--expiry-rate F]\n"
    "                [--runs-per-day N] [--reloads N] [--config-bytes N] [--git-writer on|off]\n"
    "                [--hot-device on|off] [--seed N] [--mode on|off|both]\n"
    "                [--retention-days N] [--requests N] [--warmup-seconds N]";

double number(std::string_view flag, const char* text, double lo, double hi) {
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= lo && v <= hi))
        die(fmt::format("{} wants a number in [{}, {}], not '{}'", flag, lo, hi, text));
    return v;
}

bool on_off(std::string_view flag, std::string_view v) {
    if (v != "on" && v != "off") die(fmt::format("{} wants on or off", flag));
    return v == "on";
}

void parse_flag(Options& o, std::string_view a, const char* v) {
    auto& g = o.gen;
    if (a == "--phase")
        o.phase = v;
    else if (a == "--data-dir")
        o.data_dir = v;
    else if (a == "--mode")
        o.mode = v;
    else if (a == "--devices")
        g.devices = int(number(a, v, 1, 999'999));
    else if (a == "--jobs")
        g.jobs = int(number(a, v, 1, 100));
    else if (a == "--days")
        g.days = int(number(a, v, 1, 3660));
    else if (a == "--change-rate")
        g.change_rate = number(a, v, 0, 1);
    else if (a == "--failure-rate")
        g.failure_rate = number(a, v, 0, 0.5);
    else if (a == "--expiry-rate")
        g.expiry_rate = number(a, v, 0, 0.5);
    else if (a == "--runs-per-day")
        g.runs_per_day = number(a, v, 0, 100'000);
    else if (a == "--reloads")
        g.reloads = int(number(a, v, 0, 1000));
    else if (a == "--config-bytes")
        g.config_bytes = int(number(a, v, 64, 1 << 20));
    else if (a == "--git-writer")
        g.git_writer = on_off(a, v);
    else if (a == "--hot-device")
        o.hot_device = on_off(a, v);
    else if (a == "--seed")
        g.seed = std::uint64_t(number(a, v, 0, 1e15));
    else if (a == "--retention-days")
        o.retention_days = int(number(a, v, 1, 3650));
    else if (a == "--requests")
        o.requests = int(number(a, v, 1, 100'000));
    else if (a == "--warmup-seconds")
        o.warmup_seconds = int(number(a, v, 1, 86'400));
    else
        die(fmt::format("unknown option {}\n{}", a, k_usage));
}

Options parse(int argc, char** argv) {
    Options o;
    if (argc % 2 == 0) die(k_usage);
    for (int i = 1; i + 1 < argc; i += 2) parse_flag(o, argv[i], argv[i + 1]);
    if (o.phase != "generate" && o.phase != "measure" && o.phase != "all")
        die("--phase wants generate, measure or all");
    if (o.mode != "on" && o.mode != "off" && o.mode != "both") die("--mode wants on, off or both");
    if (o.phase != "all" && o.data_dir.empty()) die("--phase generate|measure needs --data-dir");
    o.gen.hot_device = o.hot_device.value_or(o.gen.git_writer);
    return o;
}

// ---- what was generated (DIR/sim-year.json, read back by --phase measure) ----

struct Generated {
    int devices = 0, jobs = 0, days = 0;
    bool git_writer = false, hot_device = false;
    long long start = 0, end = 0, events = 0;
};

void save_generated(const fs::path& dir, const Generated& g) {
    std::ofstream(dir / "sim-year.json", std::ios::trunc) << fmt::format(
        "{{\"devices\": {}, \"jobs\": {}, \"days\": {}, \"git_writer\": {}, \"hot_device\": {}, "
        "\"start\": {}, \"end\": {}, \"events\": {}}}\n",
        g.devices, g.jobs, g.days, int(g.git_writer), int(g.hot_device), g.start, g.end, g.events);
}

// The file save_generated writes: a flat object of integers, so a scan for each key does.
Generated load_generated(const fs::path& dir) {
    std::ifstream in(dir / "sim-year.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.empty())
        die(fmt::format("{}: no sim-year.json (run --phase generate first)", dir.string()));
    auto field = [&](std::string_view key) {
        auto at = text.find(fmt::format("\"{}\": ", key));
        if (at == std::string::npos) die(fmt::format("sim-year.json lacks {}", key));
        return std::atoll(text.c_str() + at + key.size() + 4);
    };
    return Generated{
        int(field("devices")),    int(field("jobs")), int(field("days")), field("git_writer") != 0,
        field("hot_device") != 0, field("start"),     field("end"),       field("events")};
}

// ---- processes ----

long proc_status_kib(pid_t pid, std::string_view field) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field)) return std::atol(line.c_str() + field.size());
    return -1;
}

// Bytes the files under dir take on disk (as du counts them: allocated blocks).
std::uint64_t disk_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return 0;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
            total += std::uint64_t(st.st_blocks) * 512;
    }
    return total;
}

netkeep::testing::RunningServer start_server(const std::vector<std::string>& args,
                                             double& seconds) {
    auto before = clock_type::now();
    auto server = netkeep::testing::start_netkeepd(args, {}, std::chrono::hours(6));
    seconds = std::chrono::duration<double>(clock_type::now() - before).count();
    if (!server) die(server.status().to_string());
    return std::move(*server);
}

void stop_server(netkeep::testing::RunningServer& server) {
    (void)server.process.send_signal(SIGTERM);
    auto exit = server.process.wait(std::chrono::minutes(10));
    if (!exit || !exit->exited() || exit->code != 0)
        fmt::print(stderr, "sim-year: netkeepd did not stop cleanly:\n{}\n",
                   server.process.stderr_text());
}

// Runs netkeepctl; its wall time, or nullopt (with its output on stderr) when it failed.
std::optional<double> run_ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{NETKEEPCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    auto before = clock_type::now();
    auto p = netkeep::testing::Process::spawn(argv);
    if (!p) die(p.status().to_string());
    auto exit = p->wait(std::chrono::hours(6));
    double s = std::chrono::duration<double>(clock_type::now() - before).count();
    if (exit && exit->exited() && exit->code == 0) return s;
    std::string err = p->stderr_text();
    fmt::print(stderr, "sim-year: netkeepctl {} failed ({:.1f} s): {}\n", fmt::join(args, " "), s,
               err.substr(0, 2000));
    return std::nullopt;
}

std::optional<long long> metric(netkeep::http::Client& client, std::string_view name) {
    auto r = client.get("/metrics");
    if (!r || r->status != 200) return std::nullopt;
    auto at = r->body.find(fmt::format("\n{} ", name));
    if (at == std::string::npos) return std::nullopt;
    return std::atoll(r->body.c_str() + at + name.size() + 2);
}

// ---- the git writer's year ----

// Whether this netkeepd knows a flag (snapshots and retention came with issue 16): its
// --help names it. Before them, "off" is simply netkeepd as it was, and "on" cannot run.
bool netkeepd_has(std::string_view flag) {
    static const std::string help = [] {
        auto p = netkeep::testing::Process::spawn({NETKEEPD_PATH, "--help"});
        if (!p) die(p.status().to_string());
        (void)p->wait(std::chrono::seconds(30));
        return p->stdout_text() + p->stderr_text();
    }();
    return help.find(fmt::format("{} ", flag)) != std::string::npos;
}

void add_if_known(std::vector<std::string>& args, std::string_view flag) {
    if (netkeepd_has(flag)) args.emplace_back(flag);
}

std::vector<std::string> server_args(const fs::path& dir, bool git_writer) {
    std::vector<std::string> args{"--data-dir",  dir.string(),
                                  "--inventory", (dir / "inventory").string(),
                                  "--listen",    "127.0.0.1:0"};
    if (!git_writer) args.push_back("--no-git-writer");
    return args;
}

// Runs netkeepd (snapshots off: its start-up is not what is measured here) until its git
// writer has applied every generated completion; prints how long that took and netkeepd's
// CPU time per completion.
void apply_git(const fs::path& dir, const Generated& g, long long completions) {
    auto args = server_args(dir, true);
    add_if_known(args, "--no-snapshots");
    double start_s = 0;
    auto server = start_server(args, start_s);
    auto client = netkeep::http::Client::connect(server.host, server.port);
    if (!client) die(client.status().to_string());
    auto before = clock_type::now();
    for (;;) {
        auto applied = metric(*client, "netkeep_git_applied_seq");
        if (applied && *applied >= g.events) break;
        std::this_thread::sleep_for(1s);
    }
    double s = std::chrono::duration<double>(clock_type::now() - before).count();
    double cpu = netkeep::bench::cpu_seconds(fmt::format("/proc/{}/stat", server.process.pid()));
    fmt::print(
        "git writer: applied {} completions in {:.1f} s ({:.0f}/s); netkeepd CPU {:.1f} s "
        "({:.2f} ms per completion)\n",
        completions, s, double(completions) / std::max(s, 1e-9), cpu,
        1000 * cpu / double(std::max(completions, 1LL)));
    stop_server(server);
}

Generated run_generate(const Options& o, const fs::path& dir) {
    auto gen = o.gen;
    gen.data_dir = dir.string();
    gen.end = std::time(nullptr) / 3600 * 3600;
    fmt::print(
        "generating {} devices x {} jobs, hourly, {} days (git writer {}, hot device {}, "
        "snapshots during generation: {})\n",
        gen.devices, gen.jobs, gen.days, gen.git_writer ? "on" : "off",
        gen.hot_device ? "on" : "off",
        netkeep::sim::generator_writes_snapshots() ? "yes, daily" : "no (no snapshot API)");
    auto report = netkeep::sim::generate(gen);
    if (!report) die(report.status().to_string());
    const auto& r = *report;
    fmt::print(
        "generated {} events in {:.1f} s ({:.0f} events/s): {} completions ({} changes, {} "
        "failed), {} expiries, {} run-now, {} reloads, {} snapshots, {} spool files\n",
        r.events, r.seconds, double(r.events) / std::max(r.seconds, 1e-9), r.completions, r.changes,
        r.failures, r.expiries, r.runs, r.reloads, r.snapshots, r.spool_files);
    fmt::print("per simulated day: {:.0f} events, log {:.1f} MiB\n", double(r.events) / gen.days,
               double(disk_bytes(dir / "log")) / gen.days / 1048576.0);
    Generated g{gen.devices,    gen.jobs, gen.days, gen.git_writer,
                gen.hot_device, r.start,  r.end,    (long long)r.events};
    save_generated(dir, g);
    if (gen.git_writer) apply_git(dir, g, (long long)r.completions);
    return g;
}

// ---- measuring ----

struct Figures {
    bool ran = false;
    double start_s = 0;
    std::string replayed;  // netkeepd's log.replayed line
    long rss_kib = 0, hwm_kib = 0;
    std::map<std::string, std::uint64_t> disk;
    std::optional<double> state_s, verify_s;
    double history_p50 = 0, history_p99 = 0;
    std::size_t history_bytes = 0;
    std::size_t history_versions = 0;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

void measure_history(netkeep::http::Client& client, int requests, Figures& f) {
    const std::string target =
        fmt::format("/api/v1/devices/{}/history", netkeep::sim::device_name(0));
    std::vector<double> ms;
    for (int i = 0; i < requests; ++i) {
        auto before = clock_type::now();
        auto r = client.get(target);
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - before).count());
        if (!r || r->status != 200)
            die(r ? fmt::format("{}: HTTP {}: {}", target, r->status, r->body.substr(0, 500))
                  : r.status().to_string());
        f.history_bytes = r->body.size();
        std::size_t n = 0;
        for (auto at = r->body.find("\"commit\""); at != std::string::npos;
             at = r->body.find("\"commit\"", at + 1))
            ++n;
        f.history_versions = n;
    }
    f.history_p50 = percentile(ms, 0.5);
    f.history_p99 = percentile(ms, 0.99);
}

std::string line_of(const std::string& text, std::string_view event) {
    auto at = text.find(event);
    if (at == std::string::npos) return "";
    auto begin = text.rfind('\n', at);
    auto end = text.find('\n', at);
    return text.substr(begin == std::string::npos ? 0 : begin + 1,
                       end == std::string::npos ? std::string::npos : end - begin - 1);
}

bool has_snapshots(const fs::path& dir) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir / "snapshots", ec); !ec && it != fs::end(it);
         it.increment(ec))
        if (it->path().filename().string().starts_with("snap-")) return true;
    return false;
}

// Before the "on" start: what a server that had been running with snapshots and retention
// leaves. Without snapshots from the generator, a first start and clean stop writes one
// (netkeepd writes a snapshot at a clean stop). Then a retention pass: in-process with
// apply_retention (what netkeepd's hourly pass runs) when this build has it, else a start
// that waits up to --warmup-seconds for netkeepd's own first pass (a minute after start).
void prepare_on(const fs::path& dir, const std::vector<std::string>& args, const Options& o) {
    if (!has_snapshots(dir)) {
        double s = 0;
        auto server = start_server(args, s);
        fmt::print("  on: no snapshot yet: a first start ({:.2f} s) and stop to write one\n", s);
        stop_server(server);
    }
#if defined(SIM_HAVE_RETENTION)
    auto log = netkeep::open_event_log((dir / "log").string());
    if (!log) die(log.status().to_string());
    netkeep::RetentionOptions options;
    options.max_age_seconds = std::int64_t(o.retention_days) * 86400;
    options.archive_dir = (dir / "archive").string();
    options.snapshots_dir = (dir / "snapshots").string();
    auto r = netkeep::apply_retention(**log, options);
    if (!r) die("retention: " + r.status().to_string());
    fmt::print(
        "  on: retention {} d: first seq {} -> {} (limited by {}), {} archived in {} "
        "segments ({:.1f} -> {:.1f} MiB), {:.1f} s\n",
        o.retention_days, r->first_seq_before, r->first_seq_after, r->limited_by, r->archived,
        r->segments, double(r->raw_bytes) / 1048576.0, double(r->stored_bytes) / 1048576.0,
        r->seconds);
    (*log)->close();
#else
    double s = 0;
    auto server = start_server(args, s);
    auto deadline = clock_type::now() + std::chrono::seconds(o.warmup_seconds);
    while (clock_type::now() < deadline &&
           server.process.stderr_text().find("retention.") == std::string::npos)
        std::this_thread::sleep_for(1s);
    fmt::print("  on: {}\n", line_of(server.process.stderr_text(), "retention."));
    stop_server(server);
#endif
}

Figures measure(const fs::path& dir, const Generated& g, const Options& o, bool on) {
    Figures f;
    f.ran = true;
    auto args = server_args(dir, g.git_writer);
    if (on) {
        args.insert(args.end(), {"--log-retention", std::to_string(o.retention_days)});
        prepare_on(dir, args, o);
    } else {
        add_if_known(args, "--no-snapshots");
    }
    auto server = start_server(args, f.start_s);
    std::this_thread::sleep_for(std::chrono::seconds(o.settle_seconds));
    f.rss_kib = proc_status_kib(server.process.pid(), "VmRSS:");
    f.hwm_kib = proc_status_kib(server.process.pid(), "VmHWM:");
    f.replayed = line_of(server.process.stderr_text(), "log.replayed");
    if (g.hot_device) {
        auto client = netkeep::http::Client::connect(server.host, server.port);
        if (!client) die(client.status().to_string());
        measure_history(*client, o.requests, f);
    }
    stop_server(server);
    for (std::string_view sub : {"log", "archive", "snapshots", "repo.git", "spool", "gitwriter"})
        f.disk[std::string(sub)] = disk_bytes(dir / sub);
    // Half the period back: 6 months for a year.
    const long long at = g.end - (g.end - g.start) / 2;
    f.state_s = run_ctl({"--data-dir", dir.string(), "state", "--at", fmt::format("@{}", at)});
    f.verify_s = run_ctl({"--data-dir", dir.string(), "verify"});
    return f;
}

// ---- the table ----

std::string mib(std::uint64_t bytes) {
    return fmt::format("{:.1f} MiB", double(bytes) / 1048576.0);
}

std::string seconds(const std::optional<double>& s) {
    return s ? fmt::format("{:.2f} s", *s) : std::string("failed");
}

void row(std::string_view what, const Figures& on, const Figures& off,
         const std::function<std::string(const Figures&)>& cell, std::string_view target) {
    fmt::print("  {:<34} {:>18} {:>18}   {}\n", what, on.ran ? cell(on) : "-",
               off.ran ? cell(off) : "-", target);
}

void print_table(const Generated& g, const Figures& on, const Figures& off, const Options& o) {
    fmt::print("\nsim-year: {} devices x {} jobs hourly, {} days, {} events, git writer {}\n",
               g.devices, g.jobs, g.days, g.events, g.git_writer ? "on" : "off");
    fmt::print("  {:<34} {:>18} {:>18}   {}\n", "", fmt::format("ON (ret. {} d)", o.retention_days),
               "OFF", "target");
    row(
        "start-up to \"listening on\"", on, off,
        [](const Figures& f) { return fmt::format("{:.2f} s", f.start_s); }, "< 2 s");
    row(
        "RSS after start-up (VmRSS)", on, off,
        [](const Figures& f) { return fmt::format("{} MiB", f.rss_kib / 1024); }, "< 512 MiB");
    row(
        "peak RSS (VmHWM)", on, off,
        [](const Figures& f) { return fmt::format("{} MiB", f.hwm_kib / 1024); }, "");
    for (std::string_view sub : {"log", "archive", "snapshots", "repo.git", "spool"})
        row(
            fmt::format("disk: {}", sub), on, off,
            [&](const Figures& f) { return mib(f.disk.at(std::string(sub))); }, "");
    row(
        "state --at (half the period back)", on, off,
        [](const Figures& f) { return seconds(f.state_s); }, "< 5 s");
    row(
        "verify", on, off, [](const Figures& f) { return seconds(f.verify_s); }, "");
    if (g.hot_device) {
        row(
            "history p50 (first device)", on, off,
            [](const Figures& f) { return fmt::format("{:.2f} ms", f.history_p50); }, "");
        row(
            "history p99", on, off,
            [](const Figures& f) { return fmt::format("{:.2f} ms", f.history_p99); }, "< 50 ms");
        row(
            "history answer", on, off,
            [](const Figures& f) {
                return fmt::format("{} v, {} KiB", f.history_versions, f.history_bytes / 1024);
            },
            "");
    }
    for (const Figures* f : {&on, &off})
        if (f->ran) fmt::print("  {}: {}\n", f == &on ? "ON " : "OFF", f->replayed);
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    std::optional<netkeep::testing::TempDir> temp;
    fs::path dir = o.data_dir;
    if (dir.empty()) {
        auto created = netkeep::testing::TempDir::create("sim-year");
        if (!created) die(created.status().to_string());
        temp.emplace(std::move(*created));
        dir = temp->path() / "data";
    }
    Generated g;
    if (o.phase != "measure") {
        if (fs::exists(dir / "log"))
            die(fmt::format("{} holds a log: generate into a new dir", dir.string()));
        g = run_generate(o, dir);
    } else {
        g = load_generated(dir);
    }
    if (o.phase == "generate") return 0;
    Figures on, off;
    if (o.mode != "on") off = measure(dir, g, o, false);
    if (o.mode != "off") {
        if (netkeepd_has("--log-retention") && netkeepd_has("--no-snapshots"))
            on = measure(dir, g, o, true);
        else
            fmt::print(
                "sim-year: this netkeepd has no --log-retention or --no-snapshots: no ON "
                "measurement\n");
    }
    print_table(g, on, off, o);
    // A failed step is a failed run (the smoke test in the suite relies on it).
    bool failed = false;
    for (const Figures* f : {&on, &off})
        if (f->ran && (!f->state_s || !f->verify_s || (g.hot_device && f->history_versions == 0)))
            failed = true;
    return failed ? 1 : 0;
}
