// netkeepctl's pure parts: times, the command line, log filters, event and table output.
#include <doctest/doctest.h>

#include <string>

#include "ctl/args.hpp"
#include "ctl/event_text.hpp"
#include "ctl/table.hpp"
#include "ctl/time.hpp"
#include "netkeep/event_json.hpp"
#include "netkeep/sha256.hpp"

using namespace netkeep;
using namespace netkeep::ctl;

namespace {

Result<Options> parse(std::initializer_list<std::string_view> args) {
    return parse_args(std::vector<std::string_view>(args));
}

}  // namespace

TEST_CASE("times are printed as ISO-8601 UTC and parsed in the forms operators write") {
    CHECK(format_time(0) == "1970-01-01T00:00:00Z");
    CHECK(format_time(1700000000) == "2023-11-14T22:13:20Z");
    CHECK(format_time(-1) == "1969-12-31T23:59:59Z");
    CHECK(*parse_time("2023-11-14T22:13:20Z") == 1700000000);
    CHECK(*parse_time("2023-11-14T22:13:20") == 1700000000);
    CHECK(*parse_time("2023-11-14 22:13:20") == 1700000000);
    CHECK(*parse_time("2023-11-14T22:13Z") == 1700000000 - 20);
    CHECK(*parse_time("2023-11-15T00:13:20+02:00") == 1700000000);
    CHECK(*parse_time("2023-11-14T17:13:20-0500") == 1700000000);
    CHECK(*parse_time("2023-11-14") == 1700000000 - (22 * 3600 + 13 * 60 + 20));
    CHECK(*parse_time("@1700000000") == 1700000000);
    CHECK(*parse_time("2024-02-29T00:00:00Z") == 1709164800);
    for (auto bad : {"", "2023", "2023-13-01", "2023-02-29", "2023-11-14T25:00",
                     "2023-11-14T22:13:20Zx", "2023-11-14X22:13", "@", "@12a", "yesterday"}) {
        auto r = parse_time(bad);
        CHECK_MESSAGE(!r.is_ok(), bad);
        if (!r) CHECK(r.status().message().find("bad time") != std::string::npos);
    }
    for (unix_time t : {0LL, 1700000000LL, 951782400LL, 4102444800LL})
        CHECK(*parse_time(format_time(t)) == t);
}

TEST_CASE("the command line: commands, options anywhere, usage errors") {
    auto o = parse({"--data-dir", "/d", "log", "--from", "5", "--to=9", "--device", "r1",
                    "--device", "r2", "--type", "LeaseGranted", "--since", "2023-11-14", "--follow",
                    "--json", "--archive"});
    REQUIRE(o.is_ok());
    CHECK(o->command == Command::log);
    CHECK(o->archive);
    CHECK(o->data_dir == "/d");
    CHECK(o->json);
    CHECK(o->follow);
    CHECK(o->filter.from == 5);
    CHECK(o->filter.to == 9);
    CHECK(o->filter.devices == std::vector<std::string>{"r1", "r2"});
    CHECK(o->filter.types == std::vector<EventType>{EventType::lease_granted});
    CHECK(o->filter.since == 1699920000);

    auto s = parse({"state", "--at", "42"});
    REQUIRE(s.is_ok());
    CHECK(s->command == Command::state);
    CHECK(s->data_dir == "var");
    CHECK(s->at.seq == 42u);
    CHECK(!s->at.time);
    auto st = parse({"state", "--at", "2023-11-14T22:13:20Z"});
    REQUIRE(st.is_ok());
    CHECK(st->at.time == 1700000000);

    auto inv = parse({"inventory", "check", "/etc/netkeep/inventory"});
    REQUIRE(inv.is_ok());
    CHECK(inv->command == Command::inventory_check);
    CHECK(inv->path == "/etc/netkeep/inventory");
    auto b = parse({"backup", "/backups/x", "--json"});
    REQUIRE(b.is_ok());
    CHECK(b->command == Command::backup);
    CHECK(b->path == "/backups/x");
    CHECK(parse({"verify"})->command == Command::verify);
    CHECK(parse({"--help"})->command == Command::help);
    CHECK(parse({"log", "-h", "--bogus"})->command == Command::help);
    CHECK(parse({"help"})->command == Command::help);
    // A command's options may come before it, as before the shared scanner; "--" ends them.
    auto before = parse({"--from", "3", "--data-dir=/d", "log"});
    REQUIRE(before.is_ok());
    CHECK(before->command == Command::log);
    CHECK(before->filter.from == 3);
    auto dashes = parse({"backup", "--json", "--", "--odd-dest"});
    REQUIRE(dashes.is_ok());
    CHECK(dashes->json);
    CHECK(dashes->path == "--odd-dest");
    auto token = parse({"token", "--auth", "t.json", "add", "--name=w1", "--role", "worker",
                        "--tag", "a", "--tag", "b"});
    REQUIRE_MESSAGE(token.is_ok(), token.status().message());
    CHECK(token->command == Command::token_add);
    CHECK(token->token_tags == std::vector<std::string>{"a", "b"});

    struct Bad {
        std::vector<std::string_view> args;
        std::string_view message;
    };
    for (const auto& bad : std::vector<Bad>{
             {{}, "no command given"},
             {{"frobnicate"}, "unknown command 'frobnicate'"},
             {{"log", "--from"}, "--from needs a value"},
             {{"log", "--from", "x"}, "'x' is not a sequence number"},
             {{"log", "--from", "5", "--to", "4"}, "--to is before --from"},
             {{"log", "--type", "Lease"}, "unknown event type 'Lease'"},
             {{"log", "--since", "soon"}, "bad time 'soon'"},
             {{"log", "--at", "3"}, "--at belongs to state"},
             {{"log", "--follow=yes"}, "--follow takes no value"},
             {{"log", "extra"}, "unexpected argument 'extra'"},
             {{"state", "--device", "r1"}, "--device belongs to log, not state"},
             {{"verify", "--name", "x"}, "--name belongs to the token commands, not verify"},
             {{"log", "--from", "1", "--from=2"}, "--from may be given only once"},
             {{"log", "--to", "--follow"}, "--to needs a value (SEQ), got the option '--follow'"},
             {{"--json", "--json", "verify"}, "--json may be given only once"},
             {{"backup", "a", "b"}, "backup: unexpected argument 'b'"},
             {{"token", "add"}, "token add: --auth FILE is required"},
             {{"token", "frob", "--auth", "f"}, "token: unknown subcommand 'frob'"},
             {{"token", "list", "x", "--auth", "f"}, "token list: unexpected argument 'x'"},
             {{"state", "--at", "noon"}, "neither a sequence number nor a time"},
             {{"backup"}, "backup: missing DEST"},
             {{"inventory"}, "inventory check DIR"},
             {{"inventory", "check"}, "missing DIR"},
             {{"verify", "--bogus"}, "unknown option '--bogus'"},
         }) {
        auto r = parse_args(bad.args);
        REQUIRE_MESSAGE(!r.is_ok(), bad.message);
        CHECK(r.status().code() == Status::Code::invalid_argument);
        CHECK_MESSAGE(r.status().message().find(bad.message) != std::string::npos,
                      r.status().message());
    }
}

TEST_CASE(
    "log filters: range, time, device, job, type; events without a device never match --device") {
    EventRecord inventory{1, InventoryApplied{100, "{}", "{}"}};
    EventRecord lease{2, LeaseGranted{200, "r1", "show_run", 150, 500, 1, "w", ""}};
    EventRecord expiry{3, LeaseExpired{600, "r2", "show_ver", 150}};
    LogFilter all;
    CHECK(matches(all, inventory));
    CHECK(matches(all, lease));

    LogFilter range;
    range.from = 2;
    range.to = 2;
    CHECK(!matches(range, inventory));
    CHECK(matches(range, lease));
    CHECK(!matches(range, expiry));

    LogFilter since;
    since.since = 200;
    CHECK(!matches(since, inventory));
    CHECK(matches(since, lease));

    LogFilter device;
    device.devices = {"r2"};
    CHECK(!matches(device, inventory));
    CHECK(!matches(device, lease));
    CHECK(matches(device, expiry));

    LogFilter job;
    job.jobs = {"show_run", "other"};
    CHECK(matches(job, lease));
    CHECK(!matches(job, expiry));

    LogFilter type;
    type.types = {EventType::lease_expired, EventType::inventory_applied};
    CHECK(matches(type, inventory));
    CHECK(!matches(type, lease));
    CHECK(matches(type, expiry));
}

TEST_CASE("an InventoryApplied prints sizes and hashes of its files, never their content") {
    const std::string devices =
        R"({"devices":[{"name":"r1","credentials":{"user":"u","pass":"hunter2"}}]})";
    EventRecord r{7, InventoryApplied{1700000000, devices, R"({"jobs":[]})"}};
    auto text = format_event_text(r);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text == "7 2023-11-14T22:13:20Z InventoryApplied devices_json_bytes=" +
                      std::to_string(devices.size()) +
                      " devices_json_sha256=" + sha256_hex(devices) +
                      " jobs_json_bytes=11 jobs_json_sha256=" + sha256_hex(R"({"jobs":[]})"));
    // --json prints event_json, whose secrets test is in tests/unit/core/event_json_test.cpp.
    CHECK(event_json(r).find("hunter2") == std::string::npos);
}

TEST_CASE("event lines: the schema's names, ISO times, key=value with quoting") {
    CompletionRecorded c;
    c.at = 1700000003;
    c.device = "r1";
    c.job = "show_run";
    c.job_timestamp = 1700000000;
    c.start_timestamp = 1700000001;
    c.end_timestamp = 1700000002;
    c.size = 12;
    c.sha256 = std::string(32, '\x01');
    c.spool = "f1";
    c.worker = "10.0.0.5:41234";
    EventRecord ok{42, c};
    CHECK(format_event_text(ok) ==
          "42 2023-11-14T22:13:23Z CompletionRecorded device=r1 job=show_run "
          "job_timestamp=2023-11-14T22:13:20Z start_timestamp=2023-11-14T22:13:21Z "
          "end_timestamp=2023-11-14T22:13:22Z size=12 sha256=" +
              std::string("0101010101010101010101010101010101010101010101010101010101010101") +
              " spool=f1 worker=10.0.0.5:41234");

    c.failure = "timeout: no prompt after \"show run\"";
    EventRecord failed{43, c};
    CHECK(format_event_text(failed).find(R"( failure="timeout: no prompt after \"show run\"" )") !=
          std::string::npos);

    LeaseGranted lease{1700000000, "r1", "show_run", 1699999940, 1700000300, 2, "10.0.0.7", ""};
    CHECK(format_event_text(EventRecord{2, lease}) ==
          "2 2023-11-14T22:13:20Z LeaseGranted device=r1 job=show_run "
          "timestamp=2023-11-14T22:12:20Z deadline=2023-11-14T22:18:20Z attempt=2 "
          "worker=10.0.0.7");
    lease.holder = "dc 1";
    CHECK(format_event_text(EventRecord{2, lease}).ends_with(R"( worker=10.0.0.7 holder="dc 1")"));
    CHECK(format_event_text(EventRecord{3, LeaseExpired{10, "r1", "", 5}}) ==
          R"(3 1970-01-01T00:00:10Z LeaseExpired device=r1 job="" timestamp=1970-01-01T00:00:05Z)");
    CHECK(format_event_text(
              EventRecord{5, OccurrenceClosed{10, "r1", "j", 5, CloseReason::failed}}) ==
          "5 1970-01-01T00:00:10Z OccurrenceClosed device=r1 job=j timestamp=1970-01-01T00:00:05Z "
          "reason=failed");
    CHECK(format_event_text(EventRecord{6, RunRequested{10, "r1", "j", 20, "10.0.0.1:5555"}}) ==
          "6 1970-01-01T00:00:10Z RunRequested device=r1 job=j timestamp=1970-01-01T00:00:20Z "
          "requested_by=10.0.0.1:5555");
    // Version 2 (issue 14): who changed the device and the trigger, when a syslog change asked.
    CHECK(format_event_text(EventRecord{
              7, RunRequested{10, "r1", "j", 20, "syslog 10.0.0.5", "alice", "syslog"}}) ==
          "7 1970-01-01T00:00:10Z RunRequested device=r1 job=j timestamp=1970-01-01T00:00:20Z "
          "requested_by=\"syslog 10.0.0.5\" changed_by=alice trigger=syslog");
}

TEST_CASE("tables pad every column but the last") {
    CHECK(format_table({{"A", "BB", "C"}, {"long", "x", "tail text"}}) ==
          "A     BB  C\nlong  x   tail text\n");
    CHECK(format_table({{"A", ""}}) == "A\n");
}

TEST_CASE("scrub-secrets takes no argument and no log or state option") {
    auto o = parse({"--data-dir", "/var/lib/netkeep", "scrub-secrets", "--json"});
    REQUIRE(o.is_ok());
    CHECK(o->command == Command::scrub_secrets);
    CHECK(o->data_dir == "/var/lib/netkeep");
    CHECK(o->json);
    for (const auto& bad :
         std::vector<std::vector<std::string_view>>{{"scrub-secrets", "/somewhere"},
                                                    {"scrub-secrets", "--at", "3"},
                                                    {"scrub-secrets", "--device", "r1"}}) {
        auto r = parse_args(bad);
        CHECK_FALSE(r.is_ok());
    }
    CHECK(k_usage.find("scrub-secrets") != std::string_view::npos);
    for (auto option :
         {"--data-dir", "--json", "--from", "--to", "--since", "--device", "--job", "--type",
          "--follow", "--archive", "--at", "--auth", "--name", "--role", "--tag", "--help"})
        CHECK_MESSAGE(k_usage.find(option) != std::string_view::npos, option);
}

TEST_CASE("quarantine list | retry SEQ") {
    auto list = parse({"quarantine", "list", "--data-dir", "/d"});
    REQUIRE(list.is_ok());
    CHECK(list->command == Command::quarantine_list);
    auto retry = parse({"--json", "quarantine", "retry", "42"});
    REQUIRE(retry.is_ok());
    CHECK(retry->command == Command::quarantine_retry);
    CHECK(retry->seq == 42u);
    for (auto bad : {std::vector<std::string_view>{"quarantine"},
                     {"quarantine", "retry"},
                     {"quarantine", "retry", "0"},
                     {"quarantine", "retry", "4x"},
                     {"quarantine", "list", "7"},
                     {"quarantine", "drop", "7"},
                     {"quarantine", "list", "--from", "3"}}) {
        auto r = parse_args(bad);
        CHECK(r.status().code() == Status::Code::invalid_argument);
    }
}

TEST_CASE("consumers") {
    auto c = parse({"--json", "consumers"});
    REQUIRE(c.is_ok());
    CHECK(c->command == Command::consumers);
    CHECK(c->json);
    CHECK(parse_args({"consumers", "x"}).status().code() == Status::Code::invalid_argument);
    CHECK(k_usage.find("  consumers ") != std::string::npos);
}

TEST_CASE("platforms [NAME]") {
    auto list = parse({"platforms"});
    REQUIRE(list.is_ok());
    CHECK(list->command == Command::platforms);
    CHECK(list->path.empty());
    auto one = parse({"--json", "platforms", "ios"});
    REQUIRE(one.is_ok());
    CHECK(one->command == Command::platforms);
    CHECK(one->path == "ios");
    CHECK(k_usage.find("platforms [NAME]") != std::string::npos);
    for (auto bad : {std::vector<std::string_view>{"platforms", "ios", "junos"},
                     {"platforms", "--from", "3"}}) {
        auto r = parse_args(bad);
        CHECK(r.status().code() == Status::Code::invalid_argument);
    }
}
