#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "netkeep/inventory.hpp"
#include "netkeep/platform.hpp"
#include "syslog/message.hpp"
#include "syslog/trigger.hpp"

using namespace netkeep;
using namespace netkeep::syslog;

namespace {

PatternSet patterns_of(const std::string& platform) {
    const BuiltinPlatform* p = find_builtin_platform(platform);
    REQUIRE(p != nullptr);
    auto spec = parse_platform_definition(p->name, p->json);
    REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    REQUIRE_FALSE(spec->syslog.empty());
    auto set = PatternSet::compile(spec->syslog);
    REQUIRE(set.is_ok());
    return std::move(*set);
}

// The user a message names when the platform's patterns match it, else "NO MATCH".
std::string user_of(const std::string& platform, const std::string& line) {
    PatternSet set = patterns_of(platform);
    std::string user = "unset";
    if (!set.match(parse_message(line).text, user)) return "NO MATCH";
    return user;
}

}  // namespace

TEST_CASE("every platform's patterns recognise its config-change messages and name the user") {
    struct sample {
        std::string platform;
        std::string line;
        std::string user;
    };
    const sample samples[] = {
        {"ios",
         "<189>52: *Dec  5 23:01:02.123: %SYS-5-CONFIG_I: Configured from console by alice on "
         "vty0 (10.0.0.5)",
         "alice"},
        {"ios", "<189>Dec  5 23:01:02 r1 53: %SYS-5-CONFIG_I: Configured from console by console",
         "console"},
        {"ios",
         "<189>54: r1: Dec  5 23:01:02.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged "
         "command:interface Gi0/1",
         "alice"},
        {"iosxr",
         "<189>1234: RP/0/RSP0/CPU0:Dec  5 23:01:02.123 UTC: config[65740]: "
         "%MGBL-SYS-5-CONFIG_I : Configured from console by alice on vty0 (10.0.0.5)",
         "alice"},
        {"iosxr",
         "<190>RP/0/RP0/CPU0:Dec  5 23:01:02.123 UTC: config[67234]: %MGBL-CONFIG-6-DB_COMMIT : "
         "Configuration committed by user 'bob'. Use 'show configuration commit changes "
         "1000000123' to view the changes.",
         "bob"},
        {"nxos",
         "<189>: 2026 Dec  5 23:01:02 UTC: %VSHD-5-VSHD_SYSLOG_CONFIG_I: Configured from vty by "
         "alice on 10.0.0.5@pts/0",
         "alice"},
        {"asa",
         "<165>Dec 05 2026 23:01:02: %ASA-5-111008: User 'alice' executed the 'write memory' "
         "command.",
         "alice"},
        {"asa",
         "<165>Dec 05 2026 23:01:02 fw1 : %ASA-5-111010: User 'alice', running 'CLI' from IP "
         "10.0.0.5, executed 'hostname fw1'",
         "alice"},
        {"asa", "<165>Dec 05 2026 23:01:02: %ASA-5-111005: 10.0.0.5 end configuration: OK", ""},
        {"junos",
         "<189>Dec  5 23:01:02 r1-edge mgd[5432]: UI_COMMIT: User 'alice' requested 'commit' "
         "operation (comment: none)",
         "alice"},
        {"junos",
         "<189>1 2026-12-05T23:01:02.123Z r1-edge mgd 5432 UI_COMMIT [junos@2636.1.1.1.2.18 "
         "username=\"alice\" command=\"commit synchronize\" message=\"\"] User 'alice' requested "
         "'commit synchronize' operation",
         "alice"},
        {"eos",
         "<189>Dec  5 23:01:02 sw1 ConfigAgent: %SYS-5-CONFIG_I: Configured from console by alice "
         "on vty3 (10.0.0.5)",
         "alice"},
        {"eos",
         "<189>Dec  5 23:01:02 sw1 ConfigAgent: %SYS-5-CONFIG_SESSION_COMMIT_SUCCESS: User alice "
         "committed configuration session s1 successfully.",
         "alice"},
        {"fortios",
         "<189>date=2026-12-05 time=23:01:02 devname=\"fgt1\" devid=\"FG100F0000000001\" "
         "eventtime=1796511662000000000 tz=\"+0000\" logid=\"0100044547\" type=\"event\" "
         "subtype=\"system\" level=\"information\" vd=\"root\" logdesc=\"Object attribute "
         "configured\" user=\"alice\" ui=\"GUI(10.0.0.5)\" action=\"Edit\" cfgtid=126746709 "
         "cfgpath=\"firewall.policy\" cfgobj=\"8\" cfgattr=\"dstintf[port1->port2]\" "
         "msg=\"Edit firewall.policy 8\"",
         "alice"},
        {"fortios",
         "<189>date=2026-12-05 time=23:01:02 devname=\"fgt1\" logid=\"0100032102\" type=\"event\" "
         "subtype=\"system\" level=\"alert\" vd=\"root\" logdesc=\"Configuration changed\" "
         "user=\"bob\" ui=\"ssh(10.0.0.5)\" msg=\"Configuration is changed in the admin session\"",
         "bob"},
        {"routeros", "<30>Dec  5 23:01:02 system,info address changed by admin", "admin"},
        {"routeros", "<30>Dec  5 23:01:02 r1 system,info,account filter rule added by alice",
         "alice"},
    };
    for (const sample& s : samples) {
        CAPTURE(s.platform);
        CAPTURE(s.line);
        CHECK(user_of(s.platform, s.line) == s.user);
    }
}

TEST_CASE("messages that are not config changes do not match") {
    const std::pair<std::string, std::string> others[] = {
        {"ios", "<189>52: *Dec  5 23:01:02: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up"},
        {"ios", "<189>52: %SYS-5-CONFIG_E: Enter configuration mode from console by alice"},
        {"eos",
         "<189>Dec  5 23:01:02 sw1 ConfigAgent: %SYS-5-CONFIG_E: Enter configuration mode "
         "from console by alice on vty3 (10.0.0.5)"},
        {"junos", "<189>Dec  5 23:01:02 r1 mgd[5432]: UI_LOGIN_EVENT: User 'alice' login"},
        {"asa", "<165>%ASA-6-302013: Built inbound TCP connection 1 for outside:10.0.0.1/1"},
        {"fortios",
         "<189>logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" user=\"alice\""},
        {"routeros", "<30>Dec  5 23:01:02 system,info,account user admin logged in from 10.0.0.5"},
    };
    for (const auto& [platform, line] : others) {
        CAPTURE(line);
        CHECK(user_of(platform, line) == "NO MATCH");
    }
}

TEST_CASE("user names are cleaned and cut") {
    CHECK(clean_user("alice") == "alice");
    CHECK(clean_user("DOMAIN\\bob") == "DOMAIN\\bob");
    CHECK(clean_user("a b,c\n\x01\xff") == "a?b?c???");
    CHECK(clean_user(std::string(500, 'x')).size() == k_max_user);
}

TEST_CASE("addresses in canonical form") {
    CHECK(canonical_address("10.0.0.5") == "10.0.0.5");
    CHECK(canonical_address("::ffff:10.0.0.5") == "10.0.0.5");
    CHECK(canonical_address("[2001:DB8::1]") == "2001:db8::1");
    CHECK_FALSE(canonical_address("r1.example.com").has_value());
    CHECK_FALSE(canonical_address("").has_value());
}

namespace {

Inventory inventory_of(const std::string& devices) {
    InventoryFiles files{R"({"credentials": {"c": {"user": "u", "pass": {"env": "X"}}},
                            "devices": [)" +
                             devices + "]}",
                         R"({"jobs": [{"name": "config", "schedule": {"interval": 3600},
                                       "command": {"inline": ["show run"]}}]})"};
    auto inv = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    return std::move(*inv);
}

}  // namespace

TEST_CASE("the sender is found by its address, else by the message's hostname") {
    Inventory inv = inventory_of(R"(
        {"name": "r1", "host": "10.0.0.1", "credentials": "c", "platform": "ios"},
        {"name": "j1", "host": "j1.example.net", "credentials": "c", "platform": "junos"},
        {"name": "shared-a", "host": "127.0.0.1", "credentials": "c", "platform": "ios"},
        {"name": "shared-b", "host": "127.0.0.1", "credentials": "c", "platform": "ios"})");
    Matcher m = Matcher::build(inv);
    const std::string ios = "<189>1: %SYS-5-CONFIG_I: Configured from console by alice on vty0";

    auto r = m.classify("10.0.0.1", parse_message(ios));
    CHECK(r.outcome == Matcher::Outcome::change);
    CHECK(inv.devices[r.device].name == "r1");
    CHECK(r.user == "alice");
    CHECK(m.classify("::ffff:10.0.0.1", parse_message(ios)).outcome == Matcher::Outcome::change);

    // By hostname: the full name, the host, or its first label, in any case.
    const std::string junos =
        "<189>Dec  5 23:01:02 J1 mgd[1]: UI_COMMIT: User 'bob' requested 'commit' operation";
    r = m.classify("192.0.2.9", parse_message(junos));
    CHECK(r.outcome == Matcher::Outcome::change);
    CHECK(inv.devices[r.device].name == "j1");
    CHECK(r.user == "bob");

    // Devices sharing an address are told apart by hostname, only among themselves.
    const std::string shared =
        "<189>Dec  5 23:01:02 shared-b x: %SYS-5-CONFIG_I: Configured "
        "from console by carol";
    r = m.classify("127.0.0.1", parse_message(shared));
    CHECK(r.outcome == Matcher::Outcome::change);
    CHECK(inv.devices[r.device].name == "shared-b");
    CHECK(m.classify("127.0.0.1", parse_message(junos)).outcome ==
          Matcher::Outcome::unknown_sender);
    CHECK(m.classify("127.0.0.1", parse_message(ios)).outcome == Matcher::Outcome::unknown_sender);

    // Unknown: neither address nor hostname.
    CHECK(m.classify("192.0.2.9", parse_message(ios)).outcome == Matcher::Outcome::unknown_sender);
    // A device's own platform's patterns only: a JunOS line from an IOS device is no change.
    CHECK(m.classify("10.0.0.1", parse_message("<1>UI_COMMIT: User 'x' requested 'commit' "
                                               "operation"))
              .outcome == Matcher::Outcome::other);
}

TEST_CASE("a device without a platform tries every platform's patterns") {
    Inventory inv = inventory_of(R"(
        {"name": "r1", "host": "10.0.0.1", "credentials": "c", "platform": "ios"},
        {"name": "x", "host": "10.0.0.2", "credentials": "c"},
        {"name": "j", "host": "10.0.0.3", "credentials": "c", "platform": "junos"})");
    Matcher m = Matcher::build(inv);
    auto r = m.classify("10.0.0.2", parse_message("<1>UI_COMMIT: User 'x' requested 'commit' "
                                                  "operation"));
    CHECK(r.outcome == Matcher::Outcome::change);
    CHECK(r.user == "x");
}

TEST_CASE("debounce: messages within a window cause one run naming every user once") {
    Debouncer d(30'000);
    d.note("r1", "alice", "10.0.0.1", 1000);
    for (int i = 0; i < 10'000; ++i) d.note("r1", i % 2 ? "alice" : "bob", "10.0.0.1", 1000 + i);
    d.note("r2", "", "10.0.0.2", 5000);
    CHECK(d.pending() == 2);
    CHECK(d.next_due() == 31'000);
    CHECK(d.take_due(30'999).empty());
    auto due = d.take_due(31'000);
    REQUIRE(due.size() == 1);
    CHECK(due[0].device == "r1");
    CHECK(due[0].users == "alice, bob");
    CHECK(due[0].source == "10.0.0.1");
    // A message after the window opens another.
    d.note("r1", "carol", "10.0.0.1", 31'001);
    due = d.take_due(100'000);
    REQUIRE(due.size() == 2);
    CHECK(due[0].device == "r2");
    CHECK(due[0].users.empty());
    CHECK(due[1].users == "carol");
    CHECK_FALSE(d.next_due().has_value());
    // At most k_max_users names.
    for (int i = 0; i < 100; ++i) d.note("r3", "u" + std::to_string(i), "a", 0);
    due = d.take_due(30'000);
    REQUIRE(due.size() == 1);
    CHECK(due[0].users == "u0, u1, u2, u3, u4, u5, u6, u7");
}

TEST_CASE("rate limit: a burst, then the rate; senders apart; the table stays bounded") {
    RateLimiter limiter(10, 20);
    int allowed = 0;
    for (int i = 0; i < 10'000; ++i) allowed += limiter.allow("10.0.0.1", 0);
    CHECK(allowed == 20);
    CHECK(limiter.allow("10.0.0.2", 0));  // another sender has its own bucket
    allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += limiter.allow("10.0.0.1", 1000);
    CHECK(allowed == 10);  // one second at 10/s
    for (int i = 0; i < 10'000; ++i) limiter.allow("s" + std::to_string(i), 2000);
    CHECK(limiter.tracked() <= RateLimiter::k_max_senders);
    // Once they are idle again, new senders find room.
    CHECK(limiter.allow("late", 100'000));
}

TEST_CASE("rate limit: a flood of spoofed senders does not shut out a device's own address") {
    // One message a second, bursts of 2: a spoofed sender that sent once stays busy for a
    // second. The device sent a message a minute ago: its bucket is full again (idle).
    RateLimiter limiter(1, 2);
    CHECK(limiter.allow("10.0.0.1", 0, true));
    for (std::size_t i = 0; i < 2 * RateLimiter::k_max_senders; ++i)
        limiter.allow("spoof" + std::to_string(i), 60'000 + std::int64_t(i % 50));
    // A stranger finds no room while the flood lasts; the device still gets its budget,
    // also one never seen before.
    CHECK_FALSE(limiter.allow("192.0.2.99", 60'200));
    CHECK(limiter.allow("10.0.0.1", 60'200, true));
    CHECK(limiter.allow("10.0.0.2", 60'200, true));
    CHECK(limiter.tracked() <= RateLimiter::k_max_senders + 2);
    // Its own rate still applies: one left of its burst.
    int allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += limiter.allow("10.0.0.1", 60'300, true);
    CHECK(allowed == 1);
}

TEST_CASE("the matcher knows which addresses are devices'") {
    Inventory inv = inventory_of(R"(
        {"name": "r1", "host": "10.0.0.1", "credentials": "c", "platform": "ios"},
        {"name": "j1", "host": "j1.example.net", "credentials": "c", "platform": "junos"})");
    Matcher m = Matcher::build(inv);
    CHECK(m.is_device_address("10.0.0.1"));
    CHECK(m.is_device_address("::ffff:10.0.0.1"));
    CHECK_FALSE(m.is_device_address("10.0.0.2"));
    CHECK_FALSE(m.is_device_address("j1.example.net"));
    CHECK_FALSE(m.is_device_address(""));
}

TEST_CASE("the patterns see the first 8 KiB of a message's text, however long the frame") {
    PatternSet ios = patterns_of("ios");
    const std::string change = "%SYS-5-CONFIG_I: Configured from console by alice on vty0";
    std::string user;
    CHECK(ios.match(std::string(k_max_matched - change.size(), 'x') + change, user));
    CHECK(user == "alice");
    // A change line past the first 8 KiB of a 64 KiB TCP frame is not searched for.
    CHECK_FALSE(ios.match(std::string(k_max_matched - 10, 'x') + change, user));
    CHECK_FALSE(ios.match(std::string(k_max_frame - change.size(), 'x') + change, user));
}
