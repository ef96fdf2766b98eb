// The state engine in-process: an in-memory event log (store/memory_event_log.hpp: the
// log's contract, records encoded as on disk), the inventory in a temp dir, an
// io_context run by the test, and a clock the test moves. Lease expiry and reload are checked by
// driving time and calling the engine, never by sleeping.
#include <doctest/doctest.h>

#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>

#include "engine/engine.hpp"
#include "engine/held_tasks.hpp"
#include "netkeep/snapshot.hpp"
#include "store/memory_event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using namespace netkeep::engine;

namespace {

constexpr unix_time t0 = 1'700'000'000;

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

std::string devices_json(const std::vector<std::string>& names) {
    std::string devices;
    for (const auto& name : names) {
        if (!devices.empty()) devices += ',';
        devices += R"({"name": ")" + name + R"(", "host": "127.0.0.1", "tags": ["core"],
                       "credentials": {"user": "u", "pass": "secret"}})";
    }
    return R"({"devices": [)" + devices + "]}";
}

const std::string k_jobs = R"({"jobs": [{"name": "run", "schedule": {"interval": 3600},
    "command": {"inline": ["show run"]}, "timeout": 100, "retry_delay": 30, "max_attempts": 2}]})";

testing::TempDir make_dir() {
    auto dir = testing::TempDir::create("netkeep-engine");
    REQUIRE(dir.is_ok());
    return std::move(*dir);
}

// An engine over an in-memory log, with the clock at `clock`.
struct Fixture {
    testing::TempDir dir = make_dir();
    std::unique_ptr<EventLog> log = std::make_unique<MemoryEventLog>();
    asio::io_context io;
    asio::thread_pool blocking{2};
    unix_time clock = t0;

    Fixture() {
        std::filesystem::create_directories(dir / "inventory");
        write_file(dir / "inventory" / "devices.json", devices_json({"a", "b"}));
        write_file(dir / "inventory" / "jobs.json", k_jobs);
    }
    ~Fixture() { blocking.join(); }

    Engine make_engine() {
        return Engine(io, blocking, *log,
                      {.inventory_dir = (dir / "inventory").string(),
                       .auth_file = {},
                       .expiry_tick = std::chrono::milliseconds(250),
                       .now = [this] { return clock; },
                       .load_beside = {}});
    }

    // Runs `awaitables` on the io_context until all complete; rethrows what one threw.
    void run_all(std::vector<asio::awaitable<void>> awaitables) {
        std::exception_ptr failure;
        for (auto& a : awaitables)
            asio::co_spawn(io, std::move(a), [&](std::exception_ptr e) {
                if (e) failure = e;
            });
        io.restart();
        io.run();
        if (failure) std::rethrow_exception(failure);
    }
    void run(asio::awaitable<void> awaitable) {
        std::vector<asio::awaitable<void>> one;
        one.push_back(std::move(awaitable));
        run_all(std::move(one));
    }
    // Result<T> is not default-constructible, which co_spawn's completion needs.
    template <class T>
    T run(asio::awaitable<T> awaitable) {
        std::optional<T> result;
        run(store(std::move(awaitable), result));
        return std::move(*result);
    }
    template <class T>
    static asio::awaitable<void> store(asio::awaitable<T> awaitable, std::optional<T>& out) {
        out.emplace(co_await std::move(awaitable));
    }

    std::vector<EventType> types(std::uint64_t from) {
        std::vector<EventType> out;
        Status s = log->scan(from, log->last_seq(), [&](EventRecord&& r) {
            out.push_back(type_of(r.event));
            return true;
        });
        REQUIRE(s.is_ok());
        return out;
    }
};

// Leases every due task through the engine's one path, as /worker/next does.
asio::awaitable<Result<SeqRange>> lease_all(Engine& engine) {
    std::vector<Event> grants;
    held_tasks held(engine.projection());
    for (task_id id : engine.projection().due({}, engine.now(), 100)) {
        grants.push_back(decide_grant(engine.projection(), id, engine.now(), "w1", ""));
        held.hold(id);
    }
    co_return co_await engine.append_and_apply(std::move(grants));
}

}  // namespace

TEST_CASE("start appends the inventory once; a restart on the same files appends nothing") {
    Fixture f;
    {
        Engine engine = f.make_engine();
        REQUIRE(engine.start().is_ok());
        CHECK(f.types(1) == std::vector<EventType>{EventType::inventory_applied});
        CHECK(engine.projection().task_count() == 2);
        CHECK(engine.resolved().devices.size() == 2);
        CHECK(engine.started_at() == t0);
    }
    Engine again = f.make_engine();
    REQUIRE(again.start().is_ok());
    CHECK(f.log->last_seq() == 1);
    CHECK(again.projection().last_seq() == 1);
}

TEST_CASE("a lease expires when the clock reaches its deadline, not before") {
    Fixture f;
    Engine engine = f.make_engine();
    REQUIRE(engine.start().is_ok());
    f.clock = t0 + 3600;  // every interval task is due by now
    auto leased = f.run(lease_all(engine));
    REQUIRE(leased.is_ok());
    CHECK(leased->last - leased->first + 1 == 2);
    CHECK(engine.event_counts().leases_granted == 2);
    const auto id = *engine.projection().find("a", "run");
    const unix_time deadline = engine.projection().task(id).lease->deadline;

    // A second before the deadline the lease still runs: the pass looks, and appends nothing.
    f.clock = deadline - 1;
    const std::uint64_t before = f.log->last_seq();
    f.run(engine.expire_due_leases());
    CHECK(f.log->last_seq() == before);
    CHECK(engine.projection().task(id).lease.has_value());

    f.clock = deadline;
    f.run(engine.expire_due_leases());
    CHECK(f.types(before + 1) ==
          std::vector<EventType>{EventType::lease_expired, EventType::lease_expired});
    CHECK(!engine.projection().task(id).lease.has_value());
    CHECK(engine.event_counts().leases_expired == 2);
}

TEST_CASE(
    "reload: a changed inventory is appended, an unchanged one is not, a bad one is refused") {
    Fixture f;
    Engine engine = f.make_engine();
    REQUIRE(engine.start().is_ok());

    auto unchanged = f.run(engine.reload());
    REQUIRE(unchanged.is_ok());
    CHECK(*unchanged == 0);

    write_file(f.dir / "inventory" / "devices.json", devices_json({"a", "b", "c"}));
    auto applied = f.run(engine.reload());
    REQUIRE(applied.is_ok());
    CHECK(*applied == 2);
    CHECK(engine.projection().find("c", "run").has_value());
    CHECK(engine.resolved().devices.size() == 3);

    write_file(f.dir / "inventory" / "jobs.json", R"({"jobs": [{"name": 5}]})");
    auto refused = f.run(engine.reload());
    CHECK(!refused.is_ok());
    CHECK(refused.status().code() == Status::Code::invalid_argument);
    CHECK(f.log->last_seq() == 2);
    CHECK(engine.projection().task_count() == 3);
}

TEST_CASE("a second reload while one runs is refused, not interleaved") {
    Fixture f;
    Engine engine = f.make_engine();
    REQUIRE(engine.start().is_ok());
    write_file(f.dir / "inventory" / "devices.json", devices_json({"a", "b", "c"}));
    std::optional<Result<std::uint64_t>> first, second;
    std::vector<asio::awaitable<void>> both;
    both.push_back(Fixture::store(engine.reload(), first));
    both.push_back(Fixture::store(engine.reload(), second));
    f.run_all(std::move(both));
    REQUIRE(first->is_ok());
    CHECK(**first == 2);
    CHECK(second->status().code() == Status::Code::unavailable);
}

TEST_CASE("events are counted by kind") {
    EventCounts c;
    c.count({LeaseGranted{}, LeaseGranted{}, LeaseExpired{},
             CompletionRecorded{1, "d", "j", 0, 0, 0, std::nullopt, 100, {}, {}, {}},
             CompletionRecorded{1, "d", "j", 0, 0, 0, std::string("x"), 5, {}, {}, {}},
             OccurrenceClosed{1, "d", "j", 0, CloseReason::failed},
             OccurrenceClosed{1, "d", "j", 0, CloseReason::succeeded}, RunRequested{}});
    CHECK(c.leases_granted == 2);
    CHECK(c.leases_expired == 1);
    CHECK(c.completions_ok == 1);
    CHECK(c.completions_failed == 1);
    CHECK(c.bytes_ingested == 105);
    CHECK(c.occurrences_failed == 1);
    CHECK(c.run_requests == 1);
}

// Issue 16: start-up from the newest valid snapshot replays only the tail, and ends in the
// state a full replay builds; a snapshot ahead of the log or damaged is skipped.
TEST_CASE("start-up loads the newest valid snapshot and replays only the tail") {
    Fixture f;
    const std::string snaps = (f.dir / "snapshots").string();
    {
        Engine first = f.make_engine();
        REQUIRE(first.start().is_ok());
        // Lease both tasks, then snapshot the state, then expire one lease (the tail).
        std::vector<Event> grants;
        for (task_id id : first.projection().due({}, f.clock, 10))
            grants.push_back(decide_grant(first.projection(), id, f.clock, "w"));
        REQUIRE(f.log->append(grants).is_ok());
        Projection p;
        REQUIRE(replay(*f.log, f.log->last_seq(), p).is_ok());
        std::uint32_t check = 0;
        REQUIRE(f.log
                    ->scan(p.last_seq(), p.last_seq(),
                           [&](EventRecord&& r) {
                               check = snapshot_event_check(r.event);
                               return false;
                           })
                    .is_ok());
        REQUIRE(write_snapshot(snaps, p, f.clock, check).is_ok());
        REQUIRE(f.log->append(decide_expiry(p, 0, f.clock + 200)).is_ok());
    }
    Projection full;
    REQUIRE(replay(*f.log, f.log->last_seq(), full).is_ok());
    const std::uint64_t snapshot_seq = list_snapshots(snaps).at(0).seq;

    Engine from_snapshot = f.make_engine();
    from_snapshot.use_snapshots(snaps);
    REQUIRE(from_snapshot.start().is_ok());
    CHECK(from_snapshot.from_snapshot() == snapshot_seq);
    CHECK(encode_snapshot(from_snapshot.projection(), 0) == encode_snapshot(full, 0));

    // Ahead of the log (a log restored from an older backup): skipped, a full replay.
    auto ahead = load_snapshot(list_snapshots(snaps).at(0).path);
    REQUIRE(ahead.is_ok());
    Projection far = std::move(*ahead);
    REQUIRE(f.log->append({LeaseExpired{f.clock + 300, "a", "run", 0}}).is_ok());
    REQUIRE(replay(*f.log, f.log->last_seq(), far).is_ok());
    std::filesystem::remove_all(snaps);
    REQUIRE(write_snapshot(snaps, far, f.clock, 0).is_ok());
    {
        std::unique_ptr<EventLog> shorter = std::make_unique<MemoryEventLog>();
        REQUIRE(f.log
                    ->scan(1, snapshot_seq,
                           [&](EventRecord&& r) { return shorter->append({r.event}).is_ok(); })
                    .is_ok());
        std::swap(f.log, shorter);
        Engine restored = f.make_engine();
        restored.use_snapshots(snaps);
        REQUIRE(restored.start().is_ok());
        CHECK(restored.from_snapshot() == 0);
        CHECK(restored.projection().last_seq() == snapshot_seq);
        std::swap(f.log, shorter);
    }
    // Damaged: skipped, a full replay, never a refused start.
    {
        const std::string path = list_snapshots(snaps).at(0).path;
        std::ofstream(path, std::ios::trunc) << "not a snapshot";
        Engine damaged = f.make_engine();
        damaged.use_snapshots(snaps);
        REQUIRE(damaged.start().is_ok());
        CHECK(damaged.from_snapshot() == 0);
        CHECK(damaged.projection().last_seq() == f.log->last_seq());
    }
}
