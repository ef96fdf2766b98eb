// The event log under write faults (docs/security.md "Faults: storage"): a RocksDB
// FileSystemWrapper fails the WAL's appends (no space) or its Nth sync, and the tests
// check what the log promises: the failed append is not acknowledged, a failed sync ends
// the log's writes for the life of the process (on_failed once, never a retry on the same
// WAL), no space is recovered from by itself once space returns, and every acknowledged
// event is there after a reopen.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "netkeep/event_log.hpp"
#include "rocks_testing.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using netkeep::testing::wait_until;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The faults, armed by the test after the log is open. A full disk fails every append
// (WAL, table files, MANIFEST); the sync fault is a WAL's.
struct Faults {
    std::atomic<bool> no_space{false};      // every file append fails with NoSpace
    std::atomic<bool> wal_no_space{false};  // WAL appends only (table files still fit)
    std::atomic<int> fail_sync_in{0};       // > 0: the Nth WAL sync from now fails (EIO)
    std::atomic<int> syncs_failed{0};
    std::atomic<int> syncs_after_failure{0};  // syncs asked of a WAL whose sync failed
};

class FaultyFile final : public rocksdb::FSWritableFileOwnerWrapper {
public:
    FaultyFile(std::unique_ptr<rocksdb::FSWritableFile> file, Faults& faults, bool wal)
        : FSWritableFileOwnerWrapper(std::move(file)), faults_(faults), wal_(wal) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
        if (faults_.no_space || (wal_ && faults_.wal_no_space))
            return rocksdb::IOStatus::NoSpace("injected: no space left on device");
        return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
        if (faults_.no_space || (wal_ && faults_.wal_no_space))
            return rocksdb::IOStatus::NoSpace("injected: no space left on device");
        return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
        return sync([&] { return FSWritableFileOwnerWrapper::Sync(o, d); });
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
        return sync([&] { return FSWritableFileOwnerWrapper::Fsync(o, d); });
    }

private:
    template <typename F>
    rocksdb::IOStatus sync(F&& real) {
        if (failed_) faults_.syncs_after_failure += 1;
        if (wal_ && faults_.fail_sync_in > 0 && --faults_.fail_sync_in == 0) {
            failed_ = true;
            faults_.syncs_failed += 1;
            return rocksdb::IOStatus::IOError("injected: fsync failed (EIO)");
        }
        return real();
    }
    Faults& faults_;
    const bool wal_;
    bool failed_ = false;
};

class FaultyFs final : public rocksdb::FileSystemWrapper {
public:
    FaultyFs(const std::shared_ptr<rocksdb::FileSystem>& base, Faults& faults)
        : FileSystemWrapper(base), faults_(faults) {}
    const char* Name() const override { return "FaultyFs"; }

    rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* out,
                                      rocksdb::IODebugContext* d) override {
        auto s = target()->NewWritableFile(name, o, out, d);
        if (s.ok())
            *out = std::make_unique<FaultyFile>(std::move(*out), faults_, name.ends_with(".log"));
        return s;
    }
    rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                         std::unique_ptr<rocksdb::FSWritableFile>* out,
                                         rocksdb::IODebugContext* d) override {
        auto s = target()->ReopenWritableFile(name, o, out, d);
        if (s.ok())
            *out = std::make_unique<FaultyFile>(std::move(*out), faults_, name.ends_with(".log"));
        return s;
    }

private:
    Faults& faults_;
};

struct FaultyLog {
    Faults faults;
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(
        std::make_shared<FaultyFs>(rocksdb::FileSystem::Default(), faults));
    std::mutex failed_mutex;
    std::vector<Status> failures;  // on_failed calls
    std::unique_ptr<EventLog> log;

    explicit FaultyLog(const fs::path& dir) {
        EventLogOptions options;
        options.resume_every = 50ms;
        options.on_failed = [this](const Status& s) {
            std::lock_guard lock(failed_mutex);
            failures.push_back(s);
        };
        auto opened = store::open_event_log_with_env((dir / "log").string(), options, env.get());
        REQUIRE_MESSAGE(opened.is_ok(), opened.status().to_string());
        log = std::move(*opened);
    }
    std::size_t failure_count() {
        std::lock_guard lock(failed_mutex);
        return failures.size();
    }
};

Event expired(int i) { return LeaseExpired{i, "dev-" + std::to_string(i), "job", i}; }

// Appends expired(1..n), each acknowledged, and remembers them as (seq, event).
void append_acked(EventLog& log, int n, std::vector<std::pair<std::uint64_t, Event>>& acked) {
    for (int i = 1; i <= n; ++i) {
        auto r = log.append({expired(i)});
        REQUIRE(r.is_ok());
        acked.emplace_back(r->first, expired(i));
    }
}

std::vector<EventRecord> read_all(const EventLog& log) {
    std::vector<EventRecord> out;
    Status s = log.scan(1, UINT64_MAX, [&](EventRecord&& r) {
        out.push_back(std::move(r));
        return true;
    });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return out;
}

// Every acknowledged (seq, event) is in the log at dir, reopened without faults.
void check_acknowledged(const fs::path& dir,
                        const std::vector<std::pair<std::uint64_t, Event>>& acked) {
    auto reopened = open_event_log((dir / "log").string());
    REQUIRE_MESSAGE(reopened.is_ok(), reopened.status().to_string());
    auto records = read_all(**reopened);
    for (const auto& [seq, event] : acked) {
        REQUIRE(seq <= records.size());
        CHECK(records[seq - 1].seq == seq);
        CHECK(records[seq - 1].event == event);
    }
}

}  // namespace

TEST_CASE("a failed WAL sync fails the append, ends the log's writes and calls on_failed once") {
    auto dir = testing::TempDir::create("netkeep-log-faults").value();
    std::vector<std::pair<std::uint64_t, Event>> acked;
    {
        FaultyLog f(dir.path());
        for (int i = 1; i <= 5; ++i) {
            auto r = f.log->append({expired(i)});
            REQUIRE(r.is_ok());
            acked.emplace_back(r->first, expired(i));
        }
        CHECK(f.log->health().state == LogHealth::State::ok);
        CHECK(f.log->health().last_write.has_value());

        f.faults.fail_sync_in = 1;
        auto failed = f.log->append({expired(6)});
        REQUIRE_FALSE(failed.is_ok());
        CHECK(f.faults.syncs_failed == 1);
        CHECK(f.log->last_seq() == 5);  // not acknowledged, not visible

        LogHealth h = f.log->health();
        CHECK(h.state == LogHealth::State::failed);
        CHECK_FALSE(h.error.is_ok());
        CHECK(h.io_errors >= 1);
        CHECK(f.failure_count() == 1);

        // Never retried: later appends and meta writes are refused without touching the
        // WAL, and the state does not come back.
        auto later = f.log->append({expired(7)});
        CHECK(later.status().code() == Status::Code::unavailable);
        CHECK(f.log->put_meta("k", "v").code() == Status::Code::unavailable);
        // Kept: several resume periods (50 ms) pass with no resume. Nothing counts the
        // writer's wake-ups in a failed log, so there is no signal to wait on instead.
        std::this_thread::sleep_for(200ms);
        CHECK(f.log->health().state == LogHealth::State::failed);
        CHECK(f.faults.syncs_after_failure == 0);
        CHECK(f.failure_count() == 1);
        // Reads still work: the projection and the git writer can go on reading.
        CHECK(read_all(*f.log).size() == 5);
        f.log->close();
    }
    // A restart replays the WAL: every acknowledged event is there. The failed one may be
    // too (its bytes were written, only the sync failed): never acknowledged, never lost.
    check_acknowledged(dir.path(), acked);
}

TEST_CASE("a failed sync of a meta write (the git writer's cursor) fails the log the same way") {
    auto dir = testing::TempDir::create("netkeep-log-faults").value();
    FaultyLog f(dir.path());
    REQUIRE(f.log->append({expired(1)}).is_ok());
    f.faults.fail_sync_in = 1;
    CHECK_FALSE(f.log->put_meta("gitwriter.cursor", "1").is_ok());
    CHECK(f.log->health().state == LogHealth::State::failed);
    CHECK(f.failure_count() == 1);
    CHECK(f.log->append({expired(2)}).status().code() == Status::Code::unavailable);
}

TEST_CASE("no space on the WAL: appends fail fast with no_space, and the log resumes by itself") {
    auto dir = testing::TempDir::create("netkeep-log-faults").value();
    std::vector<std::pair<std::uint64_t, Event>> acked;
    {
        FaultyLog f(dir.path());
        append_acked(*f.log, 3, acked);
        f.faults.no_space = true;
        auto failed = f.log->append({expired(100)});
        REQUIRE_FALSE(failed.is_ok());
        CHECK(failed.status().code() == Status::Code::no_space);
        LogHealth h = f.log->health();
        CHECK(h.state == LogHealth::State::recovering);
        CHECK(h.error.code() == Status::Code::no_space);
        CHECK(h.no_space_errors >= 1);
        // Refused while the disk is full: no_space, not acknowledged; and never fatal.
        for (int i = 0; i < 5; ++i) {
            auto again = f.log->append({expired(101 + i)});
            CHECK(again.status().code() == Status::Code::no_space);
        }
        CHECK(f.log->put_meta("k", "v").code() == Status::Code::no_space);
        // Resume() is tried and fails: each failure is counted, so wait for two of them
        // rather than sleep, before checking that the log is still recovering.
        const auto errors = f.log->health().no_space_errors;
        REQUIRE(wait_until([&] { return f.log->health().no_space_errors >= errors + 2; }));
        CHECK(f.log->health().state == LogHealth::State::recovering);
        CHECK(f.log->last_seq() == 3);

        // Space returns: the log takes writes again without a reopen.
        f.faults.no_space = false;
        REQUIRE(wait_until([&] { return f.log->health().state == LogHealth::State::ok; }));
        CHECK(f.log->health().resumes == 1);
        CHECK(f.failure_count() == 0);
        for (int i = 4; i <= 6; ++i) {
            auto r = f.log->append({expired(i)});
            REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
            CHECK(r->first == std::uint64_t(i));  // gapless: refused appends took no number
            acked.emplace_back(r->first, expired(i));
        }
        CHECK(f.log->put_meta("k", "v").is_ok());
        auto records = read_all(*f.log);
        REQUIRE(records.size() == 6);
        for (const auto& r : records) CHECK(r.event == expired(int(r.seq)));
        f.log->close();
    }
    // The refused records are gone for good: Resume()'s flush retired the WAL they were in.
    check_acknowledged(dir.path(), acked);
    auto reopened = open_event_log((dir.path() / "log").string());
    REQUIRE(reopened.is_ok());
    CHECK((*reopened)->last_seq() == 6);
}

TEST_CASE(
    "appends from many threads during a no-space spell: every acknowledged one survives, gapless") {
    auto dir = testing::TempDir::create("netkeep-log-faults").value();
    std::mutex m;
    std::vector<std::pair<std::uint64_t, Event>> acked;
    {
        FaultyLog f(dir.path());
        std::atomic<bool> stop{false};
        std::atomic<int> refused{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; !stop; ++i) {
                    Event e = expired(t * 1000000 + i);
                    auto r = f.log->append({e});
                    if (r) {
                        std::lock_guard lock(m);
                        acked.emplace_back(r->first, e);
                    } else {
                        CHECK(r.status().code() == Status::Code::no_space);
                        refused += 1;
                    }
                }
            });
        // Each phase lasts until it has had its effect, not a fixed time: appends
        // acknowledged, then refused during the spell, then acknowledged again after it.
        auto acked_count = [&] {
            std::lock_guard lock(m);
            return acked.size();
        };
        REQUIRE(wait_until([&] { return acked_count() >= 20; }));
        f.faults.no_space = true;
        REQUIRE(wait_until([&] { return refused >= 20; }));
        f.faults.no_space = false;
        REQUIRE(wait_until([&] { return f.log->health().state == LogHealth::State::ok; }));
        const std::size_t before = acked_count();
        REQUIRE(wait_until([&] { return acked_count() >= before + 20; }));
        stop = true;
        for (auto& t : threads) t.join();
        CHECK(refused > 0);
        CHECK(f.failure_count() == 0);
        std::lock_guard lock(m);
        CHECK(acked.size() == f.log->last_seq());  // gapless: one acknowledged event per number
        f.log->close();
    }
    check_acknowledged(dir.path(), acked);
}

// Regression: RocksDB 7.8's Resume() keeps a failed WAL when no memtable holds data, and
// the next write to it aborted the process (an assertion in Debian's librocksdb). Here
// the WAL alone is full: Resume()'s flush works, the log's marker write on the new WAL
// fails with nothing unflushed, so the log must give up (failed: restart), not resume.
TEST_CASE("no space on a fresh WAL with nothing unflushed ends in failed, never in an abort") {
    auto dir = testing::TempDir::create("netkeep-log-faults").value();
    std::vector<std::pair<std::uint64_t, Event>> acked;
    {
        FaultyLog f(dir.path());
        append_acked(*f.log, 3, acked);
        f.faults.wal_no_space = true;
        CHECK(f.log->append({expired(4)}).status().code() == Status::Code::no_space);
        REQUIRE(wait_until([&] { return f.log->health().state == LogHealth::State::failed; }));
        CHECK(f.failure_count() == 1);
        f.faults.wal_no_space = false;
        for (int i = 0; i < 3; ++i)
            CHECK(f.log->append({expired(5 + i)}).status().code() == Status::Code::unavailable);
        f.log->close();
    }
    check_acknowledged(dir.path(), acked);
}
