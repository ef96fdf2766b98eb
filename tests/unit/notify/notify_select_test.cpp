// Which events notify which target: the rules, the filters and the failure counts.
#include <doctest/doctest.h>

#include "notify/select.hpp"

using namespace netkeep;
using namespace netkeep::notify;

namespace {

Target target(std::string name) {
    Target t;
    t.name = std::move(name);
    t.type = TargetType::webhook;
    t.url = "https://x";
    return t;
}

NotifyConfig config_with(Rule rule) {
    NotifyConfig c;
    c.targets = {target("a"), target("b")};
    c.rules.push_back(std::move(rule));
    return c;
}

EventRecord completion(std::uint64_t seq, std::string device,
                       std::optional<std::string> failure = {}) {
    CompletionRecorded c;
    c.device = std::move(device);
    c.job = "show_run";
    c.end_timestamp = 1000 + std::int64_t(seq);
    c.worker = "w1";
    c.failure = std::move(failure);
    return {seq, c};
}

EventRecord expired(std::uint64_t seq, std::string device) {
    return {seq,
            LeaseExpired{.at = 5, .device = std::move(device), .job = "show_run", .timestamp = 1}};
}

GitOutcome applied(std::string blob, std::string commit, std::string previous_blob = "",
                   std::string previous_commit = "") {
    GitOutcome g;
    g.kind = GitOutcome::Kind::applied;
    g.blob = std::move(blob);
    g.commit = std::move(commit);
    g.path = "r1/show_run";
    g.previous_blob = std::move(previous_blob);
    g.previous_commit = std::move(previous_commit);
    return g;
}

Rule make_rule(std::vector<EventKind> events, std::vector<std::size_t> targets,
               std::uint32_t after = 1) {
    Rule r;
    r.events = std::move(events);
    r.targets = std::move(targets);
    r.after = after;
    return r;
}

// The rule with one filter list set.
Rule with(Rule r, std::vector<std::string> Rule::*list, std::vector<std::string> values) {
    r.*list = std::move(values);
    return r;
}

const DeviceLookup k_no_devices = [](std::string_view) -> const DeviceInfo* { return nullptr; };

}  // namespace

TEST_CASE("config_changed: a commit of new content, to the rule's targets only") {
    auto config = config_with(make_rule({EventKind::config_changed}, {0}));
    FailureState f;
    auto g = applied("b2", "c2", "b1", "c1");
    auto notes = select_notifications(config, 0, completion(7, "r1"), &g, f, k_no_devices);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].kind == EventKind::config_changed);
    CHECK(notes[0].seq == 7);
    CHECK(notes[0].new_commit == "c2");
    CHECK(notes[0].old_commit == "c1");
    CHECK(notes[0].old_blob == "b1");
    CHECK(notes[0].worker == "w1");
    CHECK(notes[0].time == 1007);
    CHECK(select_notifications(config, 1, completion(7, "r1"), &g, f, k_no_devices).empty());
    // Unchanged content (no commit), or a commit of the same blob (--commit-unchanged).
    auto same = applied("b1", "", "b1", "c1");
    CHECK(select_notifications(config, 0, completion(8, "r1"), &same, f, k_no_devices).empty());
    auto unchanged_commit = applied("b1", "c3", "b1", "c1");
    CHECK(select_notifications(config, 0, completion(9, "r1"), &unchanged_commit, f, k_no_devices)
              .empty());
    // The first version of a file is a change from nothing.
    auto first = applied("b1", "c1");
    CHECK(select_notifications(config, 0, completion(10, "r1"), &first, f, k_no_devices).size() ==
          1);
}

TEST_CASE("filters: devices, jobs, tags, groups") {
    DeviceInfo core{{"core", "dc1"}, "east"};
    DeviceInfo edge{{"edge"}, "west"};
    DeviceLookup devices = [&](std::string_view name) -> const DeviceInfo* {
        return name == "r1" ? &core : name == "r2" ? &edge : nullptr;
    };
    auto g = applied("b2", "c2", "b1", "c1");
    auto fires = [&](Rule rule, const std::string& device) {
        auto config = config_with(std::move(rule));
        FailureState f;
        return !select_notifications(config, 0, completion(1, device), &g, f, devices).empty();
    };
    const Rule base = make_rule({EventKind::config_changed}, {0});
    CHECK(fires(with(base, &Rule::devices, {"r1"}), "r1"));
    CHECK_FALSE(fires(with(base, &Rule::devices, {"r1"}), "r2"));
    CHECK(fires(with(base, &Rule::jobs, {"show_run"}), "r2"));
    CHECK_FALSE(fires(with(base, &Rule::jobs, {"other"}), "r2"));
    CHECK(fires(with(base, &Rule::tags, {"core"}), "r1"));
    CHECK_FALSE(fires(with(base, &Rule::tags, {"core"}), "r2"));
    CHECK(fires(with(base, &Rule::groups, {"west"}), "r2"));
    CHECK_FALSE(fires(with(base, &Rule::groups, {"west"}), "r1"));
    // A device the inventory no longer lists matches no tag or group.
    CHECK_FALSE(fires(with(base, &Rule::tags, {"core"}), "gone"));
    // Every list given must match.
    CHECK_FALSE(fires(with(with(base, &Rule::devices, {"r1"}), &Rule::groups, {"west"}), "r1"));
}

TEST_CASE("backup_failed after N failed attempts in a row, once per run; recovered after it") {
    auto config = config_with(make_rule({EventKind::backup_failed, EventKind::recovered}, {0}, 3));
    FailureState f;
    auto pick = [&](const EventRecord& r) {
        GitOutcome none;
        return select_notifications(config, 0, r, &none, f, k_no_devices);
    };
    CHECK(pick(completion(1, "r1", "auth failed")).empty());
    CHECK(pick(expired(2, "r1")).empty());
    auto third = pick(completion(3, "r1", "timeout"));
    REQUIRE(third.size() == 1);
    CHECK(third[0].kind == EventKind::backup_failed);
    CHECK(third[0].failures == 3);
    CHECK(third[0].error == "timeout");
    CHECK(pick(completion(4, "r1", "timeout")).empty());  // not again in the same run
    CHECK(pick(completion(1, "r2", "other device")).empty());
    auto back = pick(completion(5, "r1"));
    REQUIRE(back.size() == 1);
    CHECK(back[0].kind == EventKind::recovered);
    CHECK(back[0].failures == 4);
    // A success without a failure notification before it is no recovery.
    CHECK(pick(completion(6, "r1", "x")).empty());
    CHECK(pick(completion(7, "r1")).empty());
    CHECK(f.size() == 1);  // r2's one failure is still counted
}

TEST_CASE("quarantined: what the git writer skipped") {
    auto config = config_with(make_rule({EventKind::quarantined}, {0, 1}));
    FailureState f;
    GitOutcome q;
    q.kind = GitOutcome::Kind::quarantined;
    q.detail = "the spool file is missing";
    auto notes = select_notifications(config, 1, completion(4, "r1"), &q, f, k_no_devices);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].kind == EventKind::quarantined);
    CHECK(notes[0].error == "the spool file is missing");
}

TEST_CASE("FailureState: round trip, refusals, bound") {
    FailureState f;
    f.at("r1/show_run")->failures = 2;
    auto* e = f.at("r 2/x");
    e->failures = 7;
    e->notified = true;
    auto back = FailureState::decode(f.encode());
    REQUIRE(back);
    CHECK(*back == f);
    CHECK(FailureState::decode("")->size() == 0);
    CHECK_FALSE(FailureState::decode("x 0 a/b\n"));
    CHECK_FALSE(FailureState::decode("1 2 a/b\n"));
    CHECK_FALSE(FailureState::decode("1 0 a/b"));  // no newline: cut short
    FailureState full;
    for (std::size_t i = 0; i < FailureState::k_max_tasks; ++i)
        REQUIRE(full.at("d" + std::to_string(i) + "/j"));
    CHECK(full.at("one/more") == nullptr);
    CHECK(full.at("d1/j") != nullptr);  // a task tracked already still counts
}
