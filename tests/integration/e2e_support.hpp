#pragma once
// What the end-to-end tests share: the real netkeepd, tools/fake-device and
// netkeep-worker (paths from NETKEEPD, FAKE_DEVICE, NETKEEP_WORKER, set by
// tests/integration/meson.build), an inventory writer, git read back with the git CLI, and
// the event log read back after netkeepd stopped. Header-only and doctest-aware.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "netkeep/event_log.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

namespace netkeep::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline std::string env_path(const char* name) {
    const char* p = std::getenv(name);
    if (!p || !*p) FAIL(name << " is not set: run the integration tests through meson test");
    return p;
}

// support/wait.hpp's wait_until under the name these tests use.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = k_wait_timeout) {
    return wait_until(pred, timeout, std::chrono::milliseconds(20));
}

// Runs a program to completion; its stdout, or nullopt when it fails.
inline std::optional<std::string> run_program(std::vector<std::string> argv) {
    auto p = Process::spawn(std::move(argv));
    REQUIRE(p.is_ok());
    auto status = p->wait(30s);
    REQUIRE(status.is_ok());
    if (!status->exited() || status->code != 0) return std::nullopt;
    return p->stdout_text();
}

inline std::size_t count(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

struct FakeDevice {
    Process process;
    std::uint16_t ssh_port = 0;
    std::uint16_t telnet_port = 0;
};

inline std::uint16_t port_of(const std::string& line, std::string_view prefix) {
    REQUIRE_MESSAGE(line.starts_with(prefix), line);
    return std::uint16_t(std::stoul(line.substr(line.rfind(':') + 1)));
}

// fake-device --listen LISTEN --telnet-listen 127.0.0.1:0 + extra.
inline FakeDevice start_fake_device(std::vector<std::string> extra,
                                    std::string listen = "127.0.0.1:0") {
    std::vector<std::string> argv{env_path("FAKE_DEVICE"), "--listen", listen, "--telnet-listen",
                                  "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::spawn(argv);
    REQUIRE(p.is_ok());
    FakeDevice d{std::move(p.value())};
    auto ssh = d.process.read_line(10s);
    REQUIRE_MESSAGE(ssh.is_ok(), d.process.stderr_text());
    d.ssh_port = port_of(*ssh, "ssh listening on ");
    auto telnet = d.process.read_line(10s);
    REQUIRE_MESSAGE(telnet.is_ok(), d.process.stderr_text());
    d.telnet_port = port_of(*telnet, "telnet listening on ");
    return d;
}

inline std::string print_config(const std::string& name, int generation = 0,
                                std::optional<int> bytes = {}) {
    std::vector<std::string> argv{env_path("FAKE_DEVICE"), "--print-config", name, "--generation",
                                  std::to_string(generation)};
    if (bytes) argv.insert(argv.end(), {"--config-bytes", std::to_string(*bytes)});
    auto out = run_program(argv);
    REQUIRE(out);
    return *out;
}

struct DeviceEntry {
    explicit DeviceEntry(std::string n, std::string proto = "ssh", std::uint16_t p = 22)
        : name(std::move(n)), protocol(std::move(proto)), port(p) {}
    std::string name;
    std::string protocol = "ssh";
    std::uint16_t port = 22;
    std::string host = "127.0.0.1";
    std::string user;  // empty: the device's name (what fake-device expects)
    std::string pass;
    std::string key;       // private key file, optional
    std::string host_key;  // protocol.ssh.host_key as JSON (a string or an array), optional
};

inline std::string device_json(const DeviceEntry& d) {
    std::string creds = fmt::format(R"("user": "{}")", d.user.empty() ? d.name : d.user);
    if (!d.pass.empty()) creds += fmt::format(R"(, "pass": "{}")", d.pass);
    if (!d.key.empty()) creds += fmt::format(R"(, "key": "{}")", d.key);
    const std::string pin = d.host_key.empty() ? "" : ", \"host_key\": " + d.host_key;
    return fmt::format(
        R"({{"name": "{}", "host": "{}", "protocol": {{"type": "{}", "{}": {{"port": {}{}}}}}, )"
        R"("credentials": {{{}, "prompt": {{"ends_with": "#"}}}}}})",
        d.name, d.host, d.protocol, d.protocol, d.port, pin, creds);
}

// A test's own netkeepd with an inventory of `devices` and one job `show_run`.
struct Backup {
    TempDir root = TempDir::create("netkeep-e2e").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path repo = data / "repo.git";
    fs::path known_hosts = root / "known_hosts";
    std::optional<RunningServer> server;

    // `server_args` go to netkeepd after the usual ones; with --tls-cert, url() is https.
    Backup(const std::vector<DeviceEntry>& devices, const std::string& job_fields,
           const std::string& commands = R"(["terminal length 0", "show run"])",
           std::vector<std::string> server_args = {}) {
        std::string list;
        for (const auto& d : devices) list += (list.empty() ? "" : ",\n") + device_json(d);
        start("{\"devices\": [\n" + list + "\n]}",
              R"({"jobs": [{"name": "show_run", "command": {"inline": )" + commands + "}, " +
                  job_fields + "}]}",
              std::move(server_args));
    }

    // An inventory written out in full.
    Backup(const std::string& devices_json, const std::string& jobs_json,
           std::vector<std::string> server_args = {}) {
        start(devices_json, jobs_json, std::move(server_args));
    }

    void start(const std::string& devices_json, const std::string& jobs_json,
               std::vector<std::string> server_args) {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json") << devices_json;
        std::ofstream(inventory / "jobs.json") << jobs_json;
        std::vector<std::string> args{"--data-dir",       data.string(), "--inventory",
                                      inventory.string(), "--listen",    "127.0.0.1:0"};
        for (const auto& a : server_args) {
            if (a == "--tls-cert") scheme = "https";
            args.push_back(a);
        }
        auto s = start_netkeepd(args);
        REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
        server.emplace(std::move(s.value()));
    }

    std::string scheme = "http";
    std::string url() const {
        return fmt::format("{}://{}:{}", scheme, server->host, server->port);
    }

    Process start_worker(std::vector<std::string> extra = {}, SpawnOptions spawn = {}) const {
        std::vector<std::string> argv{env_path("NETKEEP_WORKER"),
                                      "--server",
                                      url(),
                                      "--known-hosts",
                                      known_hosts.string(),
                                      "--seconds",
                                      "1",
                                      "--name",
                                      "e2e-worker"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto p = Process::spawn(argv, std::move(spawn));
        REQUIRE(p.is_ok());
        return std::move(p.value());
    }

    std::optional<std::string> git(std::vector<std::string> args) const {
        args.insert(args.begin(), {"/usr/bin/git", "--git-dir", repo.string()});
        return run_program(args);
    }
    int commits() const {
        auto out = git({"rev-list", "--count", "main"});
        return out ? std::stoi(*out) : 0;
    }
    std::optional<std::string> file(const std::string& device,
                                    const std::string& job = "show_run") const {
        return git({"show", "main:" + device + "/" + job});
    }

    // Stops netkeepd (SIGTERM) so its event log can be opened.
    void stop_server() {
        REQUIRE(server->process.send_signal(SIGTERM).is_ok());
        auto st = server->process.wait(30s);
        REQUIRE(st.is_ok());
        CHECK(st->code == 0);
    }

    // Every failure text recorded per device (CompletionRecorded with `failure`) and the
    // number of expired leases; netkeepd must be stopped.
    struct LogSummary {
        std::map<std::string, std::vector<std::string>> failures;
        int expired = 0;
    };
    LogSummary read_log() const {
        EventLogOptions options;
        options.create_if_missing = false;
        auto log = open_event_log((data / "log").string(), options);
        REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
        LogSummary out;
        auto s = (*log)->scan(1, (*log)->last_seq(), [&](EventRecord&& r) {
            if (auto* c = std::get_if<CompletionRecorded>(&r.event); c && c->failure)
                out.failures[c->device].push_back(*c->failure);
            if (std::holds_alternative<LeaseExpired>(r.event)) ++out.expired;
            return true;
        });
        REQUIRE(s.is_ok());
        return out;
    }
};

// Reads the log beside the running netkeepd (a reader) until every device has a successful
// completion recorded after this call and the git writer's cursor has passed them all:
// only then does "no further commit" mean something.
inline void wait_for_rerun_applied(const Backup& b, const std::vector<std::string>& devices) {
    auto reader = open_event_log_reader((b.data / "log").string());
    REQUIRE_MESSAGE(reader.is_ok(), reader.status().to_string());
    EventLog& log = **reader;
    std::uint64_t scanned = log.last_seq();
    std::map<std::string, std::uint64_t> rerun;  // device: its first success after the mark
    auto applied_all = [&] {
        const std::uint64_t last = log.wait_for(scanned, 200ms);  // catches up
        REQUIRE(log.scan(scanned + 1, last,
                         [&](EventRecord&& r) {
                             if (auto* c = std::get_if<CompletionRecorded>(&r.event);
                                 c && !c->failure)
                                 rerun.emplace(c->device, r.seq);
                             return true;
                         })
                    .is_ok());
        scanned = last;
        if (rerun.size() < devices.size()) return false;
        std::uint64_t newest = 0;
        for (const auto& [device, seq] : rerun) newest = std::max(newest, seq);
        auto cursor = log.get_meta("gitwriter.cursor");  // src/gitwriter/format.hpp
        return cursor.is_ok() && std::stoull(*cursor) >= newest;
    };
    REQUIRE_MESSAGE(wait_until(applied_all, 60s),
                    rerun.size() << " of " << devices.size() << " devices ran again");
}

inline std::vector<std::string> names_of(const std::vector<DeviceEntry>& devices) {
    std::vector<std::string> out;
    for (const auto& d : devices) out.push_back(d.name);
    return out;
}

// SIGTERM and wait; the exit status.
inline ExitStatus stop(Process& p, std::chrono::milliseconds timeout = 30s) {
    REQUIRE(p.send_signal(SIGTERM).is_ok());
    auto st = p.wait(timeout);
    REQUIRE_MESSAGE(st.is_ok(), p.stderr_text());
    return *st;
}

}  // namespace netkeep::testing
