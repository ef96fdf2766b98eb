// RocksDB implementation of EventLog. The only translation unit that includes RocksDB
// headers for the log; nothing of RocksDB crosses include/netkeep/event_log.hpp.
//
// Layout: column family "events" maps encode_key(seq) to event_format::encode(event);
// column family "meta" holds small named values such as cursors.
//
// Threads: one writer thread owns the sequence counter and performs every event write
// (group commit: everything queued while a sync is in flight goes into the next batch).
// Readers use RocksDB's own thread safety and never take the queue lock.
//
// Faults (docs/security.md "Faults: storage"): HealthTracker holds the log's state. It
// learns of errors from failed writes and from RocksDB itself (an EventListener sees the
// background error RocksDB sets, with its severity, before the failed Write returns).
// RocksDB's own automatic recovery is turned off: the writer thread calls DB::Resume()
// while the log is recovering, so that one place decides when writes start again.

#include <pthread.h>

#include <algorithm>
#include <deque>
#include <future>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "core/event_format.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/mutex.hpp"
#include "rocks_common.hpp"
#include "rocks_testing.hpp"
#include "store/append_queue.hpp"

namespace netkeep {

namespace {

using store::cf_deleter;
using store::cf_handle;
using store::from_rocks;
using State = LogHealth::State;
using clock = std::chrono::steady_clock;

// A meta value rewritten after open and after each DB::Resume(); see wal_retirable().
constexpr const char* k_marker_key = "log.marker";

// What a RocksDB error means for the log: nothing lasting (the write failed, the next may
// work), recoverable in this process by DB::Resume(), or only by a restart.
enum class Fault { transient, recoverable, fatal };

Fault classify(const rocksdb::Status& s) {
    // Severity is set on the background error RocksDB keeps (and returns from every write
    // once the DB has stopped): fatal and unrecoverable errors, such as a failed WAL sync
    // with paranoid_checks, cannot be resumed.
    if (s.severity() >= rocksdb::Status::Severity::kFatalError) return Fault::fatal;
    if (s.IsCorruption()) return Fault::fatal;
    if (s.IsNoSpace()) return Fault::recoverable;
    if (s.severity() == rocksdb::Status::Severity::kSoftError ||
        s.severity() == rocksdb::Status::Severity::kHardError)
        return Fault::recoverable;
    return Fault::transient;
}

// The log's state, shared by the log, its writer thread and the RocksDB listener.
class HealthTracker {
public:
    explicit HealthTracker(std::function<void(const Status&)> on_failed)
        : on_failed_(std::move(on_failed)) {}

    // A write (events, meta, or a Resume) failed with s; `what` says which.
    void failed(const rocksdb::Status& s, std::string_view what) {
        Status status = from_rocks(s, what);
        {
            MutexLock lock(mutex_);
            (status.code() == Status::Code::no_space ? health_.no_space_errors
                                                     : health_.io_errors) += 1;
        }
        enter(classify(s), status);
    }

    // RocksDB set a background error (a write's, a flush's, a compaction's).
    void background_error(const rocksdb::Status& s) {
        enter(classify(s), from_rocks(s, "event log background error"));
    }

    // Set once by the log: whether DB::Resume() would retire the current WAL (see
    // RocksEventLog::wal_retirable). Unset: assumed so.
    void set_wal_check(std::function<bool()> check) {
        MutexLock lock(mutex_);
        wal_check_ = std::move(check);
    }

    void wrote() {
        MutexLock lock(mutex_);
        health_.last_write = clock::now();
    }

    void resumed() {
        Status was;
        {
            MutexLock lock(mutex_);
            if (health_.state != State::recovering) return;
            was = health_.error;
            health_.state = State::ok;
            health_.error = Status::ok();
            health_.since = clock::now();
            health_.resumes += 1;
        }
        log_line(LogLevel::info, "log.resumed", {{"after", was.to_string()}});
    }

    LogHealth snapshot() const {
        MutexLock lock(mutex_);
        return health_;
    }
    State state() const {
        MutexLock lock(mutex_);
        return health_.state;
    }
    // Why a write is refused now without being tried; ok when writes may be tried.
    Status refusal() const {
        MutexLock lock(mutex_);
        return store::write_refusal(health_);
    }

private:
    // A state only gets worse until resumed(): failed is final.
    void enter(Fault fault, Status error) {
        if (fault == Fault::transient) return;
        if (fault == Fault::recoverable) {
            std::function<bool()> check;
            {
                MutexLock lock(mutex_);
                check = wal_check_;
            }
            if (check && !check()) {
                fault = Fault::fatal;
                error = Status(
                    Status::io_error(fmt::format("{} (with no unflushed data, DB::Resume() would "
                                                 "keep writing to the failed write-ahead log: "
                                                 "only a restart can go on)",
                                                 error.to_string())));
            }
        }
        const State next = fault == Fault::fatal ? State::failed : State::recovering;
        {
            MutexLock lock(mutex_);
            if (health_.state == State::failed || health_.state == next) return;
            health_.state = next;
            health_.error = error;
            health_.since = clock::now();
        }
        if (next == State::recovering) {
            log_line(LogLevel::error, "log.write_refused",
                     {{"error", error.to_string()},
                      {"action", "writes are refused; DB::Resume() is retried until they work"}});
            return;
        }
        log_line(LogLevel::error, "log.failed", {{"error", error.to_string()}});
        // Once: the state never leaves failed.
        if (on_failed_) on_failed_(error);
    }

    mutable Mutex mutex_;
    LogHealth health_ GUARDED_BY(mutex_);
    std::function<void(const Status&)> on_failed_;
    std::function<bool()> wal_check_ GUARDED_BY(mutex_);
};

// Hands RocksDB's background errors to the tracker and keeps recovery in the log's hands.
class HealthListener final : public rocksdb::EventListener {
public:
    explicit HealthListener(std::shared_ptr<HealthTracker> tracker)
        : tracker_(std::move(tracker)) {}
    void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* bg_error) override {
        if (bg_error && !bg_error->ok()) tracker_->background_error(*bg_error);
    }
    void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                              bool* auto_recovery) override {
        if (auto_recovery) *auto_recovery = false;  // the writer thread calls Resume()
    }
    void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
        if (info.new_bg_error.ok()) tracker_->resumed();
    }

private:
    std::shared_ptr<HealthTracker> tracker_;
};

class RocksEventLog final : public EventLog {
public:
    RocksEventLog(std::unique_ptr<rocksdb::DB> db, std::vector<cf_handle> handles,
                  std::uint64_t last_seq, store::RetiredPrefix prefix,
                  const EventLogOptions& options, std::shared_ptr<HealthTracker> health)
        : db_(std::move(db)),
          handles_(std::move(handles)),
          health_(std::move(health)),
          prefix_(std::move(prefix)),
          resume_every_(options.resume_every),
          last_seq_(last_seq),
          next_seq_(last_seq + 1) {
        events_ = handles_.at(1).get();
        meta_ = handles_.at(2).get();
        write_options_.sync = options.sync;
        health_->set_wal_check([this] { return wal_retirable(); });
        // So that a write failing next finds unflushed data (see wal_retirable). A
        // failure here is the tracker's to classify; opening still succeeds.
        (void)put_meta(k_marker_key, "opened");
        writer_ = std::thread([this] {
            ::pthread_setname_np(::pthread_self(), "netkeep-log");  // visible in top -H, perf
            run_writer();
        });
    }

    ~RocksEventLog() override { close(); }

    Result<SeqRange> append(const std::vector<Event>& events) override {
        std::promise<Result<SeqRange>> done;
        auto result = done.get_future();
        append_async(events, [&done](Result<SeqRange> r) { done.set_value(std::move(r)); });
        return result.get();
    }

    void append_async(const std::vector<Event>& events, AppendCallback done) override {
        queue_.push(events, std::move(done));
    }

    std::uint64_t last_seq() const override {
        MutexLock lock(tail_mutex_);
        return last_seq_;
    }

    Status scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        const std::uint64_t last = last_seq();
        // The snapshot first, the prefix second: retention changes the prefix before it
        // deletes, so whatever prefix is read, the snapshot still holds its records.
        rocksdb::ManagedSnapshot snapshot(db_.get());
        return store::scan_events(*db_, events_, from, to, last, prefix(), visit,
                                  snapshot.snapshot());
    }

    std::uint64_t first_seq() const override { return prefix().first_seq; }
    std::vector<std::uint64_t> pinned_seqs() const override { return prefix().pinned; }

    Status retire_prefix(std::uint64_t first_seq,
                         const std::vector<std::uint64_t>& pinned) override {
        MutexLock serial(retire_mutex_);
        if (first_seq > last_seq() + 1)
            return Status::invalid_argument(fmt::format(
                "retention: first_seq {} is past the end of the log ({})", first_seq, last_seq()));
        const store::RetiredPrefix current = prefix();
        auto next = store::next_prefix(current, first_seq, pinned);
        if (!next) return next.status();
        if (next->first_seq == current.first_seq) return Status::ok();
        if (Status s = put_meta_batch({{store::k_first_seq_key, std::to_string(next->first_seq)},
                                       {store::k_pinned_key, store::format_pinned(next->pinned)}});
            !s)
            return s;
        MutexLock lock(prefix_mutex_);
        prefix_ = std::move(*next);
        return Status::ok();
    }

    Status reclaim_retired() override {
        MutexLock serial(retire_mutex_);
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::delete_retired(*db_, events_, prefix());
    }

    Status scan_meta(std::string_view prefix, const MetaVisitor& visit) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::scan_meta(*db_, meta_, prefix, visit);
    }

    Status scan_meta_range(std::string_view prefix, const MetaRange& range,
                           const MetaVisitor& visit) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::scan_meta_range(*db_, meta_, prefix, range, visit);
    }

    std::uint64_t wait_for(std::uint64_t after, std::chrono::milliseconds timeout) const override {
        MutexLock lock(tail_mutex_);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (last_seq_ <= after && !tail_closed_)
            if (!tail_cv_.wait_until(tail_mutex_, deadline)) break;
        return last_seq_;
    }

    Status put_meta(const std::string& key, const std::string& value) override {
        return write_meta({{key, value}}, fmt::format("writing meta '{}'", key));
    }

    Status put_meta_batch(
        const std::vector<std::pair<std::string, std::string>>& entries) override {
        return write_meta(entries, fmt::format("writing {} meta values", entries.size()));
    }

    LogHealth health() const override { return health_->snapshot(); }

    Result<std::string> get_meta(const std::string& key) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::get_meta(*db_, meta_, key);
    }

    // DB::Resume() (RocksDB 7.8) retires a WAL that a write failed on only through the
    // flush it starts, and that flush switches to a new WAL only for a column family with
    // data in its active memtable. With none, the failed WAL would stay current and the
    // next write would hit its error again (an assertion in Debian's build). So a
    // recoverable error is recoverable only while some memtable holds data; the log keeps
    // one small meta value there after open and after each Resume().
    bool wal_retirable() const {
        for (auto* cf : {events_, meta_}) {
            std::uint64_t entries = 0;
            if (db_->GetIntProperty(cf, "rocksdb.num-entries-active-mem-table", &entries) &&
                entries > 0)
                return true;
        }
        return false;
    }

    void close() override {
        // Serialises concurrent close() calls: the second returns once the first is done.
        MutexLock serial(close_mutex_);
        if (!writer_.joinable()) return;
        queue_.close();
        // Not under handles_mutex_: the writer may still write meta (the marker it puts
        // after a Resume()), which takes it shared.
        writer_.join();
        {
            MutexLock lock(tail_mutex_);
            tail_closed_ = true;
        }
        tail_cv_.notify_all();
        // Readers hold handles_mutex_ shared while they use the handles.
        ExclusiveLock handles(handles_mutex_);
        db_open_ = false;
        handles_.clear();
        (void)db_->Close();
    }

private:
    Status write_meta(const std::vector<std::pair<std::string, std::string>>& entries,
                      const std::string& what) {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        // Built under the lock: after close() meta_ is a destroyed handle.
        rocksdb::WriteBatch batch;
        for (const auto& [key, value] : entries) {
            if (auto s = batch.Put(meta_, key, value); !s.ok())
                return from_rocks(s, fmt::format("writing meta '{}'", key));
        }
        // A recovering or failed log refuses at once; the writer thread resumes it.
        if (Status refused = health_->refusal(); !refused) return refused;
        rocksdb::WriteOptions wo;
        wo.sync = write_options_.sync;
        rocksdb::Status s = db_->Write(wo, &batch);
        if (!s.ok()) {
            health_->failed(s, what);
            return from_rocks(s, what);
        }
        health_->wrote();
        return Status::ok();
    }

    void run_writer() {
        // Woken at least every resume_every: a log that a background error (a flush out
        // of space) made recovering resumes without waiting for an append.
        while (auto batch = queue_.take(resume_every_)) {
            if (health_->state() == State::recovering) try_resume();
            if (!batch->empty()) write_batch(*batch);
        }
    }

    // At most once per resume_every, so that a full disk costs one attempt a second, not
    // one per request.
    void try_resume() {
        const auto now = clock::now();
        if (now < next_resume_) return;
        next_resume_ = now + resume_every_;
        rocksdb::Status s = db_->Resume();
        if (s.ok()) {
            health_->resumed();
            (void)put_meta(k_marker_key, "resumed");  // see wal_retirable
            return;
        }
        // Still out of space (the flush Resume() starts failed again): stay recovering,
        // counted. Busy: RocksDB is recovering by itself; its listener call ends the state.
        if (!s.IsBusy()) health_->failed(s, "resuming the event log");
    }

    // One WriteBatch, one sync, for every append that queued up meanwhile.
    void write_batch(std::deque<store::AppendQueue::Pending>& batch) {
        if (Status refused = health_->refusal(); !refused) {
            for (auto& p : batch) p.done(refused);
            return;
        }
        const std::uint64_t first = next_seq_;
        std::uint64_t seq = first;
        rocksdb::WriteBatch wb;
        for (const auto& p : batch)
            for (const auto& record : p.records)
                wb.Put(events_, event_format::encode_key(seq++), record);
        rocksdb::Status written = db_->Write(write_options_, &wb);
        if (!written.ok()) {
            health_->failed(written, "appending to the event log");
            Status status = from_rocks(written, "appending to the event log");
            // Nothing was acknowledged and nothing entered the memtable: the next batch
            // reuses these sequence numbers. The records may have reached the WAL, though:
            // after a Resume() the flush it starts retires that WAL; after a restart its
            // replay may bring them back (EventLog's contract says so).
            for (auto& p : batch) p.done(status);
            return;
        }
        health_->wrote();
        next_seq_ = seq;
        {
            MutexLock lock(tail_mutex_);
            last_seq_ = seq - 1;
        }
        tail_cv_.notify_all();
        std::uint64_t cursor = first;
        for (auto& p : batch) {
            SeqRange range{cursor, cursor + p.records.size() - 1};
            cursor += p.records.size();
            p.done(range);
        }
    }

    std::unique_ptr<rocksdb::DB> db_;
    std::vector<cf_handle> handles_;  // destroyed before db_, as RocksDB requires
    rocksdb::ColumnFamilyHandle* events_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;
    rocksdb::WriteOptions write_options_;
    std::shared_ptr<HealthTracker> health_;

    store::RetiredPrefix prefix() const {
        MutexLock lock(prefix_mutex_);
        return prefix_;
    }
    mutable Mutex prefix_mutex_;
    store::RetiredPrefix prefix_ GUARDED_BY(prefix_mutex_);  // as in meta
    Mutex retire_mutex_;                                     // one retention step at a time
    const std::chrono::milliseconds resume_every_;
    clock::time_point next_resume_{};  // writer thread only

    mutable Mutex tail_mutex_;
    mutable CondVar tail_cv_;
    std::uint64_t last_seq_ GUARDED_BY(tail_mutex_);
    bool tail_closed_ GUARDED_BY(tail_mutex_) = false;

    std::uint64_t next_seq_;  // writer thread only

    store::AppendQueue queue_;
    Mutex close_mutex_;  // serialises close()

    // Guards the RocksDB handles against close(): readers shared, close() exclusive.
    mutable SharedMutex handles_mutex_;
    bool db_open_ GUARDED_BY(handles_mutex_) = true;

    std::thread writer_;  // last: starts after every member above is constructed
};

}  // namespace

namespace store {

Result<std::unique_ptr<EventLog>> open_event_log_with_env(const std::string& path,
                                                          const EventLogOptions& options,
                                                          rocksdb::Env* env) {
    // RocksDB creates the directory without syncing its parent: a power cut could lose
    // the whole log (every acknowledged event) with the directory entry.
    if (options.create_if_missing)
        if (Status s = create_directories_durably(path); !s) return s;
    auto health = std::make_shared<HealthTracker>(options.on_failed);
    rocksdb::DBOptions db_options;
    if (env) db_options.env = env;
    db_options.create_if_missing = options.create_if_missing;
    db_options.create_missing_column_families = options.create_if_missing;
    // Many small appends, each synced: keep the WAL as the durability point and let
    // RocksDB flush memtables in the background.
    db_options.max_background_jobs = 2;
    // Every failed WAL write stops the DB (a background error) rather than leaving a
    // torn record in a WAL that later records would follow. The default; stated because
    // the fault handling relies on it.
    db_options.paranoid_checks = true;
    db_options.listeners.push_back(std::make_shared<HealthListener>(health));

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s =
        rocksdb::DB::Open(db_options, path, store::column_families(), &handles, &raw);
    if (!s.ok()) {
        if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
            return Status::unavailable(fmt::format(
                "event log {} is locked: is another netkeepd running on this data dir? ({})", path,
                s.ToString()));
        return from_rocks(s, fmt::format("opening event log {}", path));
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    std::vector<cf_handle> owned;
    for (auto* h : handles) owned.emplace_back(h, cf_deleter{db.get()});

    auto last = store::find_last_seq(*db, owned[1].get());
    if (!last) return last.status();
    auto prefix = store::read_prefix(*db, owned[2].get());
    if (!prefix) return prefix.status();
    return std::unique_ptr<EventLog>(std::make_unique<RocksEventLog>(
        std::move(db), std::move(owned), *last, std::move(*prefix), options, std::move(health)));
}

}  // namespace store

Result<std::unique_ptr<EventLog>> open_event_log(const std::string& path,
                                                 const EventLogOptions& options) {
    return store::open_event_log_with_env(path, options, nullptr);
}

}  // namespace netkeep
