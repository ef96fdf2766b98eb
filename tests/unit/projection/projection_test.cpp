#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "netkeep/projection.hpp"
#include "netkeep/schedule.hpp"

using namespace netkeep;

namespace {

constexpr unix_time t0 = 1'700'000'000;

InventoryFiles inventory(const std::string& devices, const std::string& extra_job_fields = "") {
    return InventoryFiles{
        R"({"credentials": {"c": {"user": "u", "pass": {"env": "UNSET_IN_REPLAY"}}},
            "devices": [)" +
            devices + "]}",
        R"({"jobs": [{"name": "run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
                      "timeout": 100, "retry_delay": 30, "max_attempts": 2)" +
            extra_job_fields + "}]}"};
}

const std::string k_three = R"({"name": "a", "credentials": "c", "tags": ["core"]},
                               {"name": "b", "credentials": "c", "tags": ["edge"]},
                               {"name": "c", "credentials": "c", "tags": ["core", "edge"]})";

// Replays events into a projection, numbering them from 1 as the log would.
struct replayer {
    Projection p;
    std::uint64_t seq = 0;

    void apply(const Event& e) {
        Status s = p.apply(EventRecord{++seq, e});
        REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    }
    void apply(const std::vector<Event>& events) {
        for (const auto& e : events) apply(e);
    }
    void apply_inventory(const InventoryFiles& files, unix_time at) {
        auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
        REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());
        apply(decide_inventory(p, *parsed, at));
    }
    task_id id(const std::string& device) {
        auto id = p.find(device, "run");
        REQUIRE(id.has_value());
        return *id;
    }
    std::vector<std::string> due(std::vector<std::string> tags, unix_time horizon,
                                 std::size_t max = 100) {
        std::vector<std::string> out;
        for (task_id t : p.due(tags, horizon, max)) out.emplace_back(p.task(t).device);
        return out;
    }
};

unix_time next_interval_slot(const std::string& device, unix_time after) {
    return next_slot(Schedule{IntervalSchedule{3600}}, task_key(device, "run"), after);
}

}  // namespace

TEST_CASE("a new inventory makes every task due at once, as a baseline") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    CHECK(r.p.task_count() == 3);
    CHECK(r.due({}, t0 - 1).empty());
    CHECK(r.due({}, t0) == std::vector<std::string>{"a", "b", "c"});
    CHECK(r.p.task(r.id("b")).timestamp == t0);
}

TEST_CASE("the tag filter takes a task once even when it carries several of the tags") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    CHECK(r.due({"core"}, t0) == std::vector<std::string>{"a", "c"});
    CHECK(r.due({"edge"}, t0) == std::vector<std::string>{"b", "c"});
    CHECK(r.due({"edge", "core", "edge"}, t0) == std::vector<std::string>{"a", "b", "c"});
    CHECK(r.due({"nope"}, t0).empty());
    CHECK(r.due({"core", "edge"}, t0, 2) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a granted lease hides the occurrence until it expires; expiry is a failed attempt") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id a = r.id("a");
    LeaseGranted grant = decide_grant(r.p, a, t0 + 5, "w1");
    CHECK(grant.deadline == t0 + 5 + 100);  // max(timestamp, now) + timeout
    CHECK(grant.attempt == 1);
    r.apply(grant);
    CHECK(r.due({}, t0 + 10) == std::vector<std::string>{"b", "c"});
    CHECK(r.p.next_deadline() == t0 + 105);
    CHECK(r.p.expired_leases(t0 + 104, 10).empty());
    REQUIRE(r.p.expired_leases(t0 + 105, 10) == std::vector<task_id>{a});

    auto expiry = decide_expiry(r.p, a, t0 + 105);
    REQUIRE(expiry.size() == 1);  // attempt 1 of 2: retry
    r.apply(expiry);
    const TaskState& t = r.p.task(a);
    CHECK_FALSE(t.lease.has_value());
    CHECK(t.failed_attempts == 1);
    CHECK(t.due == t0 + 105 + 30);
    CHECK(t.timestamp == t0);  // same occurrence
    REQUIRE(t.last_failure.has_value());
    CHECK(t.last_failure->failure == "lease expired");
    CHECK(r.due({}, t0 + 134) == std::vector<std::string>{"b", "c"});
    CHECK(r.due({}, t0 + 135) == std::vector<std::string>{"b", "c", "a"});
}

TEST_CASE("when attempts run out the occurrence closes as failed and the next slot opens") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id a = r.id("a");
    r.apply(decide_grant(r.p, a, t0, "w1"));
    r.apply(decide_expiry(r.p, a, t0 + 100));
    r.apply(decide_grant(r.p, a, t0 + 130, "w2"));
    CHECK(r.p.task(a).lease->attempt == 2);
    auto expiry = decide_expiry(r.p, a, t0 + 230);
    REQUIRE(expiry.size() == 2);
    CHECK(std::get<OccurrenceClosed>(expiry[1]).reason == CloseReason::failed);
    r.apply(expiry);
    const TaskState& t = r.p.task(a);
    CHECK(t.failed_attempts == 0);
    CHECK(t.timestamp == next_interval_slot("a", t0 + 230));
    CHECK(t.timestamp > t0 + 230);
    CHECK(t.due == t.timestamp);
}

TEST_CASE("a successful completion closes the occurrence; a failed one retries") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    CompletionRecorded failed{t0 + 20, "b", "run", t0,  t0 + 1, t0 + 19, std::string("auth failed"),
                              0,       {},  {},    "w1"};
    r.apply(failed);
    CHECK(r.p.task(b).failed_attempts == 1);
    CHECK(r.p.task(b).last_failure->failure == "auth failed");
    CHECK(r.p.task(b).due == t0 + 50);

    r.apply(decide_grant(r.p, b, t0 + 50, "w1"));
    CompletionRecorded ok{t0 + 60,      "b", "run", t0, t0 + 51, t0 + 59,
                          std::nullopt, 10,  {},    {}, "w1"};
    r.apply(ok);
    r.apply(OccurrenceClosed{t0 + 60, "b", "run", t0, CloseReason::succeeded});
    const TaskState& t = r.p.task(b);
    REQUIRE(t.last_success.has_value());
    CHECK(t.last_success->seq == r.seq - 1);
    CHECK(t.timestamp == next_interval_slot("b", t0 + 60));
    CHECK_FALSE(t.lease.has_value());
}

TEST_CASE(
    "missed slots coalesce: a late close opens the first slot after now, not each missed one") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    r.apply(decide_grant(r.p, r.id("c"), t0 + 10 * 3600, "w1"));  // handed out 10 hours late
    r.apply(OccurrenceClosed{t0 + 10 * 3600 + 5, "c", "run", t0, CloseReason::succeeded});
    CHECK(r.p.task(r.id("c")).timestamp == next_interval_slot("c", t0 + 10 * 3600 + 5));
}

TEST_CASE("events about occurrences that are no longer open change nothing") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    r.apply(LeaseGranted{t0, "a", "run", t0 - 1, t0 + 100, 1, "w", ""});  // wrong timestamp
    r.apply(LeaseGranted{t0, "zz", "run", t0, t0 + 100, 1, "w", ""});     // unknown device
    r.apply(LeaseExpired{t0, "b", "run", t0});                            // not leased
    CHECK(r.due({}, t0) == std::vector<std::string>{"a", "b", "c"});
    CHECK(r.p.task(r.id("b")).failed_attempts == 0);
}

TEST_CASE("a reload keeps surviving tasks, closes removed ones and schedules new ones at once") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    r.apply(decide_grant(r.p, r.id("a"), t0, "w1"));

    auto same = parse_inventory(inventory(k_three), {.resolve_secrets = false, .secrets_dir = {}});
    CHECK(decide_inventory(r.p, *same, t0 + 50).empty());

    InventoryFiles next = inventory(R"({"name": "a", "credentials": "c", "tags": ["core"]},
                                       {"name": "d", "credentials": "c", "tags": ["edge"]})");
    auto parsed = parse_inventory(next, {.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE(parsed.is_ok());
    auto events = decide_inventory(r.p, *parsed, t0 + 50);
    REQUIRE(events.size() == 3);
    CHECK(std::get<OccurrenceClosed>(events[0]).device == "b");
    CHECK(std::get<OccurrenceClosed>(events[0]).reason == CloseReason::removed);
    CHECK(std::get<OccurrenceClosed>(events[1]).device == "c");
    CHECK(std::holds_alternative<InventoryApplied>(events[2]));
    r.apply(events);

    CHECK(r.p.task_count() == 2);
    CHECK_FALSE(r.p.find("b", "run").has_value());
    CHECK(r.p.task(r.id("a")).lease.has_value());  // still leased to w1
    CHECK(r.p.task(r.id("d")).timestamp == t0 + 50);
    CHECK(r.due({}, t0 + 50) == std::vector<std::string>{"d"});
    CHECK(r.p.has_device("d"));
    CHECK_FALSE(r.p.has_device("b"));
}

// The state of every task, by name: ids may differ between two ways of getting there.
std::vector<std::string> describe(const Projection& p) {
    std::vector<std::string> out;
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        out.push_back(std::string(t.device) + "/" + std::string(t.job) +
                      " ts=" + std::to_string(t.timestamp) + " due=" + std::to_string(t.due) +
                      " leased=" + (t.lease ? t.lease->worker : "-") + " failed=" +
                      std::to_string(t.failed_attempts) + " closed=" + (t.closed ? "y" : "n") +
                      " tags=" + std::to_string(p.inventory().devices[t.device_index].tags.size()));
    }
    return out;
}

TEST_CASE(
    "a reload prepared on another thread decides and applies exactly as one parsed in place") {
    // Both projections: a, b, c with a leased and b failed once; then b and c leave, d comes.
    auto build = [] {
        replayer r;
        r.apply_inventory(inventory(k_three), t0);
        r.apply(decide_grant(r.p, r.id("a"), t0, "w1"));
        r.apply(LeaseGranted{t0, "b", "run", t0, t0 + 100, 1, "w2", ""});
        r.apply(LeaseExpired{t0 + 100, "b", "run", t0});
        return r;
    };
    InventoryFiles next = inventory(R"({"name": "d", "credentials": "c", "tags": ["edge", "new"]},
                                       {"name": "a", "credentials": "c", "tags": ["core"]})");
    auto parsed = parse_inventory(next, {.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE(parsed.is_ok());

    replayer plain = build();
    auto plain_events = decide_inventory(plain.p, *parsed, t0 + 50);
    plain.apply(plain_events);

    replayer fast = build();
    PreparedInventory prepared = prepare_inventory(fast.p.inventory_index(), *parsed);
    CHECK(prepared.previous == std::vector<task_id>{InventoryIndex::k_no_task, fast.id("a")});
    CHECK(prepared.dropped == std::vector<task_id>{fast.id("b"), fast.id("c")});
    auto fast_events = decide_inventory(fast.p, prepared, t0 + 50);
    CHECK(fast_events == plain_events);
    for (Event& e : fast_events) {
        EventRecord record{++fast.seq, std::move(e)};
        REQUIRE(fast.p.apply(record, prepared).is_ok());
    }
    CHECK(describe(fast.p) == describe(plain.p));
    CHECK(fast.due({"new"}, t0 + 50) == std::vector<std::string>{"d"});
    CHECK(fast.p.task(fast.id("a")).lease.has_value());
    // The replaced inventory is left to the caller, and nothing else holds it.
    REQUIRE(prepared.current != nullptr);
    CHECK(prepared.current.use_count() == 1);
    CHECK(prepared.current->inventory().devices.size() == 3);

    // Prepared against an inventory that is no longer in force: prepared again, same result.
    replayer stale = build();
    PreparedInventory old = prepare_inventory(stale.p.inventory_index(), *parsed);
    stale.apply_inventory(inventory(k_three + R"(, {"name": "e", "credentials": "c", "tags": []})"),
                          t0 + 10);
    auto stale_events = decide_inventory(stale.p, old, t0 + 50);
    REQUIRE(stale_events.size() == 4);  // b, c and e close
    for (Event& e : stale_events) {
        EventRecord record{++stale.seq, std::move(e)};
        REQUIRE(stale.p.apply(record, old).is_ok());
    }
    CHECK(describe(stale.p) == describe(plain.p));
}

TEST_CASE("replaying the same events gives the same state") {
    replayer live;
    live.apply_inventory(inventory(k_three), t0);
    std::vector<Event> events;
    events.push_back(
        InventoryApplied{t0, inventory(k_three).devices_json, inventory(k_three).jobs_json});
    auto record = [&](Event e) {
        events.push_back(e);
        live.apply(e);
    };
    record(decide_grant(live.p, live.id("a"), t0, "w1"));
    record(decide_grant(live.p, live.id("b"), t0, "w2"));
    for (auto& e : decide_expiry(live.p, live.id("a"), t0 + 100)) record(e);
    record(OccurrenceClosed{t0 + 120, "b", "run", t0, CloseReason::succeeded});

    replayer again;
    again.apply(events);
    REQUIRE(again.p.task_count() == live.p.task_count());
    for (task_id id = 0; id < live.p.task_count(); ++id) {
        const TaskState& x = live.p.task(id);
        const TaskState& y = again.p.task(id);
        CHECK(x.device == y.device);
        CHECK(x.timestamp == y.timestamp);
        CHECK(x.due == y.due);
        CHECK(x.failed_attempts == y.failed_attempts);
        CHECK(x.lease == y.lease);
    }
    CHECK(again.due({}, t0 + 10'000) == live.due({}, t0 + 10'000));
}

TEST_CASE("a reserved task is neither handed out nor expired until released") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id a = r.id("a");
    auto token = r.p.reserve(a);
    CHECK(token != 0);
    CHECK(r.p.reserve(a) == 0);  // already reserved
    CHECK(r.due({}, t0) == std::vector<std::string>{"b", "c"});
    r.apply(decide_grant(r.p, a, t0, "w1"));
    CHECK_FALSE(r.p.next_deadline().has_value());  // still reserved
    r.p.release(a, token + 1);                     // not the holder: no effect
    CHECK_FALSE(r.p.next_deadline().has_value());
    r.p.release(a, token);
    CHECK(r.p.next_deadline() == t0 + 100);
    token = r.p.reserve(a);
    CHECK(r.p.expired_leases(t0 + 1000, 10).empty());
    r.p.release(a, token);
    CHECK(r.p.expired_leases(t0 + 1000, 10) == std::vector<task_id>{a});
}

TEST_CASE("an InventoryApplied that does not load stops replay with its sequence number") {
    Projection p;
    Status s = p.apply(EventRecord{7, InventoryApplied{t0, "{", "{}"}});
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message().starts_with("seq 7: applied inventory does not load"));
    CHECK(p.last_seq() == 0);
}

TEST_CASE("deferred indexing rebuilds the same indexes as per-event maintenance") {
    replayer live;
    live.apply_inventory(inventory(k_three), t0);
    std::vector<Event> events{
        InventoryApplied{t0, inventory(k_three).devices_json, inventory(k_three).jobs_json}};
    auto record = [&](Event e) {
        events.push_back(e);
        live.apply(e);
    };
    record(decide_grant(live.p, live.id("a"), t0, "w1"));
    record(decide_grant(live.p, live.id("c"), t0, "w1"));
    for (auto& e : decide_expiry(live.p, live.id("a"), t0 + 100)) record(e);

    replayer bulk;
    bulk.p.defer_indexing();
    bulk.apply(events);
    bulk.p.resume_indexing();
    CHECK(bulk.due({}, t0 + 10'000) == live.due({}, t0 + 10'000));
    CHECK(bulk.due({"edge"}, t0 + 10'000) == live.due({"edge"}, t0 + 10'000));
    CHECK(bulk.p.next_deadline() == live.p.next_deadline());
    CHECK(bulk.p.expired_leases(t0 + 10'000, 10) == live.p.expired_leases(t0 + 10'000, 10));
}

namespace {
CompletionRecorded completion(const std::string& device, unix_time job_timestamp, unix_time at,
                              std::optional<std::string> failure = std::nullopt) {
    return CompletionRecorded{at,
                              device,
                              "run",
                              job_timestamp,
                              at - 10,
                              at - 1,
                              std::move(failure),
                              4,
                              std::string(32, 'h'),
                              "spool-" + device,
                              "w1"};
}
}  // namespace

TEST_CASE("a completion is accepted only for an open occurrence that was handed out") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    using Kind = CompletionDecision::Kind;

    CHECK(decide_completion(r.p, completion("zz", t0, t0 + 5)).kind == Kind::unknown_device);
    auto wrong_job = completion("a", t0, t0 + 5);
    wrong_job.job = "nope";
    CHECK(decide_completion(r.p, wrong_job).kind == Kind::unknown_job);
    CHECK(decide_completion(r.p, completion("a", t0, t0 + 5)).kind == Kind::never_leased);

    r.apply(decide_grant(r.p, r.id("a"), t0, "w1"));
    CHECK(decide_completion(r.p, completion("a", t0 - 60, t0 + 5)).kind == Kind::not_open);

    auto accepted = decide_completion(r.p, completion("a", t0, t0 + 5));
    REQUIRE(accepted.kind == Kind::accept);
    REQUIRE(accepted.events.size() == 2);
    CHECK(std::get<OccurrenceClosed>(accepted.events[1]).reason == CloseReason::succeeded);
    r.apply(accepted.events);
    const std::uint64_t recorded = r.seq - 1;

    // The same completion again (the worker lost our answer): same seq, nothing to append.
    auto again = decide_completion(r.p, completion("a", t0, t0 + 5));
    CHECK(again.kind == Kind::repeat);
    CHECK(again.seq == recorded);
    CHECK(again.events.empty());
    // A different completion for the closed occurrence is a conflict.
    CHECK(decide_completion(r.p, completion("a", t0, t0 + 6)).kind == Kind::not_open);
}

TEST_CASE(
    "a completion with a failure is a failed attempt, closing the occurrence on the last one") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);  // max_attempts 2, retry_delay 30
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    auto first = decide_completion(r.p, completion("b", t0, t0 + 5, "timeout"));
    REQUIRE(first.kind == CompletionDecision::Kind::accept);
    CHECK(first.events.size() == 1);  // attempt 1 of 2: retry later
    r.apply(first.events);
    CHECK(r.p.task(b).failed_attempts == 1);
    CHECK(r.p.task(b).due == t0 + 5 + 30);

    // Expired-but-not-closed still accepts a (late) completion of the same occurrence.
    r.apply(decide_grant(r.p, b, t0 + 40, "w2"));
    r.apply(decide_expiry(r.p, b, t0 + 400));  // attempt 2 expired: closes as failed
    CHECK(r.p.task(b).timestamp != t0);

    replayer s;
    s.apply_inventory(inventory(k_three), t0);
    task_id c = s.id("c");
    s.apply(decide_grant(s.p, c, t0, "w1"));
    s.apply(decide_completion(s.p, completion("c", t0, t0 + 5, "auth failed")).events);
    s.apply(decide_grant(s.p, c, t0 + 40, "w1"));
    auto last = decide_completion(s.p, completion("c", t0, t0 + 45, "auth failed"));
    REQUIRE(last.events.size() == 2);
    CHECK(std::get<OccurrenceClosed>(last.events[1]).reason == CloseReason::failed);
}

TEST_CASE("a completion for a reserved task is refused as busy") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id a = r.id("a");
    r.apply(decide_grant(r.p, a, t0, "w1"));
    auto token = r.p.reserve(a);
    CHECK(decide_completion(r.p, completion("a", t0, t0 + 5)).kind ==
          CompletionDecision::Kind::busy);
    r.p.release(a, token);
    CHECK(decide_completion(r.p, completion("a", t0, t0 + 5)).kind ==
          CompletionDecision::Kind::accept);
}

TEST_CASE("an expired lease still accepts the completion of its occurrence until it closes") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id a = r.id("a");
    r.apply(decide_grant(r.p, a, t0, "w1"));
    r.apply(decide_expiry(r.p, a, t0 + 100));  // attempt 1 of 2: occurrence stays open
    CHECK(decide_completion(r.p, completion("a", t0, t0 + 110)).kind ==
          CompletionDecision::Kind::accept);
}

// ---- run now (RunRequested) ----

namespace {
// The task of device `d` after its baseline succeeded at `at`: its next occurrence is an
// interval slot in the future, never handed out.
void close_baseline(replayer& r, const std::string& d, unix_time at) {
    r.apply(decide_grant(r.p, r.id(d), at, "w1"));
    r.apply(CompletionRecorded{at, d, "run", t0, at, at, std::nullopt, 1, {}, {}, "w1"});
    r.apply(OccurrenceClosed{at, d, "run", t0, CloseReason::succeeded});
}
}  // namespace

TEST_CASE("run now replaces a future occurrence never handed out by one timestamped now") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    const unix_time future = r.p.task(r.id("a")).timestamp;
    REQUIRE(future > t0 + 10);
    CHECK(r.due({}, t0 + 10) == std::vector<std::string>{"b", "c"});

    RunDecision d = decide_run(r.p, "a", "run", t0 + 10, "10.0.0.1:1");
    REQUIRE(d.kind == RunDecision::Kind::accept);
    CHECK(d.event == RunRequested{t0 + 10, "a", "run", future, "10.0.0.1:1"});
    r.apply(d.event);
    const TaskState& t = r.p.task(r.id("a"));
    CHECK(t.timestamp == t0 + 10);
    CHECK(t.due == t0 + 10);
    CHECK(r.due({}, t0 + 10) == std::vector<std::string>{"b", "c", "a"});

    // Leased and completed like any occurrence; the next one follows the schedule.
    r.apply(decide_grant(r.p, r.id("a"), t0 + 11, "w1"));
    CHECK(r.p.task(r.id("a")).lease->attempt == 1);
    r.apply(OccurrenceClosed{t0 + 12, "a", "run", t0 + 10, CloseReason::succeeded});
    CHECK(r.p.task(r.id("a")).timestamp == next_interval_slot("a", t0 + 12));
}

TEST_CASE("run now skips a retry delay but keeps the occurrence and its attempts") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_expiry(r.p, b, t0 + 100));
    REQUIRE(r.p.task(b).due == t0 + 130);
    r.apply(decide_run(r.p, "b", "run", t0 + 101, "op").event);
    CHECK(r.p.task(b).due == t0 + 101);
    CHECK(r.p.task(b).timestamp == t0);  // handed out before: a late completion must still match
    CHECK(r.p.task(b).failed_attempts == 1);
    CHECK(decide_grant(r.p, b, t0 + 101, "w2").attempt == 2);
    CHECK(r.due({}, t0 + 101) == std::vector<std::string>{"a", "c", "b"});
}

TEST_CASE(
    "run now of an occurrence already due is not recorded; one in an older log changes nothing") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    RunDecision d = decide_run(r.p, "c", "run", t0 + 50, "op");
    CHECK(d.kind == RunDecision::Kind::already_due);
    CHECK(d.message.find("already due") != std::string::npos);
    // Logs written before already_due existed hold such events: applying one is harmless.
    r.apply(RunRequested{t0 + 50, "c", "run", t0, "op"});
    CHECK(r.p.task(r.id("c")).timestamp == t0);
    CHECK(r.p.task(r.id("c")).due == t0);
    CHECK(r.p.last_seq() == r.seq);
}

TEST_CASE("run now asked twice: the second changes nothing and is not recorded (issue 11)") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    RunDecision first = decide_run(r.p, "a", "run", t0 + 10, "op");
    REQUIRE(first.kind == RunDecision::Kind::accept);
    r.apply(first.event);
    for (unix_time now : {t0 + 10, t0 + 11, t0 + 500})
        CHECK(decide_run(r.p, "a", "run", now, "op").kind == RunDecision::Kind::already_due);
    // A retry delay still ahead is worth skipping; once it has passed it is not.
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_expiry(r.p, b, t0 + 100));
    CHECK(decide_run(r.p, "b", "run", t0 + 101, "op").kind == RunDecision::Kind::accept);
    CHECK(decide_run(r.p, "b", "run", t0 + 130, "op").kind == RunDecision::Kind::already_due);
}

TEST_CASE("run now is refused for unknown names, a leased occurrence and a reserved task") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    using Kind = RunDecision::Kind;
    CHECK(decide_run(r.p, "zz", "run", t0, "op").kind == Kind::unknown_device);
    CHECK(decide_run(r.p, "a", "zz", t0, "op").kind == Kind::unknown_job);
    r.apply(decide_grant(r.p, r.id("a"), t0, "w1"));
    RunDecision leased = decide_run(r.p, "a", "run", t0, "op");
    CHECK(leased.kind == Kind::leased);
    CHECK(leased.message.find("'w1'") != std::string::npos);
    std::uint64_t token = r.p.reserve(r.id("b"));
    CHECK(decide_run(r.p, "b", "run", t0, "op").kind == Kind::busy);
    r.p.release(r.id("b"), token);
    CHECK(decide_run(r.p, "b", "run", t0, "op").kind == Kind::already_due);  // its baseline is due
}

TEST_CASE(
    "a RunRequested that no longer matches the open occurrence, or meets a lease, changes "
    "nothing") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    const TaskState before = r.p.task(r.id("a"));
    r.apply(RunRequested{t0 + 5, "a", "run", t0, "op"});  // the closed baseline
    CHECK(r.p.task(r.id("a")).timestamp == before.timestamp);
    r.apply(RunRequested{t0 + 5, "nope", "run", t0, "op"});
    r.apply(decide_grant(r.p, r.id("b"), t0, "w1"));
    r.apply(RunRequested{t0 + 5, "b", "run", t0, "op"});  // leased meanwhile
    CHECK(r.p.task(r.id("b")).lease.has_value());
    CHECK(r.p.task(r.id("b")).due == t0);
}

namespace {

InventoryFiles literal_inventory(const std::string& password) {
    return InventoryFiles{R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": ")" +
                              password + R"("}}]})",
                          inventory(k_three).jobs_json};
}

std::vector<Event> decide(const Projection& p, const InventoryFiles& files, unix_time at) {
    auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());
    return decide_inventory(p, *parsed, at);
}

}  // namespace

TEST_CASE("InventoryApplied records a literal password as its marker, never as written") {
    replayer r;
    auto events = decide(r.p, literal_inventory("s3cret-1"), t0);
    REQUIRE(events.size() == 1);
    const auto& applied = std::get<InventoryApplied>(events[0]);
    CHECK(applied.devices_json.find("s3cret-1") == std::string::npos);
    CHECK(applied.devices_json.find(redaction_marker("s3cret-1")) != std::string::npos);
    CHECK(applied.jobs_json == literal_inventory("s3cret-1").jobs_json);
    r.apply(events);
    CHECK(r.p.task_count() == 1);
    CHECK(r.p.applied_files().devices_json == applied.devices_json);
}

TEST_CASE("a changed literal password appends an InventoryApplied; the same one appends nothing") {
    replayer r;
    r.apply(decide(r.p, literal_inventory("s3cret-1"), t0));
    CHECK(decide(r.p, literal_inventory("s3cret-1"), t0 + 10).empty());
    auto changed = decide(r.p, literal_inventory("s3cret-2"), t0 + 20);
    REQUIRE(changed.size() == 1);  // nothing removed: just the new inventory
    CHECK(std::get<InventoryApplied>(changed[0]).devices_json.find(redaction_marker("s3cret-2")) !=
          std::string::npos);
    r.apply(changed);
    CHECK(r.p.task(r.id("a")).timestamp == t0);  // the task itself goes on as it was
}

TEST_CASE(
    "a log written with literal secrets keeps replaying, and an unchanged inventory appends "
    "nothing") {
    // What an older netkeepd appended: the files as written.
    replayer old_log;
    InventoryFiles files = literal_inventory("s3cret-1");
    old_log.apply(InventoryApplied{t0, files.devices_json, files.jobs_json});
    CHECK(old_log.p.task_count() == 1);
    CHECK(old_log.p.applied_files().devices_json.find("s3cret-1") == std::string::npos);
    CHECK(decide(old_log.p, files, t0 + 10).empty());
    CHECK(decide(old_log.p, literal_inventory("s3cret-2"), t0 + 10).size() == 1);
}

// ---- run now from a syslog config change (issue 14): who changed the device ----

TEST_CASE("a syslog run-now keeps who changed the device on the occurrence, for its completion") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    RunDecision d = decide_run(r.p, "a", "run", t0 + 10, "syslog 10.0.0.5", "alice", "syslog");
    REQUIRE(d.kind == RunDecision::Kind::accept);
    CHECK(d.event.changed_by == "alice");
    CHECK(d.event.trigger == "syslog");
    r.apply(d.event);
    CHECK(r.p.task(r.id("a")).changed_by == "alice");
    CHECK(r.p.task(r.id("a")).trigger == "syslog");
    // The same user again changes nothing and is not recorded; another user is.
    CHECK(decide_run(r.p, "a", "run", t0 + 11, "syslog", "alice", "syslog").kind ==
          RunDecision::Kind::already_due);
    RunDecision bob = decide_run(r.p, "a", "run", t0 + 11, "syslog", "bob", "syslog");
    REQUIRE(bob.kind == RunDecision::Kind::accept);
    r.apply(bob.event);
    CHECK(r.p.task(r.id("a")).changed_by == "alice, bob");
    CHECK(r.p.task(r.id("a")).timestamp == t0 + 10);  // still the occurrence asked for first

    // The completion that answers the occurrence carries both; the next occurrence has none.
    r.apply(decide_grant(r.p, r.id("a"), t0 + 12, "w1"));
    CompletionDecision c = decide_completion(
        r.p, CompletionRecorded{t0 + 13, "a", "run", t0 + 10, t0 + 12, t0 + 13, std::nullopt, 1,
                                std::string(32, 'x'), "s1", "w1"});
    REQUIRE(c.kind == CompletionDecision::Kind::accept);
    const auto& recorded = std::get<CompletionRecorded>(c.events.at(0));
    CHECK(recorded.changed_by == "alice, bob");
    CHECK(recorded.trigger == "syslog");
    r.apply(c.events);
    CHECK(r.p.task(r.id("a")).changed_by.empty());
    CHECK(r.p.task(r.id("a")).trigger.empty());
    CHECK(r.p.task(r.id("a")).timestamp == next_interval_slot("a", t0 + 13));
}

TEST_CASE("an operator's run-now carries no changed_by to its completion") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    r.apply(decide_run(r.p, "a", "run", t0 + 10, "op").event);
    r.apply(decide_grant(r.p, r.id("a"), t0 + 11, "w1"));
    CompletionDecision c = decide_completion(
        r.p, CompletionRecorded{t0 + 12, "a", "run", t0 + 10, t0 + 11, t0 + 12, std::nullopt, 1,
                                std::string(32, 'x'), "s1", "w1"});
    REQUIRE(c.kind == CompletionDecision::Kind::accept);
    CHECK(std::get<CompletionRecorded>(c.events.at(0)).changed_by.empty());
    CHECK(std::get<CompletionRecorded>(c.events.at(0)).trigger.empty());
}

TEST_CASE("a change during a backup queues one follow-up run when that lease's occurrence closes") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    close_baseline(r, "a", t0 + 1);
    const unix_time slot = r.p.task(r.id("a")).timestamp;
    r.apply(decide_run(r.p, "a", "run", t0 + 10, "op").event);
    r.apply(decide_grant(r.p, r.id("a"), t0 + 11, "w1"));
    // An operator still gets 409; a syslog change is recorded as a follow-up.
    CHECK(decide_run(r.p, "a", "run", t0 + 12, "op").kind == RunDecision::Kind::leased);
    RunDecision d = decide_run(r.p, "a", "run", t0 + 12, "syslog", "alice", "syslog");
    REQUIRE(d.kind == RunDecision::Kind::accept);
    r.apply(d.event);
    CHECK(r.p.task(r.id("a")).lease.has_value());  // the running backup is left alone
    CHECK(r.p.task(r.id("a")).follow_up);
    CHECK(r.p.task(r.id("a")).changed_by.empty());  // not this occurrence's change
    CHECK(decide_run(r.p, "a", "run", t0 + 13, "syslog", "alice", "syslog").kind ==
          RunDecision::Kind::already_due);
    r.apply(decide_run(r.p, "a", "run", t0 + 13, "syslog", "bob", "syslog").event);

    // The running backup succeeds: the next occurrence is due at once, not at the slot.
    r.apply(CompletionRecorded{t0 + 20, "a", "run", t0 + 10, t0 + 11, t0 + 20, std::nullopt, 1,
                               std::string(32, 'x'), "s1", "w1"});
    r.apply(OccurrenceClosed{t0 + 20, "a", "run", t0 + 10, CloseReason::succeeded});
    const TaskState& t = r.p.task(r.id("a"));
    CHECK(t.timestamp == t0 + 20);
    CHECK(t.due == t0 + 20);
    CHECK(t.timestamp < slot);
    CHECK(t.changed_by == "alice, bob");
    CHECK_FALSE(t.follow_up);
    CHECK(r.due({}, t0 + 20) == std::vector<std::string>{"b", "c", "a"});
    // After the follow-up closes, the schedule goes on as usual.
    r.apply(decide_grant(r.p, r.id("a"), t0 + 21, "w1"));
    r.apply(OccurrenceClosed{t0 + 22, "a", "run", t0 + 20, CloseReason::succeeded});
    CHECK(r.p.task(r.id("a")).timestamp == next_interval_slot("a", t0 + 22));
    CHECK(r.p.task(r.id("a")).changed_by.empty());
}

TEST_CASE("a follow-up also follows a failed occurrence, and is timestamped after it") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_run(r.p, "b", "run", t0, "syslog", "alice", "syslog").event);
    // Closed at a time before its own timestamp + 1 (a clock step): still a new timestamp.
    r.apply(OccurrenceClosed{t0, "b", "run", t0, CloseReason::failed});
    CHECK(r.p.task(b).timestamp == t0 + 1);
    CHECK(r.p.task(b).changed_by == "alice");
}

TEST_CASE("a version 1 RunRequested meeting a lease changes nothing, as before issue 14") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);
    r.apply(decide_grant(r.p, r.id("b"), t0, "w1"));
    r.apply(RunRequested{t0 + 5, "b", "run", t0, "10.0.0.1"});  // no trigger: an old record
    CHECK_FALSE(r.p.task(r.id("b")).follow_up);
    r.apply(OccurrenceClosed{t0 + 6, "b", "run", t0, CloseReason::succeeded});
    CHECK(r.p.task(r.id("b")).timestamp == next_interval_slot("b", t0 + 6));
}

TEST_CASE("changed_by lists each name once and stays bounded") {
    std::string list;
    CHECK(add_changed_by(list, "alice"));
    CHECK_FALSE(add_changed_by(list, "alice"));
    CHECK_FALSE(add_changed_by(list, ""));
    CHECK(add_changed_by(list, "bob, alice, carol"));
    CHECK(list == "alice, bob, carol");
    for (int i = 0; i < 100; ++i) add_changed_by(list, "user" + std::to_string(i));
    CHECK(list.size() <= k_changed_by_max);
    CHECK(list.rfind("alice, bob, carol, user0", 0) == 0);
}

TEST_CASE("a follow-up whose lease expires names the retry and still follows the close") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);  // max_attempts 2
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_run(r.p, "b", "run", t0 + 1, "syslog", "alice", "syslog").event);
    r.apply(decide_expiry(r.p, b, t0 + 100));  // attempt 1 of 2: a retry follows
    // The expired lease may still complete with a backup from before the change: the
    // follow-up stays; the retry names alice too.
    CHECK(r.p.task(b).follow_up);
    CHECK(r.p.task(b).changed_by == "alice");
    CHECK(r.p.task(b).timestamp == t0);
    CHECK(decide_run(r.p, "b", "run", t0 + 130, "syslog", "alice", "syslog").kind ==
          RunDecision::Kind::already_due);
    // The last attempt fails too: the follow-up runs after the close, naming both.
    r.apply(decide_grant(r.p, b, t0 + 130, "w1"));
    r.apply(decide_run(r.p, "b", "run", t0 + 131, "syslog", "bob", "syslog").event);
    CHECK(r.p.task(b).follow_up);
    r.apply(decide_expiry(r.p, b, t0 + 300));  // attempt 2 of 2: closed as failed
    CHECK(r.p.task(b).timestamp == t0 + 300);
    CHECK(r.p.task(b).changed_by == "alice, bob");
    CHECK_FALSE(r.p.task(b).follow_up);
}

TEST_CASE("a follow-up whose lease reports a failure is answered by the retry") {
    replayer r;
    r.apply_inventory(inventory(k_three), t0);  // max_attempts 2
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_run(r.p, "b", "run", t0 + 1, "syslog", "alice", "syslog").event);
    r.apply(decide_completion(
                r.p,
                CompletionRecorded{
                    t0 + 5, "b", "run", t0, t0, t0 + 5, std::string("timeout"), 0, {}, {}, "w1"})
                .events);  // attempt 1 of 2: the worker is done; a retry follows
    CHECK_FALSE(r.p.task(b).follow_up);
    CHECK(r.p.task(b).changed_by == "alice");
    CHECK(r.p.task(b).timestamp == t0);
}

TEST_CASE(
    "a change during a backup whose lease expires is not answered by that lease's late "
    "completion") {
    // The expired lease's worker may still post its backup, which read the configuration
    // before the change: it must not close the occurrence with the follow-up forgotten.
    replayer r;
    r.apply_inventory(inventory(k_three), t0);  // max_attempts 2
    task_id b = r.id("b");
    r.apply(decide_grant(r.p, b, t0, "w1"));
    r.apply(decide_run(r.p, "b", "run", t0 + 1, "syslog", "alice", "syslog").event);
    r.apply(decide_expiry(r.p, b, t0 + 100));  // attempt 1 of 2: a retry follows
    CHECK(r.p.task(b).changed_by == "alice");  // the retry runs after the change
    CompletionDecision late = decide_completion(
        r.p, CompletionRecorded{t0 + 110, "b", "run", t0, t0, t0 + 110, std::nullopt, 1,
                                std::string(32, 'x'), "s1", "w1"});
    REQUIRE(late.kind == CompletionDecision::Kind::accept);
    r.apply(late.events);
    // The late backup may predate alice's change: one more run follows, naming her.
    const TaskState& t = r.p.task(b);
    CHECK(t.timestamp == t0 + 110);
    CHECK(t.due == t0 + 110);
    CHECK(t.changed_by == "alice");
    CHECK(t.trigger == "syslog");
    // Replay gives the same state.
    replayer again;
    again.apply_inventory(inventory(k_three), t0);
    again.apply(decide_grant(again.p, b, t0, "w1"));
    again.apply(RunRequested{t0 + 1, "b", "run", t0, "syslog", "alice", "syslog"});
    again.apply(decide_expiry(again.p, b, t0 + 100));
    again.apply(late.events);
    CHECK(again.p.task(b).timestamp == t.timestamp);
    CHECK(again.p.task(b).changed_by == t.changed_by);
}
