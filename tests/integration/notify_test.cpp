// Notifications inside the real netkeepd, delivered to local receivers: tools/notify-sink
// (an HTTP receiver recording bodies, an SMTP sink with STARTTLS and AUTH) and an exec
// target appending to a file. Config changes arrive with their diff, a kill -9 loses
// nothing, a target that is down delays only itself, and no planted secret ever shows up
// in a payload, a log line or the data dir.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "loopback_sshd.hpp"
#include "netkeep/http_client.hpp"
#include "netkeep/json.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Planted where an operator keeps secrets; none may appear in any output.
const std::string k_device_pass = "DEVPASS-planted-6f1d";
const std::string k_hmac_key = "HMACKEY-planted-93ab";
const std::string k_smtp_pass = "SMTPPASS-planted-2c7e";
const std::string k_config_secret = "CONFIGSECRET-planted-5e0a";  // redacted by the job
const std::string k_url_token = "URLTOKEN-planted-77d1";          // in a webhook URL's path

std::string env_path(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE_MESSAGE(v != nullptr, std::string(name) << " is not set: run through meson test");
    return v;
}

// Runs a program to the end; whether it exited 0.
bool run_ok(std::vector<std::string> argv) {
    auto p = Process::spawn(std::move(argv));
    REQUIRE(p.is_ok());
    auto status = p->wait(60s);
    return status.is_ok() && status->exited() && status->code == 0;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const fs::path& p) {
    std::vector<std::string> out;
    std::istringstream in(read_file(p));
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

// One tools/notify-sink process.
struct Sink {
    Process process;
    fs::path record;
    int port = 0;

    static Sink start(const fs::path& dir, const std::string& name,
                      std::vector<std::string> extra) {
        const fs::path port_file = dir / (name + ".port");
        std::vector<std::string> argv{
            env_path("NOTIFY_SINK"), extra[0],   "--port-file",
            port_file.string(),      "--record", (dir / (name + ".jsonl")).string()};
        argv.insert(argv.end(), extra.begin() + 1, extra.end());
        auto p = Process::spawn(argv);
        REQUIRE(p.is_ok());
        REQUIRE_MESSAGE(eventually([&] { return fs::exists(port_file); }), p->stderr_text());
        return Sink{std::move(*p), dir / (name + ".jsonl"), std::stoi(read_file(port_file))};
    }
    // The recorded requests/messages, parsed.
    std::vector<std::string> entries() const { return lines_of(record); }
};

struct Fixture {
    TempDir root = TempDir::create("notify-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path ca = root / "ca";
    fs::path exec_out = root / "exec.jsonl";
    fs::path down = root / "down";  // while it exists, the "hooks" sink answers 503

    Fixture() {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json") << fmt::format(
            R"({{"devices": [{{"name": "r0", "tags": ["core"], "group": "east",
                "credentials": {{"user": "u", "pass": "{}"}}}}]}})",
            k_device_pass);
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]},
                 "schedule": {"interval": 1}, "retry_delay": 1, "max_attempts": 100,
                 "redact": [{"regex": "^(snmp-server community) \\S+", "replace": "$1 <removed>"}]}]})";
        std::ofstream(inventory / "hmac.key") << k_hmac_key << "\n";
        std::ofstream(inventory / "smtp.pass") << k_smtp_pass << "\n";
    }
    void write_notify(const std::string& text) const {
        std::ofstream(inventory / "notify.json") << text;
    }
    RunningServer start() const {
        auto server =
            start_netkeepd({"--data-dir", data.string(), "--inventory", inventory.string(),
                            "--listen", "127.0.0.1:0", "--insecure-no-auth"});
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    // A new config for r0 (each differs from the last), completed through a fresh lease.
    std::int64_t change(netkeep::http::Client& client, int version,
                        std::optional<std::string> failure = {}) const {
        for (int i = 0; i < 200; ++i) {
            for (const Lease& l : lease(client, "?seconds=2")) {
                std::string content = fmt::format(
                    "hostname r0\nsnmp-server community {}\ninterface Gi0/{}\n description v{}\n",
                    k_config_secret, version, version);
                // A retry of the same occurrence ends later: the same times would be taken
                // for a repeat of the last completion.
                return complete(client, l, content, failure, l.attempt);
            }
            std::this_thread::sleep_for(50ms);
        }
        FAIL("no occurrence to complete: " << client.get("/api/v1/tasks")->body);
        return 0;
    }
};

struct Parsed {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    explicit Parsed(const std::string& line) { REQUIRE(!parser.parse(line).get(root)); }
};

// The webhook bodies (as recorded by the HTTP sink) for `path`, parsed: event, seq.
std::vector<std::pair<std::string, std::int64_t>> webhook_events(const Sink& sink,
                                                                 const std::string& path) {
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const std::string& line : sink.entries()) {
        Parsed entry(line);
        if (entry.root["path"].get_string().value() != path) continue;
        Parsed body(std::string(entry.root["body"].get_string().value()));
        out.emplace_back(std::string(body.root["event"].get_string().value()),
                         body.root["seq"].get_int64().value());
    }
    return out;
}

// Every planted secret, in every file under `where` (recursively) and in `texts`. The URL
// token too unless `url_seen`: an HTTP receiver is given its own URL.
void check_no_secret(const std::vector<fs::path>& where, const std::vector<std::string>& texts,
                     bool url_seen = false) {
    for (const std::string& secret :
         {k_device_pass, k_hmac_key, k_smtp_pass, k_config_secret, k_url_token}) {
        if (url_seen && secret == k_url_token) continue;
        for (const fs::path& p : where) CHECK_MESSAGE(files_containing(p, secret).empty(), secret);
        for (const std::string& t : texts)
            CHECK_MESSAGE(t.find(secret) == std::string::npos, secret);
    }
}

}  // namespace

TEST_CASE(
    "a config change reaches a webhook, Slack, mail and exec with its diff; no secret anywhere") {
    Fixture f;
    REQUIRE(run_ok({"/bin/bash", env_path("DEV_CA"), f.ca.string()}));
    auto hooks = Sink::start(f.root.path(), "hooks", {"http"});
    auto smtp = Sink::start(
        f.root.path(), "smtp",
        {"smtp", "--cert", (f.ca / "server.crt").string(), "--key", (f.ca / "server.key").string(),
         "--user", "mailer", "--password", k_smtp_pass});
    f.write_notify(fmt::format(R"({{
      "targets": [
        {{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:{0}/hook/{1}",
          "hmac_key": {{"file": "hmac.key"}}, "max_diff_bytes": 4096}},
        {{"name": "chat", "type": "slack", "url": "http://127.0.0.1:{0}/slack/{1}"}},
        {{"name": "mail", "type": "email", "url": "smtp://localhost:{2}", "tls": "starttls",
          "ca_file": "{3}", "from": "netkeep@example.com", "to": ["ops@example.com"],
          "user": "mailer", "password": {{"file": "smtp.pass"}}}},
        {{"name": "script", "type": "exec", "program": "/bin/sh",
          "args": ["-c", "cat >> {4}"], "timeout": 5}}
      ],
      "rules": [{{"events": ["config_changed"], "targets": ["hook", "chat", "mail", "script"],
                  "tags": ["core"]}}]
    }})",
                               hooks.port, k_url_token, smtp.port, (f.ca / "ca.crt").string(),
                               f.exec_out.string()));
    auto server = f.start();
    auto client = connect(server);
    const auto first = f.change(client, 1);
    const auto second = f.change(client, 2);
    REQUIRE(
        eventually([&] { return webhook_events(hooks, "/hook/" + k_url_token).size() == 2; }, 20s));
    REQUIRE(eventually(
        [&] { return smtp.entries().size() == 2 && lines_of(f.exec_out).size() == 2; }, 20s));

    // The webhook: the second change, signed over "<timestamp>.<body>".
    std::string body, signature, timestamp;
    for (const std::string& line : hooks.entries()) {
        Parsed e(line);
        if (!std::string(e.root["path"].get_string().value()).starts_with("/hook/")) continue;
        body = std::string(e.root["body"].get_string().value());
        signature = std::string(e.root["headers"]["X-Netkeep-Signature"].get_string().value());
        timestamp = std::string(e.root["headers"]["X-Netkeep-Timestamp"].get_string().value());
    }
    CHECK(signature == "sha256=" + netkeep::hmac_sha256_hex(k_hmac_key, timestamp + "." + body));
    Parsed hook(body);
    CHECK(hook.root["event"].get_string().value() == "config_changed");
    CHECK(hook.root["seq"].get_int64().value() == second);
    CHECK(hook.root["device"].get_string().value() == "r0");
    CHECK(hook.root["job"].get_string().value() == "show_run");
    const std::string head = *git_output(f.data / "repo.git", {"rev-parse", "main"});
    CHECK(std::string(hook.root["commit"]["new"].get_string().value()) + "\n" == head);
    CHECK(hook.root["commit"]["old"].get_string().value().size() == 40);
    const std::string diff(hook.root["diff"].get_string().value());
    CHECK(diff.find("-interface Gi0/1\n") != std::string::npos);
    CHECK(diff.find("+interface Gi0/2\n") != std::string::npos);
    CHECK_FALSE(hook.root["diff_truncated"].get_bool().value());
    (void)first;

    // Slack's format; the mail went over STARTTLS with AUTH; exec got the JSON.
    bool slack_seen = false;
    for (const std::string& line : hooks.entries()) {
        Parsed e(line);
        if (!std::string(e.root["path"].get_string().value()).starts_with("/slack/")) continue;
        Parsed s(std::string(e.root["body"].get_string().value()));
        CHECK(std::string(s.root["text"].get_string().value())
                  .starts_with("r0/show_run: configuration changed"));
        slack_seen = true;
    }
    CHECK(slack_seen);
    Parsed mail(smtp.entries().back());
    CHECK(mail.root["tls"].get_bool().value());
    CHECK(mail.root["user"].get_string().value() == "mailer");
    const std::string message(mail.root["data"].get_string().value());
    CHECK(message.find("Subject: [netkeep] r0/show_run: configuration changed") !=
          std::string::npos);
    CHECK(message.find("+interface Gi0/2\r\n") != std::string::npos);
    Parsed exec(lines_of(f.exec_out).back());
    CHECK(exec.root["seq"].get_int64().value() == second);

    server.process.kill();
    check_no_secret(std::vector<fs::path>{smtp.record, f.exec_out, f.data},
                    {server.process.stderr_text(), server.process.stdout_text()});
    // The HTTP receiver sees the URL it was given, and nothing else secret.
    check_no_secret({hooks.record}, {}, true);
}

TEST_CASE("kill -9 while a target is failing, then restart: every change at least once, in order") {
    Fixture f;
    auto hooks = Sink::start(f.root.path(), "hooks", {"http", "--down-file", f.down.string()});
    f.write_notify(fmt::format(R"({{"targets": [{{"name": "hook", "type": "webhook",
        "url": "http://127.0.0.1:{}/hook"}}],
      "rules": [{{"events": ["config_changed", "backup_failed", "recovered"], "targets": ["hook"],
                  "after": 2}}]}})",
                               hooks.port));
    std::ofstream(f.down) << "down";
    std::vector<std::int64_t> expected;
    {
        auto server = f.start();
        auto client = connect(server);
        expected.push_back(f.change(client, 1));
        f.change(client, 1, "auth failed");
        expected.push_back(f.change(client, 1, "auth failed"));  // the 2nd in a row
        expected.push_back(f.change(client, 2));                 // recovered + changed
        expected.push_back(expected.back());
        REQUIRE(eventually([&] {
            return metric_value(client, "netkeep_git_applied_seq") >= double(expected.back());
        }));
        // The target keeps failing: let it retry a few times, then kill -9 mid-retry.
        std::this_thread::sleep_for(1500ms);
        CHECK(webhook_events(hooks, "/hook").empty());
        REQUIRE(server.process.send_signal(SIGKILL));
        REQUIRE(server.process.wait(10s).is_ok());
    }
    fs::remove(f.down);
    auto server = f.start();
    REQUIRE(eventually([&] { return webhook_events(hooks, "/hook").size() >= 4; }, 30s));
    auto got = webhook_events(hooks, "/hook");
    // In order, each at least once: the first occurrence of each is in log order.
    std::vector<std::pair<std::string, std::int64_t>> firsts;
    for (const auto& e : got)
        if (std::find(firsts.begin(), firsts.end(), e) == firsts.end()) firsts.push_back(e);
    REQUIRE(firsts.size() == 4);
    CHECK(firsts[0] == std::pair<std::string, std::int64_t>{"config_changed", expected[0]});
    CHECK(firsts[1] == std::pair<std::string, std::int64_t>{"backup_failed", expected[1]});
    CHECK(firsts[2] == std::pair<std::string, std::int64_t>{"recovered", expected[2]});
    CHECK(firsts[3] == std::pair<std::string, std::int64_t>{"config_changed", expected[3]});
    auto ctl_out = ctl({"--data-dir", f.data.string(), "--json", "consumers"});
    CHECK(ctl_out.code == 0);
    CHECK(ctl_out.out.find(R"("name":"notify.hook")") != std::string::npos);
}

TEST_CASE(
    "kill -9 in the middle of a delivery: it is made again after the restart, then the rest") {
    Fixture f;
    const fs::path mark = f.root / "slow-once";
    // Records the notification, then (the first time only) takes long to exit: netkeepd is
    // killed while it waits, after the receiver has the notification but before the cursor
    // could move past it.
    const std::string script =
        fmt::format("cat >> {0}; echo >> {0}; if [ ! -e {1} ]; then : > {1}; sleep 5; fi",
                    f.exec_out.string(), mark.string());
    f.write_notify(fmt::format(R"({{"targets": [{{"name": "script", "type": "exec",
        "program": "/bin/sh", "args": ["-c", {}], "timeout": 30}}],
      "rules": [{{"events": ["config_changed"], "targets": ["script"]}}]}})",
                               netkeep::json_quote(script)));
    std::vector<std::int64_t> seqs;
    {
        auto server = f.start();
        auto client = connect(server);
        for (int v = 1; v <= 3; ++v) seqs.push_back(f.change(client, v));
        REQUIRE(eventually([&] { return fs::exists(mark); }, 20s));
        REQUIRE(server.process.send_signal(SIGKILL));
        REQUIRE(server.process.wait(10s).is_ok());
    }
    REQUIRE(lines_of(f.exec_out).size() == 1);
    auto server = f.start();
    REQUIRE(eventually([&] { return lines_of(f.exec_out).size() == 4; }, 30s));
    std::vector<std::int64_t> got;
    for (const std::string& line : lines_of(f.exec_out)) {
        Parsed n(line);
        got.push_back(n.root["seq"].get_int64().value());
    }
    // The one in flight twice (the documented repeat window), then each of the others once.
    CHECK(got == std::vector<std::int64_t>{seqs[0], seqs[0], seqs[1], seqs[2]});
}

TEST_CASE("a target that is down delays only itself: ingest, git and the other target go on") {
    Fixture f;
    auto up = Sink::start(f.root.path(), "up", {"http"});
    auto hooks = Sink::start(f.root.path(), "hooks", {"http", "--down-file", f.down.string()});
    f.write_notify(fmt::format(R"({{"targets": [
        {{"name": "up", "type": "webhook", "url": "http://127.0.0.1:{}/up"}},
        {{"name": "down", "type": "webhook", "url": "http://127.0.0.1:{}/down"}},
        {{"name": "dead", "type": "webhook", "url": "http://127.0.0.1:1/nothing", "timeout": 1}}],
      "rules": [{{"events": ["config_changed"], "targets": ["up", "down", "dead"]}}]}})",
                               up.port, hooks.port));
    std::ofstream(f.down) << "down";
    auto server = f.start();
    auto client = connect(server);
    std::vector<std::int64_t> seqs;
    for (int v = 1; v <= 3; ++v) seqs.push_back(f.change(client, v));
    REQUIRE(eventually([&] { return webhook_events(up, "/up").size() == 3; }, 20s));
    CHECK(commit_count(f.data / "repo.git") == 3);
    CHECK(webhook_events(hooks, "/down").empty());
    // Failing consumers warn in /readyz but leave it ready.
    REQUIRE(eventually(
        [&] {
            auto r = client.get("/readyz");
            return r.is_ok() && r->status == 200 &&
                   r->body.find("consumer notify.down failing") != std::string::npos &&
                   r->body.find("consumer notify.dead failing") != std::string::npos;
        },
        30s));
    auto status = client.get("/api/v1/status");
    REQUIRE(status.is_ok());
    CHECK(status->body.find(R"("ready":true)") != std::string::npos);
    CHECK(status->body.find("consumer notify.down failing") != std::string::npos);
    auto metrics = client.get("/metrics");
    REQUIRE(metrics.is_ok());
    CHECK(metrics->body.find("netkeep_consumer_delivered_total{consumer=\"notify.up\"} 3") !=
          std::string::npos);
    CHECK(metrics->body.find("netkeep_consumer_lag_events{consumer=\"notify.up\"} 0") !=
          std::string::npos);
    fs::remove(f.down);
    REQUIRE(eventually([&] { return webhook_events(hooks, "/down").size() == 3; }, 30s));
    std::vector<std::int64_t> got;
    for (const auto& [event, seq] : webhook_events(hooks, "/down")) got.push_back(seq);
    CHECK(got == seqs);
}

// A webhook that accepts and never answers and a program that never exits, each with the
// longest timeout (300 s): a stop must not wait for them (systemd would kill netkeepd at
// TimeoutStopSec instead), and the program is not left running.
TEST_CASE("a stop does not wait for a hanging delivery, and leaves no exec program behind") {
    const SilentListener silent;

    Fixture f;
    const fs::path marker = f.root / "exec-started";
    f.write_notify(fmt::format(R"({{"targets": [
        {{"name": "silent", "type": "webhook", "url": "http://127.0.0.1:{}/x", "timeout": 300}},
        {{"name": "stuck", "type": "exec", "program": "/bin/sh", "timeout": 300,
          "args": ["-c", "touch {}; exec sleep 617"]}}],
      "rules": [{{"events": ["config_changed"], "targets": ["silent", "stuck"]}}]}})",
                               silent.port(), marker.string()));
    auto server = f.start();
    auto client = connect(server);
    f.change(client, 1);
    REQUIRE_MESSAGE(eventually([&] { return fs::exists(marker); }, 20s),
                    server.process.stderr_text());
    std::this_thread::sleep_for(500ms);  // the webhook's request is in flight by now
    const auto stopping = std::chrono::steady_clock::now();
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto exit = server.process.wait(20s);
    REQUIRE_MESSAGE(exit.is_ok(), server.process.stderr_text());
    CHECK(exit->code == 0);
    CHECK(std::chrono::steady_clock::now() - stopping < 10s);
    auto pgrep = Process::spawn({"/usr/bin/pgrep", "-f", "^sleep 617$"});
    REQUIRE(pgrep.is_ok());
    auto found = pgrep->wait(10s);
    REQUIRE(found.is_ok());
    CHECK_MESSAGE(found->code == 1, "left running: " << pgrep->stdout_text());
}

TEST_CASE("a bad notify.json is refused like a bad inventory: at start and on reload") {
    Fixture f;
    f.write_notify(R"({"targets": [{"name": "x", "type": "slack", "url": "ftp://no"}]})");
    auto refused = start_netkeepd({"--data-dir", f.data.string(), "--inventory",
                                   f.inventory.string(), "--listen", "127.0.0.1:0"});
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().message().find("notify.json: /targets/0/url: must start with") !=
          std::string::npos);

    f.write_notify(R"({"targets": []})");
    auto server = f.start();
    auto client = connect(server);
    f.write_notify(R"({"targets": [{"name": "x", "type": "pager"}]})");
    // netkeepctl inventory check says so before a reload is tried.
    auto check = ctl({"inventory", "check", f.inventory.string()});
    CHECK(check.code != 0);
    CHECK(check.err.find("notify.json: /targets/0/type") != std::string::npos);
    auto r = client.request("POST", "/admin/reload", "", {});
    REQUIRE(r.is_ok());
    CHECK(r->status == 422);
    CHECK(r->body.find("notify.json: /targets/0/type") != std::string::npos);
    fs::remove(f.inventory / "notify.json");
    r = client.request("POST", "/admin/reload", "", {});
    REQUIRE(r.is_ok());
    CHECK(r->status == 200);
}
