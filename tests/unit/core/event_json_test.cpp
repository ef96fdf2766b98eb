// The JSON of every event type, exactly as docs/event-log.md documents it: GET
// /api/v1/events and `netkeepctl log --json` both print netkeep::event_json.
#include <doctest/doctest.h>

#include <string>

#include "netkeep/event_json.hpp"

using namespace netkeep;

namespace {
constexpr unix_time t0 = 1'700'000'000;
}  // namespace

TEST_CASE("an InventoryApplied shows each document's size and SHA-256, never its content") {
    InventoryApplied inv{t0, R"({"devices":[{"pass":"literal-Secret-1"}]})", "{}"};
    std::string json = event_json(EventRecord{3, inv});
    CHECK(json.find("literal-Secret-1") == std::string::npos);
    CHECK(json ==
          R"({"seq":3,"type":"InventoryApplied","at":1700000000,)"
          R"("devices_json":{"size":41,)"
          R"("sha256":"aaf7b3526704f945f672cb86de6677771341c86ad69e96dc2a715f1657ac56d5"},)"
          R"("jobs_json":{"size":2,)"
          R"("sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}})");
}

TEST_CASE("a LeaseGranted: times as unix seconds, holder only when set") {
    LeaseGranted lease{t0, "r1", "show_run", t0 - 60, t0 + 300, 2, "10.0.0.7:4000", ""};
    CHECK(event_json(EventRecord{4, lease}) ==
          R"({"seq":4,"type":"LeaseGranted","at":1700000000,"device":"r1","job":"show_run",)"
          R"("timestamp":1699999940,"deadline":1700000300,"attempt":2,"worker":"10.0.0.7:4000"})");
    lease.holder = "dc1";
    CHECK(event_json(EventRecord{4, lease})
              .ends_with(R"(,"worker":"10.0.0.7:4000","holder":"dc1"})"));
}

TEST_CASE("a LeaseExpired") {
    CHECK(
        event_json(EventRecord{5, LeaseExpired{t0, "r1", "j", -5}}) ==
        R"({"seq":5,"type":"LeaseExpired","at":1700000000,"device":"r1","job":"j","timestamp":-5})");
}

TEST_CASE("a CompletionRecorded: null for no failure, the content's SHA-256 as hex") {
    CompletionRecorded c{
        t0,   "r1", "show_run", t0 - 3, t0 - 2, t0 - 1, std::nullopt, 10, std::string(32, '\xab'),
        "s1", "w"};
    std::string ab;
    for (int i = 0; i < 32; ++i) ab += "ab";
    CHECK(event_json(EventRecord{6, c}) ==
          R"({"seq":6,"type":"CompletionRecorded","at":1700000000,"device":"r1","job":"show_run",)"
          R"("job_timestamp":1699999997,"start_timestamp":1699999998,"end_timestamp":1699999999,)"
          R"("failure":null,"size":10,"sha256":")" +
              ab + R"(","spool":"s1","worker":"w"})");
    c.failure = "timeout: no prompt after \"show run\"\n";
    CHECK(event_json(EventRecord{6, c})
              .find(R"("failure":"timeout: no prompt after \"show run\"\n","size":10,)") !=
          std::string::npos);
}

TEST_CASE("an OccurrenceClosed names its reason") {
    CHECK(event_json(EventRecord{7, OccurrenceClosed{t0, "r1", "j", 1, CloseReason::failed}}) ==
          R"({"seq":7,"type":"OccurrenceClosed","at":1700000000,"device":"r1","job":"j",)"
          R"("timestamp":1,"reason":"failed"})");
}

TEST_CASE("a RunRequested") {
    CHECK(event_json(EventRecord{8, RunRequested{t0, "r1", "show_run", t0 + 9, "10.0.0.1"}}) ==
          R"({"seq":8,"type":"RunRequested","at":1700000000,"device":"r1","job":"show_run",)"
          R"("timestamp":1700000009,"requested_by":"10.0.0.1"})");
}

TEST_CASE("a RunRequested from a syslog change shows who and why; a completion too") {
    CHECK(event_json(EventRecord{8, RunRequested{t0, "r1", "show_run", t0 + 9, "syslog 10.0.0.5",
                                                 "alice, bob", "syslog"}}) ==
          R"({"seq":8,"type":"RunRequested","at":1700000000,"device":"r1","job":"show_run",)"
          R"("timestamp":1700000009,"requested_by":"syslog 10.0.0.5","changed_by":"alice, bob",)"
          R"("trigger":"syslog"})");
    CompletionRecorded c{t0, "r1", "j", 1, 2, 3, std::nullopt, 0, std::string(32, '\0'), "s", "w"};
    c.changed_by = "alice";
    c.trigger = "syslog";
    const std::string json = event_json(EventRecord{9, c});
    CHECK(json.ends_with(R"("worker":"w","changed_by":"alice","trigger":"syslog"})"));
}

TEST_CASE("strings are escaped: a device name cannot break the object") {
    CHECK(event_json(EventRecord{9, LeaseExpired{t0, "r\"1\\", "j\x01", 0}}) ==
          R"({"seq":9,"type":"LeaseExpired","at":1700000000,"device":"r\"1\\","job":"j\u0001",)"
          R"("timestamp":0})");
}
