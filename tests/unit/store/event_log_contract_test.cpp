// The EventLog contract (include/netkeep/event_log.hpp), run against every implementation:
// the RocksDB log and the in-memory one tests use in its place. What passes here for the
// memory log can be relied on by tests that run the engine or the git writer on it.
// What only one implementation has is tested beside it: rocks_event_log_test.cpp (a
// directory, its lock), log_faults_test.cpp (RocksDB's faults), memory_event_log_test.cpp
// (the memory log's test hooks).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "netkeep/event_log.hpp"
#include "store/memory_event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// A log under test; reopen() closes it and opens another on the same storage (a restart).
struct RocksLog {
    TempDir dir = TempDir::create("netkeep-log-contract").value();
    std::unique_ptr<EventLog> log;

    RocksLog() { log = open_again().value(); }
    Result<std::unique_ptr<EventLog>> open_again() {
        return open_event_log((dir.path() / "log").string());
    }
    void reopen() {
        log->close();
        log.reset();
        auto opened = open_again();
        REQUIRE_MESSAGE(opened.is_ok(), opened.status().to_string());
        log = std::move(*opened);
    }
};

struct MemoryLog {
    std::shared_ptr<MemoryEventStore> store;
    std::unique_ptr<EventLog> log;

    MemoryLog() {
        auto memory = std::make_unique<MemoryEventLog>();
        store = memory->store();
        log = std::move(memory);
    }
    Result<std::unique_ptr<EventLog>> open_again() {
        auto opened = MemoryEventLog::open(store);
        if (!opened) return opened.status();
        return std::unique_ptr<EventLog>(std::move(*opened));
    }
    void reopen() {
        log->close();
        log.reset();
        auto opened = open_again();
        REQUIRE_MESSAGE(opened.is_ok(), opened.status().to_string());
        log = std::move(*opened);
    }
};

Event expired(int i) { return LeaseExpired{i, "dev-" + std::to_string(i), "job", i}; }

std::vector<EventRecord> read_all(const EventLog& log, std::uint64_t from = 1) {
    std::vector<EventRecord> out;
    Status s = log.scan(from, UINT64_MAX, [&](EventRecord&& r) {
        out.push_back(std::move(r));
        return true;
    });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return out;
}

std::vector<std::string> meta_with_prefix(const EventLog& log, std::string_view prefix) {
    std::vector<std::string> seen;
    Status s = log.scan_meta(prefix, [&](std::string_view k, std::string_view v) {
        seen.push_back(std::string(k) + "=" + std::string(v));
        return true;
    });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return seen;
}

}  // namespace

TEST_CASE_TEMPLATE("appends get consecutive sequence numbers starting at 1", L, RocksLog,
                   MemoryLog) {
    L l;
    CHECK(l.log->last_seq() == 0);
    CHECK(read_all(*l.log).empty());

    auto first = l.log->append({expired(1)});
    REQUIRE(first.is_ok());
    CHECK(*first == SeqRange{1, 1});

    auto next = l.log->append({expired(2), expired(3), expired(4)});
    REQUIRE(next.is_ok());
    CHECK(*next == SeqRange{2, 4});
    CHECK(l.log->last_seq() == 4);

    CHECK(l.log->append({}).status().code() == Status::Code::invalid_argument);
    CHECK(l.log->last_seq() == 4);
}

TEST_CASE_TEMPLATE("scan visits records in order from any sequence number and can stop early", L,
                   RocksLog, MemoryLog) {
    L l;
    for (int i = 1; i <= 20; ++i) REQUIRE(l.log->append({expired(i)}).is_ok());

    auto from_7 = read_all(*l.log, 7);
    REQUIRE(from_7.size() == 14);
    CHECK(from_7.front().seq == 7);
    CHECK(from_7.front().event == expired(7));
    CHECK(from_7.back().seq == 20);
    CHECK(read_all(*l.log, 0).size() == 20);  // 0 reads from the first record

    std::vector<std::uint64_t> seen;
    Status s = l.log->scan(3, 10, [&](EventRecord&& r) {
        seen.push_back(r.seq);
        return r.seq < 5;
    });
    REQUIRE(s.is_ok());
    CHECK(seen == std::vector<std::uint64_t>{3, 4, 5});

    seen.clear();
    REQUIRE(l.log
                ->scan(18, 25,
                       [&](EventRecord&& r) {
                           seen.push_back(r.seq);
                           return true;
                       })
                .is_ok());
    CHECK(seen == std::vector<std::uint64_t>{18, 19, 20});  // clipped to the last record
    CHECK(read_all(*l.log, 21).empty());
}

TEST_CASE_TEMPLATE("the log and its meta values survive a reopen", L, RocksLog, MemoryLog) {
    L l;
    REQUIRE(l.log->append({expired(1), expired(2)}).is_ok());
    REQUIRE(l.log->put_meta("gitwriter.cursor", "1").is_ok());
    REQUIRE(l.log->put_meta_batch({{"a", "1"}, {"b", "2"}, {"gitwriter.cursor", "2"}}).is_ok());
    l.reopen();

    CHECK(l.log->last_seq() == 2);
    auto again = l.log->append({expired(3)});
    REQUIRE(again.is_ok());
    CHECK(again->first == 3);
    auto all = read_all(*l.log);
    REQUIRE(all.size() == 3);
    CHECK(all[1].event == expired(2));

    CHECK(l.log->get_meta("gitwriter.cursor").value() == "2");  // the batch's value won
    CHECK(l.log->get_meta("absent").status().code() == Status::Code::not_found);
    CHECK(l.log->get_meta("b").value() == "2");
}

TEST_CASE_TEMPLATE("scan_meta visits a prefix's values in key order and can stop early", L,
                   RocksLog, MemoryLog) {
    L l;
    REQUIRE(l.log
                ->put_meta_batch(
                    {{"rec.002", "two"}, {"rec.001", "one"}, {"rec.010", "ten"}, {"red", "x"}})
                .is_ok());
    CHECK(meta_with_prefix(*l.log, "rec.") ==
          std::vector<std::string>{"rec.001=one", "rec.002=two", "rec.010=ten"});
    CHECK(meta_with_prefix(*l.log, "none.").empty());
    std::vector<std::string> seen;
    REQUIRE(l.log
                ->scan_meta("rec.",
                            [&](std::string_view k, std::string_view) {
                                seen.emplace_back(k);
                                return false;
                            })
                .is_ok());
    CHECK(seen == std::vector<std::string>{"rec.001"});
}

namespace {
std::vector<std::string> meta_range(const EventLog& log, std::string_view prefix,
                                    std::string_view start, bool reverse, std::size_t max = 100) {
    std::vector<std::string> seen;
    Status s = log.scan_meta_range(prefix, {.start = start, .reverse = reverse},
                                   [&](std::string_view k, std::string_view) {
                                       seen.emplace_back(k);
                                       return seen.size() < max;
                                   });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return seen;
}
using Keys = std::vector<std::string>;
}  // namespace

TEST_CASE_TEMPLATE("scan_meta_range seeks: forward from a key, reverse below one", L, RocksLog,
                   MemoryLog) {
    L l;
    REQUIRE(l.log
                ->put_meta_batch({{"rec.001", "1"},
                                  {"rec.002", "2"},
                                  {"rec.010", "10"},
                                  {"rea", "x"},
                                  {"red", "x"},
                                  {std::string("rec\xff", 4), "x"},
                                  {std::string("\xff\xff", 2), "x"}})
                .is_ok());
    // Forward: keys >= start; a start before the prefix is the whole prefix.
    CHECK(meta_range(*l.log, "rec.", "", false) == Keys{"rec.001", "rec.002", "rec.010"});
    CHECK(meta_range(*l.log, "rec.", "rec.002", false) == Keys{"rec.002", "rec.010"});
    CHECK(meta_range(*l.log, "rec.", "rec.003", false) == Keys{"rec.010"});
    CHECK(meta_range(*l.log, "rec.", "a", false) == Keys{"rec.001", "rec.002", "rec.010"});
    CHECK(meta_range(*l.log, "rec.", "z", false).empty());
    // Reverse: keys < start, descending; an empty start is the prefix's last key.
    CHECK(meta_range(*l.log, "rec.", "", true) == Keys{"rec.010", "rec.002", "rec.001"});
    CHECK(meta_range(*l.log, "rec.", "rec.010", true) == Keys{"rec.002", "rec.001"});
    CHECK(meta_range(*l.log, "rec.", "rec.005", true) == Keys{"rec.002", "rec.001"});
    CHECK(meta_range(*l.log, "rec.", "rec.001", true).empty());
    CHECK(meta_range(*l.log, "rec.", "rec.", true).empty());
    CHECK(meta_range(*l.log, "rec.", "z", true) == Keys{"rec.010", "rec.002", "rec.001"});
    CHECK(meta_range(*l.log, "rec.", "", true, 1) == Keys{"rec.010"});  // stops early
    CHECK(meta_range(*l.log, "none.", "", true).empty());
    // A prefix ending in 0xff bytes, and one that is nothing but: no key after it to seek.
    CHECK(meta_range(*l.log, std::string("rec\xff", 4), "", true) ==
          Keys{std::string("rec\xff", 4)});
    CHECK(meta_range(*l.log, std::string("\xff", 1), "", true) == Keys{std::string("\xff\xff", 2)});
}

TEST_CASE_TEMPLATE("a second open of the same storage is refused while the first is open", L,
                   RocksLog, MemoryLog) {
    L l;
    auto second = l.open_again();
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == Status::Code::unavailable);
    l.log->close();
    auto third = l.open_again();  // closing released it
    CHECK(third.is_ok());
}

TEST_CASE_TEMPLATE("concurrent appenders get disjoint ranges and the log stays gapless", L,
                   RocksLog, MemoryLog) {
    L l;
    constexpr int k_threads = 16;
    constexpr int k_per_thread = 50;
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::vector<SeqRange> ranges;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < k_per_thread; ++i) {
                auto r = l.log->append({expired(t * 1000 + i), expired(t * 1000 + i)});
                REQUIRE(r.is_ok());
                std::lock_guard lock(mutex);
                ranges.push_back(*r);
            }
        });
    for (auto& t : threads) t.join();

    std::set<std::uint64_t> seqs;
    for (auto r : ranges) {
        CHECK(r.last == r.first + 1);
        seqs.insert(r.first);
        seqs.insert(r.last);
    }
    CHECK(seqs.size() == std::size_t(k_threads * k_per_thread * 2));
    CHECK(*seqs.begin() == 1);
    CHECK(*seqs.rbegin() == std::uint64_t(k_threads * k_per_thread * 2));
    // Both events of one append are adjacent and identical: appends are atomic.
    auto all = read_all(*l.log);
    REQUIRE(all.size() == seqs.size());
    for (auto r : ranges) CHECK(all[r.first - 1].event == all[r.last - 1].event);
}

// No fixed sleep: the consumer blocks for up to a minute, so returning at all (well before
// the minute, checked generously) shows that the append woke it.
TEST_CASE_TEMPLATE("a tailing consumer wakes on new events without polling", L, RocksLog,
                   MemoryLog) {
    L l;
    std::promise<std::uint64_t> woke;
    const auto start = std::chrono::steady_clock::now();
    std::thread consumer([&] {
        std::uint64_t cursor = 0;
        while (cursor < 3) cursor = l.log->wait_for(cursor, 60s);
        woke.set_value(cursor);
    });
    REQUIRE(l.log->append({expired(1), expired(2), expired(3)}).is_ok());
    consumer.join();
    CHECK(woke.get_future().get() == 3);
    CHECK(std::chrono::steady_clock::now() - start < 30s);

    // A timeout returns the current position without new events, not before the timeout.
    const auto waited_from = std::chrono::steady_clock::now();
    CHECK(l.log->wait_for(3, 30ms) == 3);
    CHECK(std::chrono::steady_clock::now() - waited_from >= 30ms);
    CHECK(l.log->wait_for(2, 60s) == 3);  // already past: no wait
}

TEST_CASE_TEMPLATE("close wakes waiters and later calls are refused", L, RocksLog, MemoryLog) {
    L l;
    REQUIRE(l.log->append({expired(1)}).is_ok());
    const auto start = std::chrono::steady_clock::now();
    std::thread waiter([&] { CHECK(l.log->wait_for(1, 60s) == 1); });
    // Kept sleep: gives the waiter time to block in wait_for (no hook can tell); if it has
    // not yet, wait_for on a closed log returns at once and the test still holds.
    std::this_thread::sleep_for(20ms);
    l.log->close();
    waiter.join();
    CHECK(std::chrono::steady_clock::now() - start < 30s);  // woken, not timed out

    l.log->close();  // idempotent
    CHECK(l.log->append({expired(2)}).status().code() == Status::Code::unavailable);
    CHECK(l.log->put_meta("k", "v").code() == Status::Code::unavailable);
    CHECK(l.log->get_meta("k").status().code() == Status::Code::unavailable);
    CHECK(l.log->scan(1, 1, [](EventRecord&&) { return true; }).code() ==
          Status::Code::unavailable);
    CHECK(l.log->wait_for(0, 60s) == 1);  // returns at once
}

TEST_CASE_TEMPLATE("close completes the appends it accepted", L, RocksLog, MemoryLog) {
    L l;
    constexpr int k_appends = 20;
    std::atomic<int> ok{0};
    std::atomic<int> called{0};
    for (int i = 1; i <= k_appends; ++i)
        l.log->append_async({expired(i)}, [&](Result<SeqRange> r) {
            if (r) ok += 1;
            called += 1;
        });
    l.log->close();
    CHECK(called == k_appends);
    CHECK(ok == k_appends);
    l.reopen();
    CHECK(l.log->last_seq() == std::uint64_t(k_appends));
}

TEST_CASE_TEMPLATE("append_async calls back on the writer thread once the events are durable", L,
                   RocksLog, MemoryLog) {
    L l;
    std::promise<std::pair<Result<SeqRange>, std::thread::id>> done;
    l.log->append_async({expired(1), expired(2)}, [&](Result<SeqRange> r) {
        done.set_value({std::move(r), std::this_thread::get_id()});
    });
    auto [r, thread] = done.get_future().get();
    REQUIRE(r.is_ok());
    CHECK(*r == SeqRange{1, 2});
    CHECK(thread != std::this_thread::get_id());
    CHECK(l.log->last_seq() == 2);  // visible once called back

    // Nothing to append is refused at once, on the caller's thread.
    std::optional<Status> empty;
    l.log->append_async({}, [&](Result<SeqRange> r) { empty = r.status(); });
    REQUIRE(empty.has_value());
    CHECK(empty->code() == Status::Code::invalid_argument);
}

TEST_CASE_TEMPLATE("a fresh log is healthy and records its writes", L, RocksLog, MemoryLog) {
    L l;
    LogHealth h = l.log->health();
    CHECK(h.state == LogHealth::State::ok);
    CHECK(h.error.is_ok());
    REQUIRE(l.log->append({expired(1)}).is_ok());
    h = l.log->health();
    CHECK(h.last_write.has_value());
    CHECK(h.no_space_errors == 0);
    CHECK(h.io_errors == 0);
    CHECK(h.resumes == 0);
}
