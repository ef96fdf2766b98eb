// Who may complete an occurrence, replayed from events (no server, no database).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "api/access.hpp"
#include "netkeep/log_budget.hpp"

using namespace netkeep;
using namespace netkeep::api;

namespace {

constexpr unix_time t0 = 1'700'000'000;

Caller worker(const std::string& name, std::vector<std::string> tags) {
    return Caller{TokenEntry{name, Role::worker, std::move(tags), token_sha256(name)}, name};
}

struct state {
    Projection p;
    std::uint64_t seq = 0;

    state() {
        InventoryFiles files{
            R"({"devices": [{"name": "r1", "tags": ["dc1"], "credentials": {"user": "u"}}]})",
            R"({"jobs": [{"name": "run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
                          "timeout": 100, "max_attempts": 3}]})"};
        auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
        REQUIRE(parsed.is_ok());
        for (Event& e : decide_inventory(p, *parsed, t0)) apply(std::move(e));
    }
    void apply(Event e) { REQUIRE(p.apply(EventRecord{++seq, std::move(e)}).is_ok()); }
    const TaskState& task() const { return p.task(*p.find("r1", "run")); }
    std::optional<std::string> refusal(const Caller& c, bool repeat = false) const {
        return completion_refusal(task(), p.inventory().devices[0].tags, c, repeat);
    }
};

}  // namespace

TEST_CASE("roles reach their routes only") {
    CHECK(role_allows(Role::worker, Access::worker));
    CHECK_FALSE(role_allows(Role::worker, Access::read));
    CHECK_FALSE(role_allows(Role::worker, Access::admin));
    CHECK(role_allows(Role::read, Access::read));
    CHECK_FALSE(role_allows(Role::read, Access::admin));
    CHECK_FALSE(role_allows(Role::read, Access::worker));
    CHECK(role_allows(Role::admin, Access::read));
    CHECK(role_allows(Role::admin, Access::admin));
    CHECK_FALSE(role_allows(Role::admin, Access::worker));
    for (Role r : {Role::worker, Role::read, Role::admin}) CHECK(role_allows(r, Access::open));
}

TEST_CASE(
    "while a lease runs only its holder completes; after it expired, tokens covering the device "
    "too") {
    state s;
    const Caller holder = worker("w1", {"dc1"});
    const Caller same_tag = worker("w2", {"dc1"});
    const Caller every_tag = worker("w3", {"*"});
    const Caller other_tag = worker("w4", {"dc2"});
    const Caller anonymous{std::nullopt, "10.0.0.1"};
    const TaskState& t = s.task();
    s.apply(decide_grant(s.p, *s.p.find("r1", "run"), t0, "w1", "w1"));
    REQUIRE(s.task().lease);
    CHECK(s.task().lease->holder == "w1");
    CHECK_FALSE(s.refusal(holder));
    CHECK(s.refusal(same_tag));
    CHECK(s.refusal(every_tag));
    CHECK(s.refusal(other_tag));
    CHECK_FALSE(s.refusal(anonymous));  // without --auth nobody is checked

    s.apply(LeaseExpired{t0 + 100, "r1", "run", t.timestamp});
    REQUIRE_FALSE(s.task().lease);
    CHECK(s.task().newest_holder == "w1");
    CHECK_FALSE(s.refusal(holder));
    CHECK_FALSE(s.refusal(same_tag));
    CHECK_FALSE(s.refusal(every_tag));
    CHECK(s.refusal(other_tag));

    // A new lease to w2 makes w2 the only one again.
    s.apply(decide_grant(s.p, *s.p.find("r1", "run"), t0 + 200, "w2", "w2"));
    CHECK(s.refusal(holder));
    CHECK_FALSE(s.refusal(same_tag));

    // The recorded completion may be re-posted by its recorder only.
    s.apply(CompletionRecorded{t0 + 210, "r1", "run", s.task().timestamp, t0 + 201, t0 + 209,
                               std::nullopt, 5, std::string(32, 'x'), "spool-1", "w2"});
    CHECK_FALSE(s.refusal(same_tag, true));
    CHECK(s.refusal(holder, true));
}

TEST_CASE(
    "a lease granted before --auth (no holder) may be completed by any token covering the device") {
    state s;
    s.apply(decide_grant(s.p, *s.p.find("r1", "run"), t0, "10.0.0.1"));
    REQUIRE(s.task().lease);
    CHECK(s.task().lease->holder.empty());
    CHECK_FALSE(s.refusal(worker("w1", {"dc1"})));
    CHECK(s.refusal(worker("w4", {"dc2"})));
}

TEST_CASE("the holder is forgotten when the occurrence closes") {
    state s;
    const TaskState& t = s.task();
    const unix_time ts = t.timestamp;
    s.apply(decide_grant(s.p, *s.p.find("r1", "run"), t0, "w1", "w1"));
    s.apply(OccurrenceClosed{t0 + 5, "r1", "run", ts, CloseReason::succeeded});
    CHECK(s.task().newest_holder.empty());
    CHECK_FALSE(s.task().lease);
}

TEST_CASE("the log budget admits a few lines a second and counts the rest") {
    LogBudget budget(2);
    CHECK(budget.admit(100));
    CHECK(budget.admit(100));
    CHECK_FALSE(budget.admit(100));
    CHECK_FALSE(budget.admit(100));
    CHECK(budget.admit(101));
    CHECK(budget.take_suppressed() == 2);
    CHECK(budget.take_suppressed() == 0);
}
