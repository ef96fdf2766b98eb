// replay() against the real RocksDB log: the bulk path (reader thread, deferred
// indexes) must build the same state as applying the events one by one.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "netkeep/event_log.hpp"
#include "netkeep/projection.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr unix_time t0 = 1'700'000'000;

InventoryFiles inventory(int devices) {
    std::string list;
    for (int i = 0; i < devices; ++i)
        list += (i ? "," : "") + std::string(R"({"name": "d)") + std::to_string(i) +
                R"(", "profile": "p", "tags": ["t)" + std::to_string(i % 3) + R"("]})";
    return {
        R"({"credentials": {"c": {"user": "u"}}, "profiles": {"p": {"credentials": "c"}}, "devices": [)" +
            list + "]}",
        R"({"jobs": [{"name": "run", "schedule": {"interval": 600}, "command": {"inline": ["x"]}, "max_attempts": 50}]})"};
}

}  // namespace

TEST_CASE("bulk replay from the log equals applying the same events one by one") {
    TempDir dir = TempDir::create("netkeep-replay-test").value();
    auto opened =
        open_event_log((dir.path() / "log").string(), {.sync = false, .create_if_missing = true});
    REQUIRE(opened.is_ok());
    EventLog& log = **opened;

    InventoryFiles files = inventory(300);

    Projection live;
    std::uint64_t seq = 0;
    auto record = [&](std::vector<Event> events) {
        auto range = log.append(events);
        REQUIRE(range.is_ok());
        for (auto& e : events) REQUIRE(live.apply(EventRecord{++seq, std::move(e)}).is_ok());
    };
    record({InventoryApplied{t0, files.devices_json, files.jobs_json}});
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
        unix_time now = t0 + round * 700;
        std::vector<Event> events;
        for (task_id id : live.due({}, now, 300))
            events.push_back(decide_grant(live, id, now, "w"));
        record(events);
        events.clear();
        for (task_id id : live.expired_leases(now + 400, 1000))
            if (rng() % 2) {
                for (auto& e : decide_expiry(live, id, now + 400)) events.push_back(std::move(e));
            } else {
                const TaskState& t = live.task(id);
                events.push_back(OccurrenceClosed{now + 400, std::string(t.device),
                                                  std::string(t.job), t.timestamp,
                                                  CloseReason::succeeded});
            }
        if (!events.empty()) record(events);
    }
    REQUIRE(log.last_seq() > 5000);  // large enough for the bulk path

    Projection replayed;
    Status s = replay(log, log.last_seq(), replayed);
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    CHECK(replayed.last_seq() == live.last_seq());
    REQUIRE(replayed.task_count() == live.task_count());
    for (task_id id = 0; id < live.task_count(); ++id) {
        CHECK(replayed.task(id).timestamp == live.task(id).timestamp);
        CHECK(replayed.task(id).due == live.task(id).due);
        CHECK(replayed.task(id).lease == live.task(id).lease);
        CHECK(replayed.task(id).failed_attempts == live.task(id).failed_attempts);
    }
    const std::vector<std::string> tag{"t1"};
    CHECK(replayed.due({}, t0 + 100'000, 1000) == live.due({}, t0 + 100'000, 1000));
    CHECK(replayed.due(tag, t0 + 100'000, 1000) == live.due(tag, t0 + 100'000, 1000));
    CHECK(replayed.expired_leases(t0 + 100'000, 1000) == live.expired_leases(t0 + 100'000, 1000));

    // Replaying a short tail takes the per-event path and continues from last_seq.
    Projection partial;
    REQUIRE(replay(log, 1, partial).is_ok());
    CHECK(partial.last_seq() == 1);
    REQUIRE(replay(log, log.last_seq(), partial).is_ok());
    CHECK(partial.due({}, t0 + 100'000, 1000) == live.due({}, t0 + 100'000, 1000));
}
