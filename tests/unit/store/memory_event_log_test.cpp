// The in-memory EventLog's test hooks: the faults that put it in recovering or failed
// (the same states and refusals log_faults_test.cpp checks on RocksDB), holding writes,
// corrupt records. The contract itself is event_log_contract_test.cpp's. This binary
// links the memory log alone: it needs no RocksDB.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <vector>

#include "core/event_format.hpp"
#include "store/memory_event_log.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using netkeep::testing::wait_until;
using namespace std::chrono_literals;
using State = LogHealth::State;

namespace {

Event expired(int i) { return LeaseExpired{i, "dev-" + std::to_string(i), "job", i}; }

// A log that tries to resume often, and counts its on_failed calls.
struct Fixture {
    std::mutex mutex;
    std::vector<Status> failures;
    MemoryEventLog log{options()};

    EventLogOptions options() {
        EventLogOptions o;
        o.resume_every = 5ms;
        o.on_failed = [this](const Status& s) {
            std::lock_guard lock(mutex);
            failures.push_back(s);
        };
        return o;
    }
    std::size_t failure_count() {
        std::lock_guard lock(mutex);
        return failures.size();
    }
};

std::size_t count_records(const EventLog& log) {
    std::size_t n = 0;
    REQUIRE(log.scan(1, UINT64_MAX, [&](EventRecord&&) { return ++n, true; }).is_ok());
    return n;
}

}  // namespace

TEST_CASE("a memory log is one declaration away and stores its records encoded") {
    MemoryEventLog log;
    REQUIRE(log.append({expired(1), expired(2)}).is_ok());
    auto stored = log.store()->record(2);
    REQUIRE(stored.has_value());
    CHECK(*stored == event_format::encode(expired(2)));
    CHECK(log.store()->size() == 2);
}

TEST_CASE("a record that does not decode ends the scan with an error naming its seq") {
    MemoryEventLog log;
    REQUIRE(log.append({expired(1), expired(2), expired(3)}).is_ok());
    std::string bad = log.store()->record(2).value();
    bad.back() ^= 0x01;  // the checksum no longer matches
    log.store()->replace_record(2, bad);
    std::vector<std::uint64_t> seen;
    Status s = log.scan(1, 3, [&](EventRecord&& r) { return seen.push_back(r.seq), true; });
    CHECK(s.code() == Status::Code::corruption);
    CHECK(s.message().find("seq 2") != std::string::npos);
    CHECK(seen == std::vector<std::uint64_t>{1});
}

TEST_CASE("a failed sync fails the append and ends the log's writes; on_failed once") {
    Fixture f;
    REQUIRE(f.log.append({expired(1)}).is_ok());
    f.log.fail_next_write(WriteFault::sync_failed);
    auto failed = f.log.append({expired(2)});
    REQUIRE_FALSE(failed.is_ok());
    CHECK(failed.status().code() == Status::Code::io_error);
    CHECK(f.log.last_seq() == 1);  // not acknowledged, not visible
    LogHealth h = f.log.health();
    CHECK(h.state == State::failed);
    CHECK(h.io_errors == 1);
    CHECK(f.failure_count() == 1);

    CHECK(f.log.append({expired(3)}).status().code() == Status::Code::unavailable);
    CHECK(f.log.put_meta("k", "v").code() == Status::Code::unavailable);
    CHECK(f.failure_count() == 1);
    CHECK(count_records(f.log) == 1);  // reads still work

    // Failed is final: the writer thread never tries to resume it (a recovering log
    // resumes within resume_every; this one is checked after many such periods passed
    // for the appends above to go through the writer).
    CHECK(f.log.append({expired(4)}).status().code() == Status::Code::unavailable);
    CHECK(f.log.health().state == State::failed);
    CHECK(f.log.health().resumes == 0);

    // A restart may see the unacknowledged record: callers must not assume it absent.
    f.log.close();
    auto reopened = MemoryEventLog::open(f.log.store());
    REQUIRE(reopened.is_ok());
    CHECK((*reopened)->last_seq() == 2);
    CHECK((*reopened)->health().state == State::ok);
}

TEST_CASE("a failed sync of a meta write fails the log the same way") {
    Fixture f;
    f.log.fail_next_write(WriteFault::sync_failed);
    CHECK_FALSE(f.log.put_meta("gitwriter.cursor", "1").is_ok());
    CHECK(f.log.health().state == State::failed);
    CHECK(f.failure_count() == 1);
    CHECK(f.log.append({expired(1)}).status().code() == Status::Code::unavailable);
}

TEST_CASE("a transient write error fails that write only") {
    Fixture f;
    f.log.fail_next_write(WriteFault::transient);
    CHECK(f.log.append({expired(1)}).status().code() == Status::Code::io_error);
    CHECK(f.log.health().state == State::ok);
    CHECK(f.log.health().io_errors == 1);
    auto next = f.log.append({expired(2)});
    REQUIRE(next.is_ok());
    CHECK(next->first == 1);  // the failed append took no number
}

TEST_CASE("a full disk: writes fail fast with no_space until space returns, then resume") {
    Fixture f;
    REQUIRE(f.log.append({expired(1)}).is_ok());
    f.log.set_disk_full(true);
    CHECK(f.log.append({expired(100)}).status().code() == Status::Code::no_space);
    LogHealth h = f.log.health();
    CHECK(h.state == State::recovering);
    CHECK(h.error.code() == Status::Code::no_space);
    CHECK(f.log.put_meta("k", "v").code() == Status::Code::no_space);

    // Not vacuous: each failed resume attempt is counted, so wait for two of them before
    // checking that the log is still recovering.
    const auto errors = f.log.health().no_space_errors;
    REQUIRE(wait_until([&] { return f.log.health().no_space_errors >= errors + 2; }));
    CHECK(f.log.health().state == State::recovering);
    CHECK(f.log.last_seq() == 1);

    f.log.set_disk_full(false);
    REQUIRE(wait_until([&] { return f.log.health().state == State::ok; }));
    CHECK(f.log.health().resumes == 1);
    CHECK(f.failure_count() == 0);
    auto r = f.log.append({expired(2)});
    REQUIRE(r.is_ok());
    CHECK(r->first == 2);  // gapless: refused appends took no number
    CHECK(f.log.put_meta("k", "v").is_ok());
}

TEST_CASE("one no-space write: recovering, then resumed by the writer without an append") {
    Fixture f;
    f.log.fail_next_write(WriteFault::no_space);
    CHECK(f.log.put_meta("k", "v").code() == Status::Code::no_space);
    CHECK(f.log.health().state == State::recovering);
    REQUIRE(wait_until([&] { return f.log.health().state == State::ok; }));
    CHECK(f.log.put_meta("k", "v").is_ok());
}

TEST_CASE("held writes stay queued, unacknowledged, until released") {
    MemoryEventLog log;
    log.hold_writes();
    std::promise<Result<SeqRange>> done;
    log.append_async({expired(1)}, [&](Result<SeqRange> r) { done.set_value(std::move(r)); });
    auto result = done.get_future();
    CHECK(log.queued_appends() == 1);
    CHECK(log.last_seq() == 0);
    CHECK(result.wait_for(0s) == std::future_status::timeout);

    log.release_writes();
    auto r = result.get();
    REQUIRE(r.is_ok());
    CHECK(*r == SeqRange{1, 1});
    CHECK(log.queued_appends() == 0);
}

TEST_CASE("close writes held appends: everything accepted is written") {
    MemoryEventLog log;
    log.hold_writes();
    std::atomic<int> ok{0};
    for (int i = 1; i <= 3; ++i)
        log.append_async({expired(i)}, [&](Result<SeqRange> r) { ok += r.is_ok() ? 1 : 0; });
    log.close();
    CHECK(ok == 3);
    CHECK(log.store()->size() == 3);
}
