// The bodies notifications are sent as, the diff's truncation, the HMAC signature and the
// exec runner.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <chrono>
#include <string>

#include <simdjson.h>

#include "netkeep/http_client.hpp"
#include "notify/deliver.hpp"
#include "notify/exec.hpp"
#include "notify/payload.hpp"

using namespace netkeep;
using namespace netkeep::notify;

namespace {

Notification change() {
    Notification n;
    n.kind = EventKind::config_changed;
    n.seq = 42;
    n.device = "r1";
    n.job = "show_run";
    n.time = 1796514087;
    n.worker = "w\"1";
    n.old_commit = "1111111111111111111111111111111111111111";
    n.new_commit = "2222222222222222222222222222222222222222";
    n.path = "r1/show_run";
    n.diff = "@@ -1 +1 @@\n-a \"quoted\"\n+b\t\xc3\xa9\n";
    return n;
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
    simdjson::dom::element root;
    auto err = parser.parse(text).get(root);
    REQUIRE_MESSAGE(!err, text);
    return root;
}

}  // namespace

TEST_CASE("truncate_diff cuts at a line end, else at a UTF-8 boundary") {
    std::string d = "line one\nline two\nline three\n";
    CHECK_FALSE(truncate_diff(d, 100));
    CHECK(truncate_diff(d, 20));
    CHECK(d == "line one\nline two\n");
    std::string long_line = "\xc3\xa9\xc3\xa9\xc3\xa9";  // three 2-byte characters
    CHECK(truncate_diff(long_line, 3));
    CHECK(long_line == "\xc3\xa9");
    std::string empty_cut = "abc";
    CHECK(truncate_diff(empty_cut, 0));
    CHECK(empty_cut.empty());
}

TEST_CASE("the webhook JSON carries what the issue lists") {
    simdjson::dom::parser parser;
    Notification n = change();
    n.diff_truncated = true;
    auto root = parse(parser, webhook_json("ops", n));
    CHECK(root["event"].get_string().value() == "config_changed");
    CHECK(root["delivery"].get_string().value() == "ops:42:config_changed");
    CHECK(root["seq"].get_uint64().value() == 42);
    CHECK(root["device"].get_string().value() == "r1");
    CHECK(root["job"].get_string().value() == "show_run");
    CHECK(root["time"].get_string().value() == "2026-12-05T23:41:27Z");
    CHECK(root["time_unix"].get_int64().value() == 1796514087);
    CHECK(root["worker"].get_string().value() == "w\"1");
    CHECK(root["commit"]["old"].get_string().value() == n.old_commit);
    CHECK(root["commit"]["new"].get_string().value() == n.new_commit);
    CHECK(root["diff"].get_string().value() == n.diff);
    CHECK(root["diff_truncated"].get_bool().value());
    CHECK(root["error"].is_null());
    CHECK(root["changed_by"].is_null());
    CHECK(root["trigger"].is_null());

    Notification by_syslog = change();
    by_syslog.changed_by = "alice, bob";
    by_syslog.trigger = "syslog";
    auto triggered = parse(parser, webhook_json("ops", by_syslog));
    CHECK(triggered["changed_by"].get_string().value() == "alice, bob");
    CHECK(triggered["trigger"].get_string().value() == "syslog");
    CHECK(std::string(triggered["summary"].get_string().value())
              .ends_with(", configured by alice, bob"));
    CHECK(slack_json(by_syslog).find("configured by: alice, bob (syslog)") != std::string::npos);

    Notification failed;
    failed.kind = EventKind::backup_failed;
    failed.device = "r1";
    failed.job = "j";
    failed.failures = 3;
    failed.error = "auth failed";
    auto f = parse(parser, webhook_json("ops", failed));
    CHECK(f["commit"].is_null());
    CHECK(f["diff"].is_null());
    CHECK(f["failures"].get_uint64().value() == 3);
    CHECK(f["summary"].get_string().value() == "r1/j: backup failed 3 times in a row");
}

TEST_CASE("Slack, Mattermost and Teams bodies are their formats, the diff cut to fit") {
    simdjson::dom::parser parser;
    Notification n = change();
    for (int i = 0; i < 2000; ++i)
        n.diff += "+interface GigabitEthernet0/" + std::to_string(i) + "\n";
    auto slack = parse(parser, slack_json(n));
    CHECK(std::string(slack["text"].get_string().value())
              .starts_with("r1/show_run: configuration changed"));
    auto blocks = slack["blocks"].get_array().value();
    CHECK(blocks.size() == 2);
    std::string_view diff_block = blocks.at(1)["text"]["text"].get_string().value();
    CHECK(diff_block.size() <= 3000);
    CHECK(diff_block.find("(diff truncated)") != std::string_view::npos);

    auto mm = parse(parser, mattermost_json(n));
    std::string_view text = mm["text"].get_string().value();
    CHECK(text.size() <= 16383);
    CHECK(text.find("```diff\n") != std::string_view::npos);

    auto teams = parse(parser, teams_json(n));
    CHECK(teams["type"].get_string().value() == "message");
    auto attachment = teams["attachments"].at(0);
    CHECK(attachment["contentType"].get_string().value() ==
          "application/vnd.microsoft.card.adaptive");
    CHECK(attachment["content"]["type"].get_string().value() == "AdaptiveCard");
    CHECK(attachment["content"]["body"].get_array().value().size() == 3);
}

TEST_CASE("the mail is RFC 5322 text: CRLF only, lines within SMTP's limit, no injected header") {
    Target t;
    t.name = "mail";
    t.from = "nk@example.com";
    t.to = {"a@example.com", "b@example.com"};
    Notification n = change();
    n.diff += "+" + std::string(5000, 'x') + "\n";
    n.device = "r1";
    const std::string m = email_message(t, n, 1796514087);
    CHECK(m.starts_with("From: nk@example.com\r\nTo: a@example.com, b@example.com\r\n"));
    CHECK(m.find("\r\nSubject: [netkeep] r1/show_run: configuration changed") != std::string::npos);
    CHECK(m.find("Date: Sat, 05 Dec 2026 23:41:27 +0000\r\n") != std::string::npos);
    CHECK(m.find(" [cut]\r\n") != std::string::npos);
    std::size_t start = 0;
    for (std::size_t at = m.find('\n'); at != std::string::npos; at = m.find('\n', start)) {
        REQUIRE(at > 0);
        CHECK(m[at - 1] == '\r');
        CHECK(at - start <= 1000);
        start = at + 1;
    }
    CHECK(m.find("-a \"quoted\"\r\n+b\t\xc3\xa9\r\n") != std::string::npos);
}

TEST_CASE("HMAC-SHA256: RFC 4231 test case 2, and the signature headers cover the timestamp") {
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    Target t;
    t.name = "ops";
    t.hmac_key = "key";
    t.headers = {{"Authorization", "Bearer x"}};
    const std::string body = R"({"a":1})";
    auto headers = webhook_headers(t, change(), body, 1700000000);
    auto value = [&](std::string_view name) {
        for (const auto& [k, v] : headers)
            if (k == name) return v;
        return std::string();
    };
    CHECK(value("Content-Type") == "application/json");
    CHECK(value("X-Netkeep-Delivery") == "ops:42:config_changed");
    CHECK(value("Authorization") == "Bearer x");
    CHECK(value("X-Netkeep-Timestamp") == "1700000000");
    CHECK(value("X-Netkeep-Signature") ==
          "sha256=" + hmac_sha256_hex("key", std::string("1700000000.") + body));
    t.hmac_key.clear();
    auto unsigned_headers = webhook_headers(t, change(), body, 1700000000);
    for (const auto& [k, v] : unsigned_headers) CHECK(k != "X-Netkeep-Signature");
}

TEST_CASE("exec: stdin in, output bounded, a clean environment, a timeout that kills") {
    ExecRequest r;
    r.argv = {"/bin/sh", "-c", "cat; echo; env | sort"};
    r.env = {"PATH=/usr/bin:/bin", "NETKEEP_EVENT=x"};
    r.input = "hello";
    auto out = run_exec(r);
    REQUIRE(out.is_ok());
    CHECK(out->output.starts_with("hello\n"));
    CHECK(out->output.find("NETKEEP_EVENT=x") != std::string::npos);
    CHECK(out->output.find("HOME=") == std::string::npos);

    r.argv = {"/bin/sh", "-c", "head -c 100000 /dev/zero"};
    r.max_output = 1000;
    out = run_exec(r);
    REQUIRE(out.is_ok());
    CHECK(out->output.size() == 1000);
    CHECK(out->output_bytes == 100000);

    r.argv = {"/bin/sh", "-c", "exit 3"};
    CHECK(run_exec(r).status().message() == "exited with 3");
    // A program that reads nothing: the input it refuses neither blocks nor kills us.
    r.input = std::string(1 << 20, 'x');
    CHECK(run_exec(r).status().message() == "exited with 3");
    r.input = "hello";

    r.argv = {"/bin/sleep", "10"};
    r.timeout = std::chrono::milliseconds(200);
    const auto started = std::chrono::steady_clock::now();
    CHECK(run_exec(r).status().message() == "timed out after 200 ms (killed)");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));

    // A program that closes its output but goes on running is bounded too.
    r.argv = {"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 10"};
    CHECK(run_exec(r).status().message() == "timed out after 200 ms (killed)");

    // What the program started dies with it at the timeout, not only the program.
    r.argv = {"/bin/sh", "-c", "/bin/sleep 613 & wait"};
    CHECK(run_exec(r).status().message() == "timed out after 200 ms (killed)");
    r.argv = {"/usr/bin/pgrep", "-f", "^/bin/sleep 613$"};
    r.timeout = std::chrono::seconds(10);
    auto left = run_exec(r);  // pgrep exits 1 when it finds none
    CHECK_MESSAGE(left.status().message() == "exited with 1",
                  "left running: " << (left ? left->output : left.status().message()));
    r.timeout = std::chrono::milliseconds(200);

    // A stopping netkeepd cancels: the program is killed at once, not at its timeout.
    std::atomic<bool> cancel = false;
    r.argv = {"/bin/sleep", "10"};
    r.timeout = std::chrono::seconds(60);
    r.cancel = &cancel;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        cancel = true;
    });
    const auto cancelled_at = std::chrono::steady_clock::now();
    CHECK(run_exec(r).status().message() == "cancelled (killed)");
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - cancelled_at < std::chrono::seconds(3));
    r.cancel = nullptr;

    r.argv = {"/nonexistent/program"};
    CHECK(run_exec(r).status().message().starts_with("cannot start"));
    r.argv = {"relative"};
    CHECK_FALSE(run_exec(r).is_ok());
}
