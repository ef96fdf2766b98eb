#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "netkeep/event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<EventLog> open_or_fail(const fs::path& dir) {
    auto log = open_event_log((dir / "log").string());
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    return std::move(*log);
}

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

}  // namespace

TEST_CASE("appends get consecutive sequence numbers starting at 1") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    CHECK(log->last_seq() == 0);

    auto first = log->append({expired(1)});
    REQUIRE(first.is_ok());
    CHECK(*first == SeqRange{1, 1});

    auto next = log->append({expired(2), expired(3), expired(4)});
    REQUIRE(next.is_ok());
    CHECK(*next == SeqRange{2, 4});
    CHECK(log->last_seq() == 4);

    CHECK(log->append({}).status().code() == Status::Code::invalid_argument);
}

TEST_CASE("scan visits records in order from any sequence number and can stop early") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    for (int i = 1; i <= 20; ++i) REQUIRE(log->append({expired(i)}).is_ok());

    auto from_7 = read_all(*log, 7);
    REQUIRE(from_7.size() == 14);
    CHECK(from_7.front().seq == 7);
    CHECK(from_7.front().event == expired(7));
    CHECK(from_7.back().seq == 20);

    std::vector<std::uint64_t> seen;
    Status s = log->scan(3, 10, [&](EventRecord&& r) {
        seen.push_back(r.seq);
        return r.seq < 5;
    });
    REQUIRE(s.is_ok());
    CHECK(seen == std::vector<std::uint64_t>{3, 4, 5});

    CHECK(read_all(*log, 21).empty());
}

TEST_CASE("the log and its meta values survive a reopen") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    {
        auto log = open_or_fail(dir.path());
        REQUIRE(log->append({expired(1), expired(2)}).is_ok());
        REQUIRE(log->put_meta("gitwriter.cursor", "2").is_ok());
        REQUIRE(log->put_meta_batch({{"a", "1"}, {"b", "2"}, {"gitwriter.cursor", "2"}}).is_ok());
    }
    auto log = open_or_fail(dir.path());
    CHECK(log->last_seq() == 2);
    auto again = log->append({expired(3)});
    REQUIRE(again.is_ok());
    CHECK(again->first == 3);
    CHECK(read_all(*log).size() == 3);

    auto cursor = log->get_meta("gitwriter.cursor");
    REQUIRE(cursor.is_ok());
    CHECK(*cursor == "2");
    CHECK(log->get_meta("absent").status().code() == Status::Code::not_found);
    CHECK(log->get_meta("b").value() == "2");

    REQUIRE(log->put_meta_batch(
                   {{"rec.002", "two"}, {"rec.001", "one"}, {"rec.010", "ten"}, {"red", "x"}})
                .is_ok());
    std::vector<std::string> seen;
    REQUIRE(log->scan_meta("rec.",
                           [&](std::string_view k, std::string_view v) {
                               seen.push_back(std::string(k) + "=" + std::string(v));
                               return true;
                           })
                .is_ok());
    CHECK(seen == std::vector<std::string>{"rec.001=one", "rec.002=two", "rec.010=ten"});
    seen.clear();
    REQUIRE(log->scan_meta("rec.",
                           [&](std::string_view k, std::string_view) {
                               seen.emplace_back(k);
                               return false;
                           })
                .is_ok());
    CHECK(seen.size() == 1);
}

TEST_CASE("a second open of the same directory is refused while the first is open") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    auto second = open_event_log((dir.path() / "log").string());
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().message().find("another netkeepd") != std::string::npos);
}

TEST_CASE("concurrent appenders get disjoint ranges and the log stays gapless") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    constexpr int k_threads = 16;
    constexpr int k_per_thread = 50;
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::vector<SeqRange> ranges;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < k_per_thread; ++i) {
                auto r = log->append({expired(t * 1000 + i), expired(t * 1000 + i)});
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
    auto all = read_all(*log);
    REQUIRE(all.size() == seqs.size());
    for (auto r : ranges) CHECK(all[r.first - 1].event == all[r.last - 1].event);
}

TEST_CASE("a tailing consumer wakes on new events without polling") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    std::atomic<std::uint64_t> seen{0};
    std::thread consumer([&] {
        std::uint64_t cursor = 0;
        while (cursor < 3) {
            cursor = log->wait_for(cursor, 5s);
            seen = cursor;
        }
    });
    std::this_thread::sleep_for(50ms);
    CHECK(seen == 0);
    REQUIRE(log->append({expired(1), expired(2), expired(3)}).is_ok());
    consumer.join();
    CHECK(seen == 3);

    // A timeout returns the current position without new events.
    auto start = std::chrono::steady_clock::now();
    CHECK(log->wait_for(3, 30ms) == 3);
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
}

TEST_CASE("close wakes waiters and later appends are refused") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    std::thread waiter([&] { CHECK(log->wait_for(0, 10s) == 0); });
    std::this_thread::sleep_for(20ms);
    auto start = std::chrono::steady_clock::now();
    log->close();
    waiter.join();
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(log->append({expired(1)}).status().code() == Status::Code::unavailable);
}

TEST_CASE("append_async calls back once the events are durable") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_or_fail(dir.path());
    std::promise<Result<SeqRange>> done;
    log->append_async({expired(1)}, [&](Result<SeqRange> r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    REQUIRE(r.is_ok());
    CHECK(*r == SeqRange{1, 1});
    CHECK(log->last_seq() == 1);
}
