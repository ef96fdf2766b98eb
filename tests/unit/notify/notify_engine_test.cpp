// The consumer engine on the in-memory log: order, durable cursors, a target that is down,
// restarts (at least once), and following the git writer's durable cursor.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "netkeep/consumer.hpp"
#include "netkeep/git_records.hpp"
#include "notify/engine.hpp"
#include "store/memory_event_log.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using namespace netkeep::notify;
using namespace std::chrono_literals;

namespace {

// What the fake targets received, and which of them are down.
struct Receivers {
    std::mutex mutex;
    std::map<std::string, std::vector<Notification>> got;
    std::map<std::string, bool> down;
    std::atomic<int> attempts{0};

    DeliveryResult deliver(const Target& t, const Notification& n) {
        attempts += 1;
        std::lock_guard lock(mutex);
        if (down[t.name]) return {Status::unavailable("HTTP 503"), false};
        got[t.name].push_back(n);
        return {Status::ok(), false};
    }
    std::vector<std::uint64_t> seqs(const std::string& target) {
        std::lock_guard lock(mutex);
        std::vector<std::uint64_t> out;
        for (const auto& n : got[target]) out.push_back(n.seq);
        return out;
    }
    void set_down(const std::string& target, bool d) {
        std::lock_guard lock(mutex);
        down[target] = d;
    }
};

NotifyEngineOptions options(Receivers& r, std::string repo_path = "") {
    NotifyEngineOptions o;
    o.repo_path = std::move(repo_path);
    o.poll = 10ms;
    o.retry_first = 5ms;
    o.retry_max = 20ms;
    o.deliver = [&r](const Target& t, const Notification& n, unix_time, const std::atomic<bool>*) {
        return r.deliver(t, n);
    };
    return o;
}

std::shared_ptr<const NotifyConfig> config(std::vector<std::string> targets,
                                           std::vector<EventKind> events) {
    auto c = std::make_shared<NotifyConfig>();
    Rule rule;
    rule.events = std::move(events);
    for (std::size_t i = 0; i < targets.size(); ++i) {
        Target t;
        t.name = targets[i];
        t.url = "https://x";
        c->targets.push_back(t);
        rule.targets.push_back(i);
    }
    c->rules.push_back(rule);
    return c;
}

std::uint64_t append_completion(EventLog& log, const std::string& device, bool failed) {
    CompletionRecorded c;
    c.device = device;
    c.job = "show_run";
    c.sha256 = std::string(32, '\0');
    c.spool = "s";
    c.worker = "w";
    if (failed) c.failure = "auth failed";
    auto range = log.append({c});
    REQUIRE(range.is_ok());
    return range->first;
}

std::optional<std::uint64_t> cursor(const EventLog& log, const std::string& target) {
    auto meta = log.get_meta(consumer_cursor_key(consumer_name(target)));
    if (!meta) return std::nullopt;
    return gitwriter::parse_u64(*meta);
}

bool eventually(const std::function<bool()>& pred) {
    return netkeep::testing::wait_until(pred, std::chrono::seconds(10), 5ms);
}

const std::vector<EventKind> k_failures{EventKind::backup_failed, EventKind::recovered};

}  // namespace

TEST_CASE("in log order, cursor durable after delivery; a target that is down delays only itself") {
    MemoryEventLog log;
    Receivers r;
    NotifyEngine engine(log, options(r));
    r.set_down("b", true);
    engine.configure(config({"a", "b"}, k_failures), nullptr);
    REQUIRE(eventually([&] { return cursor(log, "a") == 0u && cursor(log, "b") == 0u; }));
    const auto s1 = append_completion(log, "r1", true);
    const auto s2 = append_completion(log, "r2", true);
    const auto s3 = append_completion(log, "r1", false);
    REQUIRE(eventually([&] { return r.seqs("a").size() == 3; }));
    CHECK(r.seqs("a") == std::vector<std::uint64_t>{s1, s2, s3});
    CHECK(r.got["a"][2].kind == EventKind::recovered);
    CHECK(eventually([&] { return cursor(log, "a") == s3; }));
    // b keeps failing on its first notification and its cursor stays before it.
    REQUIRE(eventually([&] {
        for (const auto& h : engine.health())
            if (h.name == "notify.b") return h.consecutive_failures >= 3;
        return false;
    }));
    CHECK(cursor(log, "b") == 0u);
    CHECK(r.seqs("b").empty());
    for (const auto& h : engine.health()) {
        if (h.name == "notify.a") {
            CHECK(h.delivered_total == 3);
            CHECK(h.consecutive_failures == 0);
            CHECK(h.lag == 0);
        } else {
            CHECK(h.last_error == "HTTP 503");
            CHECK(h.lag == 3);
        }
    }
    r.set_down("b", false);
    REQUIRE(eventually([&] { return r.seqs("b").size() == 3; }));
    CHECK(r.seqs("b") == std::vector<std::uint64_t>{s1, s2, s3});
    CHECK(eventually([&] { return cursor(log, "b") == s3; }));
}

TEST_CASE(
    "a restart resumes at the durable cursor with the failure counts: nothing lost, nothing "
    "twice") {
    MemoryEventLog log;
    Receivers r;
    auto after2 = config({"a"}, k_failures);
    const_cast<Rule&>(after2->rules[0]).after = 2;
    {
        NotifyEngine engine(log, options(r));
        engine.configure(after2, nullptr);
        REQUIRE(eventually([&] { return cursor(log, "a") == 0u; }));
        append_completion(log, "r1", true);  // one failure: counted, not yet notified
        REQUIRE(eventually([&] { return cursor(log, "a") == 1u; }));
    }
    const auto s2 = append_completion(log, "r1", true);  // while stopped: the second in a row
    const auto s3 = append_completion(log, "r1", false);
    NotifyEngine engine(log, options(r));
    engine.configure(after2, nullptr);
    REQUIRE(eventually([&] { return r.seqs("a").size() == 2; }));
    CHECK(r.seqs("a") == std::vector<std::uint64_t>{s2, s3});
    CHECK(r.got["a"][0].failures == 2);
    CHECK(r.got["a"][1].kind == EventKind::recovered);
    std::this_thread::sleep_for(50ms);
    CHECK(r.seqs("a").size() == 2);
}

TEST_CASE("stopped during a delivery: that notification is sent again after the restart") {
    MemoryEventLog log;
    Receivers r;
    r.set_down("a", true);
    {
        NotifyEngine engine(log, options(r));
        engine.configure(config({"a"}, k_failures), nullptr);
        REQUIRE(eventually([&] { return cursor(log, "a") == 0u; }));
        append_completion(log, "r1", true);
        append_completion(log, "r2", true);
        REQUIRE(eventually([&] { return r.attempts >= 2; }));
    }  // stopped while retrying the first
    CHECK(cursor(log, "a") == 0u);
    r.set_down("a", false);
    NotifyEngine engine(log, options(r));
    engine.configure(config({"a"}, k_failures), nullptr);
    REQUIRE(eventually([&] { return r.seqs("a").size() == 2; }));
    CHECK(r.seqs("a") == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("a new target starts at the end of the log, not at its start; a removed one stops") {
    MemoryEventLog log;
    append_completion(log, "r1", true);
    append_completion(log, "r1", true);
    Receivers r;
    NotifyEngine engine(log, options(r));
    engine.configure(config({"a"}, k_failures), nullptr);
    REQUIRE(eventually([&] { return cursor(log, "a") == 2u; }));
    const auto s3 = append_completion(log, "r2", true);
    REQUIRE(eventually([&] { return r.seqs("a").size() == 1; }));
    CHECK(r.seqs("a")[0] == s3);
    engine.configure(config({"b"}, k_failures), nullptr);
    REQUIRE(eventually(
        [&] { return engine.health().size() == 1 && engine.health()[0].name == "notify.b"; }));
    engine.configure(nullptr, nullptr);
    CHECK(eventually([&] { return engine.health().empty(); }));
}

TEST_CASE("config_changed waits for the git writer's durable cursor and carries both commits") {
    MemoryEventLog log;
    Receivers r;
    // A repository that does not exist: the diff cannot be read, the notification still goes.
    NotifyEngine engine(log, options(r, "/nonexistent/repo.git"));
    REQUIRE(log.put_meta(std::string(gitwriter::k_cursor_key), "0").is_ok());
    engine.configure(config({"a"}, {EventKind::config_changed}), nullptr);
    REQUIRE(eventually([&] { return cursor(log, "a") == 0u; }));
    const auto s1 = append_completion(log, "r1", false);
    const auto s2 = append_completion(log, "r1", false);
    const auto blob1 = std::string(40, 'a'), commit1 = std::string(40, '1');
    const auto blob2 = std::string(40, 'b'), commit2 = std::string(40, '2');
    REQUIRE(log.put_meta(gitwriter::applied_key(s1),
                         gitwriter::format_applied_record({blob1, commit1, "r1/show_run"}))
                .is_ok());
    REQUIRE(log.put_meta(gitwriter::applied_key(s2),
                         gitwriter::format_applied_record({blob2, commit2, "r1/show_run"}))
                .is_ok());
    std::this_thread::sleep_for(100ms);
    CHECK(r.seqs("a").empty());  // the writer's records are not durable before its cursor
    REQUIRE(log.put_meta(std::string(gitwriter::k_cursor_key), std::to_string(s2)).is_ok());
    REQUIRE(eventually([&] { return r.seqs("a").size() == 2; }));
    const Notification& first = r.got["a"][0];
    CHECK(first.new_commit == commit1);
    CHECK(first.old_commit.empty());
    const Notification& second = r.got["a"][1];
    CHECK(second.kind == EventKind::config_changed);
    CHECK(second.old_commit == commit1);
    CHECK(second.new_commit == commit2);
    CHECK(second.path == "r1/show_run");
    CHECK(second.error == "the diff could not be read from git");
}

// A target removed while its delivery is in flight and added again before that delivery
// ends: the old thread must be gone before the new one reads the cursor, or both deliver
// at once and the old one's last cursor write (behind the new one's) is what stays.
TEST_CASE("a target removed and re-added during a delivery: one thread at a time, cursor kept") {
    MemoryEventLog log;
    Receivers r;
    std::atomic<bool> hold{true};
    std::atomic<int> calls{0}, in_flight{0}, most_at_once{0};
    NotifyEngineOptions o = options(r);
    o.deliver = [&](const Target& t, const Notification& n, unix_time, const std::atomic<bool>*) {
        const int now = ++in_flight;
        int seen = most_at_once.load();
        while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
        }
        // The first delivery takes long and ends well (it ignores the stop, as a transfer
        // finishing on its own does).
        if (calls++ == 0)
            while (hold) std::this_thread::sleep_for(1ms);
        auto result = r.deliver(t, n);
        --in_flight;
        return result;
    };
    NotifyEngine engine(log, o);
    engine.configure(config({"a"}, k_failures), nullptr);
    REQUIRE(eventually([&] { return cursor(log, "a") == 0u; }));
    append_completion(log, "r1", true);  // backup_failed: the delivery that hangs
    REQUIRE(eventually([&] { return calls == 1; }));
    engine.configure(nullptr, nullptr);
    engine.configure(config({"a"}, k_failures), nullptr);
    append_completion(log, "r2", true);
    const auto last = append_completion(log, "r1", false);  // recovered
    std::this_thread::sleep_for(200ms);
    hold = false;
    REQUIRE(eventually([&] { return cursor(log, "a") == last && in_flight == 0; }));
    std::this_thread::sleep_for(200ms);  // a thread that ended late would have written by now
    CHECK(cursor(log, "a") == last);
    CHECK(most_at_once == 1);
    engine.stop();
    CHECK(cursor(log, "a") == last);
    // The failure counts went with the cursor: r1 recovered, r2 is still failing.
    auto failures = log.get_meta(failures_key("a"));
    REQUIRE(failures.is_ok());
    CHECK(*failures == "1 1 r2/show_run\n");
}
