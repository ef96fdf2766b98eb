// GET /api/v1/tasks' selection (select_tasks): filters, counts, the order of every sort
// key and the keyset cursor, on projections built from events, against a brute-force
// reference (filter everything, sort everything). One case has 100,000 tasks: it checks
// that the answers are right at that size, not how fast they are (tools/bench-fleet does).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "api/operator_query.hpp"

using namespace netkeep;
using namespace netkeep::api;

namespace {

constexpr unix_time t0 = 1'700'000'000;

// `devices` devices x 2 jobs; names in mixed case for q; tags site-0..9; groups g0..g5
// and none (every 7th device).
struct Fleet {
    Projection p;
    std::uint64_t seq = 0;
    std::map<std::pair<std::string, std::string>, std::string> commits;  // backing LastChange
    std::map<std::pair<std::string, std::string>, unix_time> change_times;

    explicit Fleet(int devices) {
        std::string d = R"({"credentials": {"c": {"user": "u", "pass": "p"}}, "devices": [)";
        for (int i = 0; i < devices; ++i) {
            if (i) d += ',';
            std::string group = i % 7 == 0 ? "" : fmt::format(R"(, "group": "g{}")", i % 6);
            d += fmt::format(R"({{"name": "{}-{:06}", "credentials": "c", "tags": ["site-{}"]{}}})",
                             i % 2 ? "Rtr" : "sw", i, i % 10, group);
        }
        d += "]}";
        InventoryFiles files{
            std::move(d),
            R"({"jobs": [{"name": "run", "schedule": {"interval": 3600}, "command": {"inline": ["x"]},
                          "timeout": 100, "retry_delay": 30, "max_attempts": 3},
                         {"name": "ver", "schedule": {"interval": 86400}, "command": {"inline": ["y"]},
                          "timeout": 100, "retry_delay": 30, "max_attempts": 3}]})"};
        auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
        REQUIRE(parsed.is_ok());
        for (Event& e : decide_inventory(p, *parsed, t0)) apply(std::move(e));
    }
    void apply(Event e) {
        Status s = p.apply(EventRecord{++seq, std::move(e)});
        if (!s) FAIL(s.to_string());
    }
    void grant(task_id id, unix_time at) {
        apply(decide_grant(p, id, at, fmt::format("w{}", id % 3)));
    }
    void complete(task_id id, unix_time at, std::optional<std::string> failure) {
        const TaskState& t = p.task(id);
        CompletionRecorded c{at,
                             std::string(t.device),
                             std::string(t.job),
                             t.timestamp,
                             at,
                             at,
                             failure,
                             1,
                             std::string(32, '\0'),
                             "s",
                             "w"};
        auto decision = decide_completion(p, c);
        if (decision.kind != CompletionDecision::Kind::accept) FAIL("completion refused");
        for (Event& e : decision.events) apply(std::move(e));
    }
    // Every status, successes and failures in either order, and a last change for some.
    void vary() {
        for (task_id id = 0; id < p.task_count(); ++id) {
            const unix_time at = t0 + unix_time(id % 997);
            switch (id % 6) {
                case 1:
                    grant(id, at);
                    break;
                case 2:
                    grant(id, at);
                    complete(id, at + 1, std::nullopt);
                    break;
                case 3:
                    grant(id, at);
                    complete(id, at + 1, std::string("ssh: refused"));
                    break;
                case 4:  // failed, then succeeded: not failing
                    grant(id, at);
                    complete(id, at + 1, std::string("timeout"));
                    grant(id, at + 2);
                    complete(id, at + 3, std::nullopt);
                    break;
                case 5:  // succeeded, then failed: failing
                    grant(id, at);
                    complete(id, at + 1, std::nullopt);
                    grant(id, at + 2);
                    complete(id, at + 3, std::string("timeout"));
                    break;
                default:
                    break;
            }
            if (id % 3 == 0) {
                const TaskState& t = p.task(id);
                auto key = std::make_pair(std::string(t.device), std::string(t.job));
                commits[key] = fmt::format("{:040}", id);
                change_times[key] = t0 - unix_time((id * 7) % 500);
            }
        }
    }
    LastChangeLookup lookup() const {
        return [this](std::string_view device, std::string_view job) -> std::optional<LastChange> {
            auto key = std::make_pair(std::string(device), std::string(job));
            auto it = commits.find(key);
            if (it == commits.end()) return std::nullopt;
            return LastChange{it->second, change_times.at(key), 1};
        };
    }
};

// The reference order, written apart from select_tasks: a tuple per task.
using RefKey = std::tuple<std::int64_t, std::string, std::string_view, std::string_view>;
RefKey ref_key(const Fleet& f, TaskSort sort, task_id id, unix_time now) {
    const TaskState& t = f.p.task(id);
    auto at = [](const std::optional<Outcome>& o) {
        return o ? o->at : std::numeric_limits<std::int64_t>::min();
    };
    switch (sort) {
        case TaskSort::device:
            return {0, "", t.device, t.job};
        case TaskSort::job:
            return {0, "", t.job, t.device};
        case TaskSort::status:
            return {0, std::string(task_status_name(task_status(t, now))), t.device, t.job};
        case TaskSort::next_due:
            return {t.due, "", t.device, t.job};
        case TaskSort::last_success:
            return {at(t.last_success), "", t.device, t.job};
        case TaskSort::last_failure:
            return {at(t.last_failure), "", t.device, t.job};
        case TaskSort::last_change: {
            auto it = f.change_times.find({std::string(t.device), std::string(t.job)});
            return {
                it == f.change_times.end() ? std::numeric_limits<std::int64_t>::min() : it->second,
                "", t.device, t.job};
        }
    }
    return {};
}

std::vector<task_id> reference(const Fleet& f, const TasksQuery& q, unix_time now) {
    std::vector<std::pair<RefKey, task_id>> rows;
    for (task_id id = 0; id < f.p.task_count(); ++id)
        if (task_matches(f.p, id, q, now)) rows.emplace_back(ref_key(f, q.sort, id, now), id);
    std::sort(rows.begin(), rows.end());
    if (q.descending) std::reverse(rows.begin(), rows.end());
    std::vector<task_id> ids;
    for (auto& r : rows) ids.push_back(r.second);
    return ids;
}

// Every page of q from the first, the cursor passed as text between pages; `between`
// runs before each next page (changing the projection, or the time).
std::vector<task_id> walk(const Fleet& f, TasksQuery q, unix_time& now,
                          const std::function<void()>& between = {}) {
    std::vector<task_id> seen;
    q.cursor.reset();
    std::shared_ptr<const NameRanks> ranks;  // kept between pages, as netkeepd does
    for (int pages = 0;; ++pages) {
        REQUIRE(pages <= 200'000);
        TasksPage page = select_tasks(f.p, q, now, f.lookup(), &ranks);
        REQUIRE(page.ids.size() <= q.limit);
        seen.insert(seen.end(), page.ids.begin(), page.ids.end());
        if (!page.next) break;
        REQUIRE(page.ids.size() == q.limit);  // only a full page has a next one
        std::string text = format_task_cursor(*page.next);
        q.cursor = parse_task_cursor(text);
        REQUIRE(q.cursor);
        if (between) between();
    }
    return seen;
}

constexpr TaskSort k_sorts[] = {
    TaskSort::device,       TaskSort::job,         TaskSort::status,      TaskSort::next_due,
    TaskSort::last_success, TaskSort::last_change, TaskSort::last_failure};

http::QueryParams q(std::initializer_list<std::pair<std::string, std::string>> params) {
    return {params};
}

}  // namespace

TEST_CASE("tasks query: paging, sort, order, q and group parsed; bad values name the parameter") {
    TasksQuery t;
    CHECK_FALSE(parse_tasks_query(q({{"group", "g1"},
                                     {"group", "g2"},
                                     {"q", "RtR-00"},
                                     {"sort", "next_due"},
                                     {"order", "desc"},
                                     {"limit", "100"}}),
                                  t));
    CHECK(t.groups == std::vector<std::string>{"g1", "g2"});
    CHECK(t.q == "rtr-00");
    CHECK(t.sort == TaskSort::next_due);
    CHECK(t.descending);
    CHECK(t.limit == 100);
    TasksQuery defaults;
    CHECK_FALSE(parse_tasks_query({}, defaults));
    CHECK(defaults.sort == TaskSort::device);
    CHECK_FALSE(defaults.descending);
    CHECK(defaults.limit == 1000);
    TasksQuery empty_q;
    CHECK_FALSE(parse_tasks_query(q({{"q", ""}}), empty_q));  // an empty search box: no filter
    CHECK(empty_q.q.empty());

    const std::string long_q(257, 'a');
    const std::string long_cursor = "v1~device~a~0~" + std::string(1100, 'd') + "~run";
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"limit", "0"},
        {"limit", "1001"},
        {"limit", "100001"},
        {"limit", "-1"},
        {"limit", "1e3"},
        {"sort", "name"},
        {"sort", ""},
        {"order", "up"},
        {"q", long_q},
        {"cursor", "garbage"},
        {"cursor", ""},
        {"cursor", "v1~device~a~0~~run"},
        {"cursor", "v2~device~a~0~d~run"},
        {"cursor", "v1~device~x~0~d~run"},
        {"cursor", "v1~next_due~a~12x~d~run"},
        {"cursor", long_cursor},
        {"cursor", "v1~next_due~d~5~d~run"},  // another sort than the request's
        {"group", ""},
        {"bogus", "1"}};
    for (const auto& [name, value] : bad) {
        CAPTURE(name);
        CAPTURE(value);
        TasksQuery x;
        auto e = parse_tasks_query(q({{name, value}}), x);
        REQUIRE(e);
        CHECK(e->parameter == name);
        CHECK_FALSE(e->message.empty());
    }
    TasksQuery twice;
    auto e = parse_tasks_query(q({{"sort", "job"}, {"sort", "device"}}), twice);
    REQUIRE(e);
    CHECK(e->parameter == "sort");
    // A cursor of another order than the request's is refused, naming the cursor.
    TasksQuery mismatch;
    e = parse_tasks_query(q({{"sort", "next_due"}, {"cursor", "v1~next_due~d~5~d~run"}}), mismatch);
    REQUIRE(e);
    CHECK(e->parameter == "cursor");
}

TEST_CASE("task cursor: round trip, null keys, negative keys; only name characters in names") {
    for (const char* bad : {"v1~device~a~0~r1~x~y", "v1~device~a~0~r 1~run",
                            "v1~device~a~0~r1~run\n", "v1~device~a~0~\xff~run"})
        CHECK_FALSE(parse_task_cursor(bad));
    for (TaskCursor c : {TaskCursor{TaskSort::device, false, 0, "r1", "run"},
                         TaskCursor{TaskSort::last_change, true, k_null_key, "a-b.c_d", "X.y"},
                         TaskCursor{TaskSort::next_due, false, -5, "r1", "run"},
                         TaskCursor{TaskSort::status, true, 3, "R", "j"}}) {
        std::string text = format_task_cursor(c);
        CAPTURE(text);
        auto back = parse_task_cursor(text);
        REQUIRE(back);
        CHECK(back->sort == c.sort);
        CHECK(back->descending == c.descending);
        CHECK(back->key == c.key);
        CHECK(back->device == c.device);
        CHECK(back->job == c.job);
    }
}

TEST_CASE("select_tasks: filters, total and counts against a brute-force pass") {
    Fleet f(700);
    f.vary();
    const unix_time now = t0 + 600;
    std::vector<std::vector<std::pair<std::string, std::string>>> queries = {
        {},
        {{"q", "RTR-0001"}},
        {{"q", "sw-"}, {"status", "due"}},
        {{"group", "g1"}, {"group", "g3"}},
        {{"tag", "site-3"}, {"job", "ver"}, {"status", "leased"}, {"status", "retrying"}},
        {{"device", "Rtr-000001"}, {"device", "sw-000002"}, {"device", "nope"}},
        {{"tag", "no-such-tag"}},
        {{"group", "no-such-group"}},
        {{"q", "zzz"}},
    };
    for (const auto& params : queries) {
        TasksQuery query;
        REQUIRE_FALSE(parse_tasks_query(params, query));
        CAPTURE(params.size());
        TasksPage page = select_tasks(f.p, query, now, f.lookup());
        std::vector<task_id> expected = reference(f, query, now);
        CHECK(page.total == expected.size());
        CHECK(page.ids ==
              std::vector<task_id>(expected.begin(),
                                   expected.begin() + std::ptrdiff_t(std::min<std::size_t>(
                                                          expected.size(), query.limit))));
        // Counts ignore the status filter, and only it.
        StatusCounts c;
        TasksQuery any_status = query;
        any_status.statuses.clear();
        for (task_id id = 0; id < f.p.task_count(); ++id) {
            if (!task_matches(f.p, id, any_status, now)) continue;
            const TaskState& t = f.p.task(id);
            switch (task_status(t, now)) {
                case TaskStatus::due:
                    c.due++;
                    break;
                case TaskStatus::scheduled:
                    c.scheduled++;
                    break;
                case TaskStatus::leased:
                    c.leased++;
                    break;
                case TaskStatus::retrying:
                    c.retrying++;
                    break;
            }
            if (t.last_failure && (!t.last_success || t.last_failure->at > t.last_success->at))
                c.failing++;
        }
        CHECK(page.counts.due == c.due);
        CHECK(page.counts.scheduled == c.scheduled);
        CHECK(page.counts.leased == c.leased);
        CHECK(page.counts.retrying == c.retrying);
        CHECK(page.counts.failing == c.failing);
    }
    // Every status and failing are represented, so the counts above mean something.
    TasksQuery all;
    TasksPage page = select_tasks(f.p, all, t0 + 30, f.lookup());
    CHECK(page.counts.due > 0);
    CHECK(page.counts.scheduled > 0);
    CHECK(page.counts.leased > 0);
    CHECK(page.counts.retrying > 0);
    CHECK(page.counts.failing > 0);
    // q is a case-insensitive substring of the device name, nothing else.
    TasksQuery by_q;
    REQUIRE_FALSE(parse_tasks_query(q({{"q", "rTr-00000"}}), by_q));
    page = select_tasks(f.p, by_q, now, f.lookup());
    REQUIRE(page.total == 10);  // Rtr-000001 .. Rtr-000009 (odd), 2 jobs each
    for (task_id id : page.ids) CHECK(f.p.task(id).device.starts_with("Rtr-00000"));
}

TEST_CASE("select_tasks: a cursor walk visits every task once, in order, for every sort") {
    Fleet f(1500);
    f.vary();
    Fleet small(100);  // one row a page
    small.vary();
    for (TaskSort sort : k_sorts)
        for (bool descending : {false, true})
            for (std::size_t limit : {std::size_t(1), std::size_t(97), std::size_t(1000)}) {
                const Fleet& fleet = limit == 1 ? small : f;
                CAPTURE(task_sort_name(sort));
                CAPTURE(descending);
                CAPTURE(limit);
                TasksQuery query;
                query.sort = sort;
                query.descending = descending;
                query.limit = limit;
                unix_time now = t0 + 40;
                CHECK(walk(fleet, query, now) == reference(fleet, query, now));
            }
}

TEST_CASE("select_tasks: a cursor naming a device or job gone from the inventory") {
    Fleet f(10);
    const unix_time now = t0;
    auto first_after = [&](TaskSort sort, bool descending, std::string device, std::string job) {
        TasksQuery q;
        q.sort = sort;
        q.descending = descending;
        q.limit = 1;
        q.cursor = TaskCursor{sort, descending, 0, std::move(device), std::move(job)};
        TasksPage page = select_tasks(f.p, q, now, f.lookup());
        REQUIRE(page.ids.size() == 1);
        const TaskState& t = f.p.task(page.ids[0]);
        return std::string(t.device) + "/" + std::string(t.job);
    };
    // Rtr-000001 < Rtr-000001a < Rtr-000003 (Rtr-000002 does not exist: even ones are sw-).
    CHECK(first_after(TaskSort::device, false, "Rtr-000001a", "run") == "Rtr-000003/run");
    CHECK(first_after(TaskSort::device, true, "Rtr-000001a", "run") == "Rtr-000001/ver");
    CHECK(first_after(TaskSort::device, false, "Rtr-000001", "rz") == "Rtr-000001/ver");
    CHECK(first_after(TaskSort::device, false, "Rtr-000001", "a") == "Rtr-000001/run");
    CHECK(first_after(TaskSort::device, true, "Rtr-000001", "zz") == "Rtr-000001/ver");
    CHECK(first_after(TaskSort::device, false, "A", "run") == "Rtr-000001/run");
    CHECK(first_after(TaskSort::job, false, "x", "rz") == "Rtr-000001/ver");
    CHECK(first_after(TaskSort::job, true, "x", "rz") == "sw-000008/run");
    CHECK(first_after(TaskSort::job, false, "sw-000008a", "run") == "Rtr-000001/ver");
    CHECK(first_after(TaskSort::job, false, "Rtr-000004", "run") == "Rtr-000005/run");
    // Past the last row: nothing, no next cursor.
    TasksQuery q;
    q.cursor = TaskCursor{TaskSort::device, false, 0, "zzz", "run"};
    TasksPage page = select_tasks(f.p, q, now, f.lookup());
    CHECK(page.ids.empty());
    CHECK_FALSE(page.next);
    CHECK(page.total == 20);
}

TEST_CASE("select_tasks: a walk while tasks change status between pages") {
    for (TaskSort sort : k_sorts) {
        CAPTURE(task_sort_name(sort));
        Fleet f(1500);
        f.vary();
        TasksQuery query;
        query.sort = sort;
        query.limit = 101;
        unix_time now = t0 + 30;
        std::vector<task_id> before = reference(f, query, now);
        std::vector<TaskStatus> status_before;
        for (task_id id = 0; id < f.p.task_count(); ++id)
            status_before.push_back(task_status(f.p.task(id), now));
        // Between pages: leases granted to a few tasks, anywhere in the order, and the
        // clock moves on (retry delays pass, retrying tasks become due).
        std::mt19937 random(42);
        auto between = [&] {
            for (int i = 0; i < 15; ++i) {
                task_id id = task_id(random() % f.p.task_count());
                if (!f.p.task(id).lease) f.grant(id, now);
            }
            now += 2;
        };
        std::vector<task_id> seen = walk(f, query, now, between);
        std::map<task_id, int> visits;
        for (task_id id : seen) visits[id] += 1;
        int changed = 0;
        for (task_id id = 0; id < f.p.task_count(); ++id) {
            const bool moved = task_status(f.p.task(id), now) != status_before[id];
            changed += moved;
            CAPTURE(id);
            if (sort != TaskSort::status || !moved) {
                // The lease and the clock change no other sort key: each task once.
                CHECK(visits[id] == 1);
            } else {
                // Keyset paging: a task whose sort value moved across the cursor may be
                // seen twice or not at all; never more.
                CHECK(visits[id] <= 2);
            }
        }
        CHECK(changed > 0);
        if (sort != TaskSort::status) CHECK(seen == before);
    }
}

TEST_CASE("select_tasks at 100,000 tasks: every sort's first and deep pages, a full walk") {
    Fleet f(50'000);
    f.vary();
    REQUIRE(f.p.task_count() == 100'000);
    unix_time now = t0 + 40;
    for (TaskSort sort : k_sorts)
        for (bool descending : {false, true}) {
            CAPTURE(task_sort_name(sort));
            CAPTURE(descending);
            TasksQuery query;
            query.sort = sort;
            query.descending = descending;
            query.limit = 1000;
            std::vector<task_id> expected = reference(f, query, now);
            TasksPage first = select_tasks(f.p, query, now, f.lookup());
            CHECK(first.total == 100'000);
            CHECK(std::equal(first.ids.begin(), first.ids.end(), expected.begin()));
            // A deep page: 100 rows after row 73,499 of the reference.
            const TaskState& t = f.p.task(expected[73'499]);
            TaskCursor deep{sort, descending, 0, std::string(t.device), std::string(t.job)};
            auto key = ref_key(f, sort, expected[73'499], now);
            deep.key = std::get<0>(key);
            if (sort == TaskSort::status) {
                // The rank of its status, as select_tasks numbers them (by name).
                const std::string_view names[] = {"due", "leased", "retrying", "scheduled"};
                deep.key = std::find(std::begin(names), std::end(names), std::get<1>(key)) -
                           std::begin(names);
            }
            query.cursor = deep;
            query.limit = 100;
            TasksPage page = select_tasks(f.p, query, now, f.lookup());
            REQUIRE(page.ids.size() == 100);
            CHECK(std::equal(page.ids.begin(), page.ids.end(), expected.begin() + 73'500));
        }
    TasksQuery by_due;
    by_due.sort = TaskSort::next_due;
    by_due.descending = true;
    std::vector<task_id> seen = walk(f, by_due, now);
    CHECK(seen == reference(f, by_due, now));
    std::set<task_id> unique(seen.begin(), seen.end());
    CHECK(unique.size() == 100'000);
}
