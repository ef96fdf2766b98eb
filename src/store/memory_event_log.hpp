#pragma once
// An EventLog kept in memory, for tests (as LevelDB's helpers/memenv): the engine, lease
// expiry, scheduling and the git writer can run in-process against it without RocksDB,
// a data dir or real time spent on fsyncs.
//
// It keeps the EventLog contract (include/netkeep/event_log.hpp) as the RocksDB log does,
// not a simplified one, so that what passes against it passes against the real log (one
// contract suite runs against both: tests/unit/store/event_log_contract_test.cpp):
// - sequence numbers from 1 without gaps; appends atomic; scan() sees acknowledged
//   records only;
// - records are stored encoded (event_format::encode) and decoded on every scan, so the
//   format's round trip is exercised as with RocksDB;
// - a writer thread of its own performs every event write and runs the append_async()
//   callbacks, so callers' assumptions about threads are exercised too;
// - the health states (ok, recovering, failed), reached through the test hooks below.
//
// The "disk" is a MemoryEventStore, shared by pointer: a test closes one log and opens
// another on the same store to model a restart (replay).
//
// Threads: any thread may call any member, test hooks included. append_async() callbacks
// run on the log's writer thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/mutex.hpp"
#include "netkeep/status.hpp"
#include "store/append_queue.hpp"
#include "store/retired.hpp"

namespace netkeep {

// What a MemoryEventLog writes to: the encoded records and the meta values. Outlives the
// logs opened on it; at most one of them is open at a time.
class MemoryEventStore {
public:
    // The number of records stored, acknowledged or not (see WriteFault::sync_failed).
    std::uint64_t size() const;
    // The stored value of record seq (1-based); nullopt past the end.
    std::optional<std::string> record(std::uint64_t seq) const;
    // Replaces the stored value of record seq (which must exist), e.g. with bytes that do
    // not decode, to test what readers do with a corrupt record.
    void replace_record(std::uint64_t seq, std::string value);
    // Records removed by retention (reclaim_retired): below first_seq and not pinned.
    std::uint64_t removed() const;

private:
    friend class MemoryEventLog;

    // Appends the values, numbered from size() + 1; the first number.
    std::uint64_t append(std::vector<std::string>&& values);
    void put_meta(const std::vector<std::pair<std::string, std::string>>& entries);
    std::optional<std::string> get_meta(const std::string& key) const;
    // The (key, value) pairs whose key starts with prefix, in key order.
    std::vector<std::pair<std::string, std::string>> meta_with_prefix(
        std::string_view prefix) const;
    // Drops the values of the records `prefix` retires (they stay counted in size()).
    void reclaim(const store::RetiredPrefix& prefix);

    mutable Mutex mutex_;
    std::vector<std::string> records_ GUARDED_BY(mutex_);  // records_[seq - 1]
    store::RetiredPrefix reclaimed_ GUARDED_BY(mutex_);    // records gone, as on disk
    std::map<std::string, std::string, std::less<>> meta_ GUARDED_BY(mutex_);
    bool open_ GUARDED_BY(mutex_) = false;  // a log holds the store (as RocksDB's LOCK file)
};

// How a test makes the next write (an append's batch or a meta write) fail, after the
// fault the RocksDB log would meet.
enum class WriteFault {
    transient,    // fails with io_error; the log stays ok (counted in io_errors)
    no_space,     // fails with no_space; the log turns recovering and resumes on its
                  // next resume attempt (unless the disk is full: set_disk_full)
    sync_failed,  // fails with io_error after the values were stored: the log turns
                  // failed for good (on_failed once); a reopen sees the unacknowledged
                  // values, as a RocksDB WAL replay may
};

class MemoryEventLog final : public EventLog {
    struct OpenKey {
        explicit OpenKey() = default;
    };

public:
    // A log on a store of its own. EventLogOptions::on_failed and resume_every apply;
    // sync and create_if_missing mean nothing in memory.
    explicit MemoryEventLog(EventLogOptions options = {});
    ~MemoryEventLog() override;

    // For open() only (the key is private): `store` is already marked open.
    MemoryEventLog(OpenKey, std::shared_ptr<MemoryEventStore> store, EventLogOptions options);

    MemoryEventLog(const MemoryEventLog&) = delete;
    MemoryEventLog& operator=(const MemoryEventLog&) = delete;

    // A log on `store`, which already holds what earlier logs wrote (a restart).
    // Unavailable while another log holds the store open.
    static Result<std::unique_ptr<MemoryEventLog>> open(std::shared_ptr<MemoryEventStore> store,
                                                        EventLogOptions options = {});

    // The store, to open another log on it once this one is closed.
    const std::shared_ptr<MemoryEventStore>& store() const { return store_; }

    Result<SeqRange> append(const std::vector<Event>& events) override;
    void append_async(const std::vector<Event>& events, AppendCallback done) override;
    std::uint64_t last_seq() const override;
    Status scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const override;
    std::uint64_t wait_for(std::uint64_t after, std::chrono::milliseconds timeout) const override;
    Status put_meta(const std::string& key, const std::string& value) override;
    Status put_meta_batch(const std::vector<std::pair<std::string, std::string>>& entries) override;
    Result<std::string> get_meta(const std::string& key) const override;
    Status scan_meta(std::string_view prefix, const MetaVisitor& visit) const override;
    std::uint64_t first_seq() const override;
    std::vector<std::uint64_t> pinned_seqs() const override;
    Status retire_prefix(std::uint64_t first_seq,
                         const std::vector<std::uint64_t>& pinned) override;
    Status reclaim_retired() override;
    void close() override;
    LogHealth health() const override;

    // Test hooks.

    // The next write fails with `fault` (one write; a second call replaces the first).
    void fail_next_write(WriteFault fault);
    // While full, every write fails with no_space (the log turns recovering) and every
    // resume attempt fails; once not full, the next attempt (within resume_every) resumes.
    void set_disk_full(bool full);
    // While held, appends queue up unwritten (neither durable nor called back), to test
    // what a caller does while its append is in flight: use append_async (append() would
    // block until released). close() writes them anyway.
    void hold_writes();
    void release_writes();
    // Appends accepted and not yet written: lets a test wait until its append is queued.
    std::size_t queued_appends() const;

private:
    void run_writer();
    void try_resume();
    void write_batch(std::deque<store::AppendQueue::Pending>& batch);
    // Whether a write may be tried now (ok) or is refused without trying.
    Status refusal() const;
    // The fault this write meets, if any (consumes a one-shot fault).
    std::optional<WriteFault> take_fault();
    // Applies a fault met by a write (counts it, changes the state): the write's status.
    Status fail_write(WriteFault fault);
    Status write_meta(const std::vector<std::pair<std::string, std::string>>& entries);

    const std::shared_ptr<MemoryEventStore> store_;
    const EventLogOptions options_;

    // Guards everything below up to the queue: health, faults, the tail, closed_.
    mutable Mutex mutex_;
    mutable CondVar tail_cv_;
    LogHealth health_ GUARDED_BY(mutex_);
    std::optional<WriteFault> next_fault_ GUARDED_BY(mutex_);
    bool disk_full_ GUARDED_BY(mutex_) = false;
    bool failed_reported_ GUARDED_BY(mutex_) = false;  // on_failed is called once
    std::uint64_t last_seq_ GUARDED_BY(mutex_) = 0;
    store::RetiredPrefix prefix_ GUARDED_BY(mutex_);  // from meta at open, then retire_prefix
    bool closed_ GUARDED_BY(mutex_) = false;  // reads and meta writes refused; waiters woken

    Mutex close_mutex_;  // serialises close()

    store::AppendQueue queue_;
    std::chrono::steady_clock::time_point next_resume_{};  // writer thread only

    std::thread writer_;  // last: starts after every member above is constructed
};

}  // namespace netkeep
