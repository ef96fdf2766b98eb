// Parsing /worker/next answers (docs/api.md, docs/devices.md, docs/jobs.md).
#include <doctest/doctest.h>

#include "worker/lease.hpp"

using namespace netkeep::worker;

TEST_CASE("the documented example, with key and pager") {
    auto r = parse_leases(
        R"([{"device":{"name":"device1.local","host":"127.0.0.1","protocol":{"type":"ssh","ssh":{"port":2222}},"tags":["cisco"],"credentials":{"user":"netops","pass":"pw","key":"/etc/netkeep/id_ed25519","prompt":{"ends_with":"#"}}},"job":{"name":"cisco_show_run","schedule":{"cron":"0,30 * * * *"},"command":{"inline":["terminal length 0","show run"]},"prompt":{"regex":"\\S+#"},"pager":{"ends_with":" --More-- "},"timeout":300,"max_attempts":3,"retry_delay":60,"new_field":1},"timestamp":1795910377,"lease":{"expires":1795910678,"attempt":2}}])");
    REQUIRE(r.is_ok());
    REQUIRE(r->size() == 1);
    const Lease& l = r->front();
    CHECK(l.device == "device1.local");
    CHECK(l.host == "127.0.0.1");
    CHECK(l.protocol == "ssh");
    CHECK(l.port == 2222);
    CHECK(l.credentials.user == "netops");
    CHECK(l.credentials.pass == "pw");
    CHECK(l.credentials.key == "/etc/netkeep/id_ed25519");
    CHECK(l.credentials.prompt == PatternSpec{PatternSpec::Kind::ends_with, "#"});
    CHECK(l.job == "cisco_show_run");
    CHECK(l.commands == std::vector<std::string>{"terminal length 0", "show run"});
    CHECK(l.prompt == PatternSpec{PatternSpec::Kind::regex, "\\S+#"});
    CHECK(l.pager == PatternSpec{PatternSpec::Kind::ends_with, " --More-- "});
    CHECK(l.timeout == 300);
    CHECK(l.timestamp == 1795910377);
    CHECK(l.expires == 1795910678);
    CHECK(l.attempt == 2);
}

TEST_CASE("optional fields absent; telnet") {
    auto r = parse_leases(
        R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"telnet","telnet":{"port":2003}},"tags":[],"credentials":{"user":"u"}},"job":{"name":"j","command":{"inline":["show run"]},"timeout":5},"timestamp":1,"lease":{"expires":6,"attempt":1}}])");
    REQUIRE(r.is_ok());
    const Lease& l = r->front();
    CHECK(l.protocol == "telnet");
    CHECK(l.port == 2003);
    CHECK_FALSE(l.credentials.pass);
    CHECK_FALSE(l.credentials.key);
    CHECK_FALSE(l.credentials.prompt);
    CHECK_FALSE(l.prompt);
    CHECK_FALSE(l.pager);
}

TEST_CASE("malformed answers name the place") {
    CHECK(parse_leases("{").status().message().starts_with("not valid JSON"));
    CHECK(parse_leases("{}").status().message() == "/: must be an array");
    CHECK(parse_leases(R"([{"device":{}}])").status().message() ==
          "/0/device: missing field 'name'");
    CHECK(
        parse_leases(
            R"([{"device":{"name":"r","host":"r","protocol":{"type":"ssh","ssh":{"port":0}},"credentials":{"user":"u"}}}])")
            .status()
            .message() == "/0/device/protocol: port 0 out of range");
    CHECK(parse_leases("[]").value().empty());
}

TEST_CASE("pinned host keys from the inventory; none when absent") {
    const std::string key1 =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJf4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZfLL7";
    const std::string key2 =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBTmTCvKCmjF6muV8dwGcAgJhRSAAuNwzvX9gYOlecFC";
    auto answer = [](const std::string& ssh) {
        return R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"ssh","ssh":)" + ssh +
               R"(},"tags":[],"credentials":{"user":"u"}},"job":{"name":"j","command":{"inline":["x"]}},"timestamp":1,"lease":{"expires":6}}])";
    };
    auto r =
        parse_leases(answer(R"({"port":22,"host_key":[")" + key1 + R"(",")" + key2 + R"("]})"));
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    REQUIRE(r->front().host_keys.size() == 2);
    CHECK(r->front().host_keys[0].line() == key1);
    CHECK(r->front().host_keys[1].line() == key2);

    r = parse_leases(answer(R"({"port":22,"host_key":")" + key1 + R"("})"));
    REQUIRE(r.is_ok());
    CHECK(r->front().host_keys.size() == 1);

    r = parse_leases(answer(R"({"port":22})"));
    REQUIRE(r.is_ok());
    CHECK(r->front().host_keys.empty());

    // An empty list must not quietly mean "no pin"; a broken key is a broken answer.
    CHECK(parse_leases(answer(R"({"port":22,"host_key":[]})")).status().message() ==
          "/0/device/protocol/ssh/host_key: must list at least one key");
    CHECK(
        parse_leases(answer(R"({"port":22,"host_key":["ssh-ed25519 AAAA"]})")).status().message() ==
        "/0/device/protocol/ssh/host_key/0: the key data is too short to be an SSH key");
    CHECK(parse_leases(answer(R"({"port":22,"host_key":1})")).status().message() ==
          "/0/device/protocol/ssh/host_key: must be a string or an array of strings");
}

// The messages each kind of malformed field gives, pinned while the parser went from
// throwing to returning Result (issue 15): the worker logs them as poll.bad_answer.
TEST_CASE("every kind of malformed field names its place") {
    auto with = [](const std::string& creds, const std::string& job, const std::string& rest) {
        return R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"telnet"},"credentials":)" +
               creds + R"(},"job":)" + job + rest + "}]";
    };
    const std::string creds = R"({"user":"u"})";
    const std::string job = R"({"name":"j","command":{"inline":["x"]}})";
    const std::string rest = R"(,"timestamp":1,"lease":{"expires":6})";
    auto message = [](const std::string& body) { return parse_leases(body).status().message(); };

    REQUIRE(parse_leases(with(creds, job, rest)).is_ok());
    CHECK(parse_leases(with(creds, job, rest))->front().port == 23);
    CHECK(message(with(R"({"user":1})", job, rest)) ==
          "/0/device/credentials/user: must be a string");
    CHECK(message(with(R"({"user":"u","prompt":{}})", job, rest)) ==
          "/0/device/credentials/prompt: must have 'ends_with' or 'regex'");
    CHECK(message(with(R"({"user":"u","prompt":{"regex":2}})", job, rest)) ==
          "/0/device/credentials/prompt/regex: must be a string");
    CHECK(message(with(creds, R"({"name":"j","command":{"inline":"x"}})", rest)) ==
          "/0/job/command/inline: must be an array");
    CHECK(message(with(creds, R"({"name":"j","command":{"inline":[]}})", rest)) ==
          "/0/job/command/inline: no command");
    CHECK(message(with(creds, R"({"name":"j","command":{"inline":[1]}})", rest)) ==
          "/0/job/command/inline/0: must be a string");
    CHECK(message(with(creds, R"({"name":"j","command":{}})", rest)) ==
          "/0/job/command: missing field 'inline'");
    CHECK(message(with(creds, R"({"name":"j","command":{"inline":["x"]},"timeout":"1"})", rest)) ==
          "/0/job/timeout: must be an integer");
    CHECK(message(with(creds, job, R"(,"lease":{"expires":6})")) ==
          "/0: missing field 'timestamp'");
    CHECK(message(with(creds, job, R"(,"timestamp":1,"lease":{"expires":6,"attempt":"2"})")) ==
          "/0/lease/attempt: must be an integer");
    CHECK(
        message(
            R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"ssh","ssh":{"port":"22"}},"credentials":{"user":"u"}}}])") ==
        "/0/device/protocol/ssh/port: must be an integer");
    CHECK(
        message(
            R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"ssh"},"credentials":{"user":"u"}}}])") ==
        "/0: missing field 'job'");
}

TEST_CASE("issue 13: the platform object, command sets, setup, expect and the enable secret") {
    auto r = parse_leases(
        R"([{"device":{"name":"r1","host":"r1","group":"g","platform":"ios","protocol":{"type":"ssh"},"credentials":{"user":"u","pass":"p","enable":"en-secret","prompt":{"ends_with":"#"}}},"job":{"name":"j","command":{"platform":"facts"},"setup":["terminal length 0"],"expect":[{"pattern":{"ends_with":"[confirm]"},"answer":"\n"}],"timeout":5},"platform":{"name":"ios","channel":"shell","pty":{"width":200,"height":50},"strip_ansi":true,"prompt":{"regex":"[>#]$"},"pager":{"ends_with":" --More-- "},"expect":[{"pattern":{"regex":"(?i)press any key"},"answer":" "}],"enable":{"command":"enable","password_prompt":{"regex":"(?i)password: ?$"},"when_prompt":{"regex":">\\s*$"}},"setup":["terminal length 0","terminal width 0"],"commands":["show version","show inventory"],"future":1},"timestamp":1,"lease":{"expires":6}}])");
    REQUIRE(r.is_ok());
    const Lease& l = r->front();
    CHECK(l.credentials.enable == "en-secret");
    CHECK(l.commands.empty());
    CHECK(l.command_set == "facts");
    CHECK(l.setup == std::vector<std::string>{"terminal length 0"});
    REQUIRE(l.expect);
    CHECK(*l.expect ==
          std::vector<ExpectRule>{{{PatternSpec::Kind::ends_with, "[confirm]"}, "\n"}});
    REQUIRE(l.platform);
    const PlatformLease& p = *l.platform;
    CHECK(p.name == "ios");
    CHECK_FALSE(p.exec);
    CHECK(p.pty_width == 200);
    CHECK(p.pty_height == 50);
    CHECK(p.strip_ansi);
    CHECK(p.prompt == PatternSpec{PatternSpec::Kind::regex, "[>#]$"});
    CHECK(p.pager == PatternSpec{PatternSpec::Kind::ends_with, " --More-- "});
    REQUIRE(p.expect.size() == 1);
    CHECK(p.expect[0].answer == " ");
    REQUIRE(p.enable);
    CHECK(p.enable->command == "enable");
    CHECK(p.enable->when_prompt == PatternSpec{PatternSpec::Kind::regex, ">\\s*$"});
    CHECK(p.setup == std::vector<std::string>{"terminal length 0", "terminal width 0"});
    CHECK(p.commands == std::vector<std::string>{"show version", "show inventory"});
}

TEST_CASE("issue 13: absent command, [] setup/expect, exec platform with defaults; bad fields") {
    const std::string head =
        R"([{"device":{"name":"r1","host":"r1","protocol":{"type":"ssh"},"credentials":{"user":"u"}},"job":)";
    const std::string tail = R"(,"timestamp":1,"lease":{"expires":6}}])";
    auto r = parse_leases(
        head +
        R"({"name":"j","setup":[],"expect":[]},"platform":{"name":"junos","channel":"exec","commands":["show configuration | display set"]})" +
        tail);
    REQUIRE(r.is_ok());
    const Lease& l = r->front();
    CHECK(l.commands.empty());
    CHECK_FALSE(l.command_set);
    CHECK(l.setup == std::vector<std::string>{});
    CHECK(l.expect == std::vector<ExpectRule>{});
    REQUIRE(l.platform);
    CHECK(l.platform->exec);
    CHECK(l.platform->pty_width == 511);
    CHECK(l.platform->pty_height == 24);
    CHECK_FALSE(l.platform->strip_ansi);
    CHECK_FALSE(l.platform->enable);

    auto message = [&](const std::string& rest) {
        return parse_leases(head + rest + tail).status().message();
    };
    CHECK(message(R"({"name":"j"},"platform":{"name":"x","channel":"telnet"})") ==
          "/0/platform/channel: must be \"shell\" or \"exec\"");
    CHECK(message(R"({"name":"j"},"platform":{"name":"x","pty":{"width":0}})") ==
          "/0/platform/pty/width: 0 out of range");
    CHECK(message(R"({"name":"j","expect":[{"pattern":{},"answer":"a"}]})") ==
          "/0/job/expect/0/pattern: must have 'ends_with' or 'regex'");
    CHECK(message(R"({"name":"j","setup":"x"})") == "/0/job/setup: must be an array");
    CHECK(message(R"({"name":"j","command":{"platform":1}})") ==
          "/0/job/command/platform: must be a string");
    std::string many = R"({"name":"j","expect":[)";
    for (int i = 0; i < 33; ++i)
        many += std::string(i ? "," : "") + R"({"pattern":{"ends_with":"x"},"answer":"a"})";
    CHECK(message(many + "]}") == "/0/job/expect: more than 32 rules");
}
