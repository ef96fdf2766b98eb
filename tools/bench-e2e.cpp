// The whole path, end to end: tools/fake-device serving N devices with configs of B
// bytes, the real netkeepd, and one netkeep-worker at each concurrency asked for.
//
//   bench-e2e [--devices N] [--config-bytes B] [--concurrency K]...
//
// Defaults: 1,000 devices, 50 KB configs, concurrency 30 (the best-known peer tool's
// default thread count) and 100 (issue 5). For each concurrency, from a fresh data dir:
// wall time from the worker's start until every device's config is committed in git,
// and the CPU seconds and peak RSS of the worker, netkeepd and the fake device.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using netkeep::testing::Process;
using netkeep::testing::TempDir;

namespace {

struct options {
    int devices = 1000;
    int config_bytes = 50'000;
    std::vector<int> concurrency;
    bool ios6 = false;  // --commands ios6: the six commands of a usual IOS backup
};

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "bench-e2e: {}\n", why);
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; i += 2) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) die(fmt::format("{} needs a value", a));
        if (a == "--commands") {
            std::string_view c = argv[i + 1];
            if (c != "ios6" && c != "run2") die("--commands takes run2 (default) or ios6");
            o.ios6 = c == "ios6";
            continue;
        }
        int v = std::atoi(argv[i + 1]);
        if (v <= 0) die(fmt::format("{} wants a positive number", a));
        if (a == "--devices")
            o.devices = v;
        else if (a == "--config-bytes")
            o.config_bytes = v;
        else if (a == "--concurrency")
            o.concurrency.push_back(v);
        else
            die("usage: bench-e2e [--devices N] [--config-bytes B] [--concurrency K]... "
                "[--commands run2|ios6]");
    }
    if (o.concurrency.empty()) o.concurrency = {30, 100};
    return o;
}

struct usage {
    double cpu_seconds = 0;
    double peak_rss_mib = 0;
};

usage usage_of(pid_t pid) {
    return {netkeep::bench::cpu_seconds(fmt::format("/proc/{}/stat", pid)),
            netkeep::bench::peak_rss_mib(pid)};
}

std::string output_of(const std::string& command) {
    auto out = netkeep::bench::output_of(command);
    if (!out) die(fmt::format("cannot run {}", command));
    return *out;
}

std::uint16_t port_after(const std::string& line, std::string_view prefix) {
    if (!line.starts_with(prefix)) die(fmt::format("unexpected line '{}'", line));
    return std::uint16_t(std::stoi(line.substr(line.rfind(':') + 1)));
}

// run2: paging off and the config; ios6: what Oxidized's IOS model sends.
std::string_view job_commands(bool ios6) {
    return ios6 ? R"(["terminal length 0", "terminal width 0", "show version", "show vtp status", )"
                  R"("show inventory", "show running-config"])"
                : R"(["terminal length 0", "show running-config"])";
}

void write_inventory(const fs::path& dir, int devices, std::uint16_t port, bool ios6) {
    fs::create_directories(dir);
    std::string list;
    for (int i = 0; i < devices; ++i) {
        std::string name = fmt::format("dev{:04}", i);
        list += fmt::format(
            R"({}{{"name": "{}", "host": "127.0.0.1", "protocol": {{"type": "ssh", "ssh": {{"port": {}}}}},)"
            R"( "credentials": {{"user": "{}", "pass": "netkeep", "prompt": {{"ends_with": "#"}}}}}})",
            i ? ",\n" : "", name, port, name);
    }
    std::ofstream(dir / "devices.json") << "{\"devices\": [\n" << list << "]}\n";
    std::ofstream(dir / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 86400}, "timeout": 300,)"
        << R"( "command": {"inline": )" << job_commands(ios6) << "}}]}";
}

struct result {
    int concurrency = 0;
    double seconds = 0;
    usage worker, server, devices;
    double job_p50_ms = 0, job_p99_ms = 0;  // each job's wall time, from the worker's log
};

// The "ms" of every job.succeeded line the worker logged, sorted.
std::vector<double> job_times_ms(const std::string& log) {
    std::vector<double> ms;
    std::size_t at = 0;
    while ((at = log.find("job.succeeded", at)) != std::string::npos) {
        const std::size_t end = log.find('\n', at);
        const std::string_view line(log.data() + at,
                                    (end == std::string::npos ? log.size() : end) - at);
        if (auto m = line.find(" ms="); m != std::string_view::npos)
            ms.push_back(std::atof(std::string(line.substr(m + 4, 12)).c_str()));
        at = end == std::string::npos ? log.size() : end;
    }
    std::sort(ms.begin(), ms.end());
    return ms;
}

result run_once(const options& o, int concurrency) {
    auto root = TempDir::create("bench-e2e");
    if (!root) die(root.status().to_string());
    auto fake = Process::spawn({FAKE_DEVICE_PATH, "--listen", "127.0.0.1:0", "--config-bytes",
                                std::to_string(o.config_bytes), "--host-key",
                                (root->path() / "host.key").string()});
    if (!fake) die(fake.status().to_string());
    auto line = fake->read_line(10s);
    if (!line) die("fake-device did not start: " + fake->stderr_text());
    std::uint16_t device_port = port_after(*line, "ssh listening on ");

    write_inventory(root->path() / "inventory", o.devices, device_port, o.ios6);
    fs::path data = root->path() / "data";
    auto server = netkeep::testing::start_netkeepd(
        {"--data-dir", data.string(), "--inventory", (root->path() / "inventory").string(),
         "--listen", "127.0.0.1:0"},
        {}, 60s);
    if (!server) die(server.status().to_string());

    auto started = clock_type::now();
    auto worker = Process::spawn(
        {NETKEEP_WORKER_PATH, "--server", fmt::format("http://{}:{}", server->host, server->port),
         "--concurrency", std::to_string(concurrency), "--seconds", "2", "--max", "1000",
         "--known-hosts", (root->path() / "known_hosts").string(), "--name", "bench"});
    if (!worker) die(worker.status().to_string());

    std::string count_files =
        fmt::format("git --git-dir {} ls-tree -r --name-only main 2>/dev/null | wc -l",
                    (data / "repo.git").string());
    result r{concurrency, 0, {}, {}, {}, 0, 0};
    for (;;) {
        if (std::stoi(output_of(count_files)) >= o.devices) break;
        if (clock_type::now() - started > 30min)
            die("not every device was committed within 30 minutes");
        std::this_thread::sleep_for(100ms);
    }
    r.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    r.worker = usage_of(worker->pid());
    r.server = usage_of(server->process.pid());
    r.devices = usage_of(fake->pid());
    (void)worker->send_signal(SIGTERM);
    (void)worker->wait(60s);
    const std::vector<double> jobs = job_times_ms(worker->stderr_text() + worker->stdout_text());
    if (!jobs.empty()) {
        r.job_p50_ms = jobs[jobs.size() / 2];
        r.job_p99_ms = jobs[std::min(jobs.size() - 1, jobs.size() * 99 / 100)];
    }
    (void)server->process.send_signal(SIGTERM);
    (void)server->process.wait(60s);
    (void)fake->send_signal(SIGTERM);
    (void)fake->wait(10s);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    fmt::print(
        "bench-e2e: {} fake devices, {} byte configs, commands {}, one netkeep-worker; until every "
        "config is in git\n",
        o.devices, o.config_bytes, job_commands(o.ios6));
    fmt::print("{:>11} {:>9} {:>10} {:>10} {:>10} {:>11} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
               "concurrency", "wall s", "devices/s", "job p50", "job p99", "worker CPU",
               "worker RSS", "server CPU", "server RSS", "devices CPU", "devices RSS");
    for (int k : o.concurrency) {
        result r = run_once(o, k);
        fmt::print(
            "{:>11} {:>9.1f} {:>10.1f} {:>7.0f} ms {:>7.0f} ms {:>9.1f} s {:>8.1f} MiB {:>10.1f} s "
            "{:>8.1f} MiB {:>10.1f} s {:>8.1f} MiB\n",
            r.concurrency, r.seconds, o.devices / r.seconds, r.job_p50_ms, r.job_p99_ms,
            r.worker.cpu_seconds, r.worker.peak_rss_mib, r.server.cpu_seconds,
            r.server.peak_rss_mib, r.devices.cpu_seconds, r.devices.peak_rss_mib);
    }
    fmt::print(
        "all on the same 2 cores: the fake devices (SSH server side, key exchange included) "
        "compete with the\n"
        "worker and the server\n");
    return 0;
}
