// The operator API's pure half: query parameters, task status, and the JSON of tasks.
// The JSON of events is core's (tests/unit/core/event_json_test.cpp).
#include <doctest/doctest.h>

#include <string>

#include "api/operator_query.hpp"

using namespace netkeep;
using namespace netkeep::api;

namespace {

constexpr unix_time t0 = 1'700'000'000;

Projection projection_with_three() {
    InventoryFiles files{
        R"({"credentials": {"c": {"user": "u", "pass": "literal-Secret-1"}},
            "devices": [{"name": "a", "credentials": "c", "tags": ["core"]},
                        {"name": "b", "credentials": "c", "tags": ["edge"]},
                        {"name": "c", "credentials": "c", "tags": ["core", "edge"]}]})",
        R"({"jobs": [{"name": "run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
                      "timeout": 100, "retry_delay": 30, "max_attempts": 2}]})"};
    Projection p;
    auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE(parsed.is_ok());
    std::uint64_t seq = 0;
    for (Event& e : decide_inventory(p, *parsed, t0))
        REQUIRE(p.apply(EventRecord{++seq, std::move(e)}).is_ok());
    return p;
}

http::QueryParams q(std::initializer_list<std::pair<std::string, std::string>> params) {
    return {params};
}

}  // namespace

TEST_CASE("tasks query: repeatable filters, empty values and unknown names refused") {
    TasksQuery t;
    CHECK_FALSE(parse_tasks_query(
        q({{"device", "a"}, {"device", "b"}, {"tag", "core"}, {"status", "leased"}}), t));
    CHECK(t.devices == std::vector<std::string>{"a", "b"});
    CHECK(t.tags == std::vector<std::string>{"core"});
    CHECK(t.statuses == std::vector<TaskStatus>{TaskStatus::leased});

    TasksQuery bad;
    auto e = parse_tasks_query(q({{"status", "running"}}), bad);
    REQUIRE(e);
    CHECK(e->parameter == "status");
    CHECK(e->message.find("due, scheduled, leased, retrying") != std::string::npos);
    e = parse_tasks_query(q({{"job", ""}}), bad);
    REQUIRE(e);
    CHECK(e->parameter == "job");
    e = parse_tasks_query(q({{"devices", "a"}}), bad);
    REQUIRE(e);
    CHECK(e->parameter == "devices");
    CHECK(e->message ==
          "unknown parameter 'devices' (device, job, tag, group, status, q, sort, order, limit, "
          "cursor)");
}

TEST_CASE("events query: from and limit are bounded integers") {
    EventsQuery e;
    CHECK_FALSE(parse_events_query({}, e));
    CHECK(e.from == 1);
    CHECK(e.limit == k_events_default_limit);
    CHECK_FALSE(parse_events_query(q({{"from", "42"}, {"limit", "1000"}}), e));
    CHECK(e.from == 42);
    CHECK(e.limit == 1000);
    for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{{"from", "0"},
                                                                               {"from", "-1"},
                                                                               {"from", "1x"},
                                                                               {"from", ""},
                                                                               {"limit", "0"},
                                                                               {"limit", "1001"},
                                                                               {"limit", "+5"},
                                                                               {"since", "1"}}) {
        CAPTURE(name);
        CAPTURE(value);
        EventsQuery x;
        auto err = parse_events_query(q({{name, value}}), x);
        REQUIRE(err);
        CHECK(err->parameter == name);
    }
}

TEST_CASE("task status: leased, then due by time, retrying only while a retry delay runs") {
    TaskState t;
    t.due = t0;
    CHECK(task_status(t, t0 - 1) == TaskStatus::scheduled);
    CHECK(task_status(t, t0) == TaskStatus::due);
    t.failed_attempts = 1;
    CHECK(task_status(t, t0 - 1) == TaskStatus::retrying);
    CHECK(task_status(t, t0) == TaskStatus::due);
    t.lease = Lease{t0, t0 + 100, 2, "w", "w"};
    CHECK(task_status(t, t0) == TaskStatus::leased);
    CHECK(task_status_from_name("retrying") == TaskStatus::retrying);
    CHECK(task_status_name(TaskStatus::scheduled) == "scheduled");
}

TEST_CASE("task counts and filters over a projection") {
    Projection p = projection_with_three();
    REQUIRE(p.apply(EventRecord{p.last_seq() + 1, decide_grant(p, *p.find("a", "run"), t0, "w1")})
                .is_ok());
    TaskCounts c = count_tasks(p, t0 + 61);
    CHECK(c.leased == 1);
    CHECK(c.due == 2);
    CHECK(c.overdue == 2);
    CHECK(count_tasks(p, t0 + 60).overdue == 0);

    TasksQuery core;
    core.tags = {"core"};
    CHECK(task_matches(p, *p.find("a", "run"), core, t0));
    CHECK_FALSE(task_matches(p, *p.find("b", "run"), core, t0));
    TasksQuery due_edge;
    due_edge.tags = {"edge"};
    due_edge.statuses = {TaskStatus::due};
    CHECK(task_matches(p, *p.find("c", "run"), due_edge, t0));
    due_edge.devices = {"b"};
    CHECK_FALSE(task_matches(p, *p.find("c", "run"), due_edge, t0));
}

TEST_CASE("task JSON carries the lease, the outcomes, the last change, tags and group") {
    Projection p = projection_with_three();
    task_id a = *p.find("a", "run");
    REQUIRE(p.apply(EventRecord{p.last_seq() + 1, decide_grant(p, a, t0, "w\"1")}).is_ok());
    std::string json = task_json(p, a, t0, LastChange{"abc123", t0 - 5, 7});
    CHECK(
        json ==
        R"({"device":"a","job":"run","status":"leased","timestamp":1700000000,"next_due":1700000000,)"
        R"("failed_attempts":0,"max_attempts":2,"lease":{"worker":"w\"1","granted_at":1700000000,)"
        R"("deadline":1700000100,"attempt":1},"last_success":null,"last_failure":null,)"
        R"("last_change":{"commit":"abc123","time":1699999995,"seq":7},"tags":["core"],"group":""})");
}
