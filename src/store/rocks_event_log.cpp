// RocksDB implementation of EventLog. The only translation unit that includes RocksDB
// headers for the log; nothing of RocksDB crosses include/netkeep/event_log.hpp.
//
// Layout: column family "events" maps encode_key(seq) to event_format::encode(event);
// column family "meta" holds small named values such as cursors.
//
// Threads: one writer thread owns the sequence counter and performs every event write
// (group commit: everything queued while a sync is in flight goes into the next batch).
// Readers use RocksDB's own thread safety and never take the queue lock.

#include <pthread.h>

#include <condition_variable>
#include <algorithm>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "netkeep/event_format.hpp"
#include "netkeep/event_log.hpp"
#include "rocks_common.hpp"

namespace netkeep {

namespace {

using store::cf_deleter;
using store::cf_handle;
using store::from_rocks;

class RocksEventLog final : public EventLog {
public:
    RocksEventLog(std::unique_ptr<rocksdb::DB> db, std::vector<cf_handle> handles,
                  std::uint64_t last_seq, bool sync)
        : db_(std::move(db)), handles_(std::move(handles)), last_seq_(last_seq), next_seq_(last_seq + 1) {
        events_ = handles_.at(1).get();
        meta_ = handles_.at(2).get();
        write_options_.sync = sync;
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
        if (events.empty()) {
            done(Status::invalid_argument("append of no events"));
            return;
        }
        // Encode on the caller's thread: the writer thread should only batch and sync.
        pending_append p;
        p.records.reserve(events.size());
        for (const auto& e : events) p.records.push_back(event_format::encode(e));
        p.done = std::move(done);
        {
            std::lock_guard lock(queue_mutex_);
            if (!closing_) {
                queue_.push_back(std::move(p));
                queue_cv_.notify_one();
                return;
            }
        }
        p.done(Status::unavailable("event log is closed"));
    }

    std::uint64_t last_seq() const override {
        std::lock_guard lock(tail_mutex_);
        return last_seq_;
    }

    Status scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::scan_events(*db_, events_, from, to, last_seq(), visit);
    }

    Status scan_meta(std::string_view prefix, const MetaVisitor& visit) const override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::scan_meta(*db_, meta_, prefix, visit);
    }

    std::uint64_t wait_for(std::uint64_t after, std::chrono::milliseconds timeout) const override {
        std::unique_lock lock(tail_mutex_);
        tail_cv_.wait_for(lock, timeout, [&] { return last_seq_ > after || tail_closed_; });
        return last_seq_;
    }

    Status put_meta(const std::string& key, const std::string& value) override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        rocksdb::WriteOptions wo;
        wo.sync = write_options_.sync;
        return from_rocks(db_->Put(wo, meta_, key, value), fmt::format("writing meta '{}'", key));
    }

    Status put_meta_batch(const std::vector<std::pair<std::string, std::string>>& entries) override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        rocksdb::WriteBatch batch;
        for (const auto& [key, value] : entries) {
            if (auto s = batch.Put(meta_, key, value); !s.ok())
                return from_rocks(s, fmt::format("writing meta '{}'", key));
        }
        rocksdb::WriteOptions wo;
        wo.sync = write_options_.sync;
        return from_rocks(db_->Write(wo, &batch), fmt::format("writing {} meta values", entries.size()));
    }

    Result<std::string> get_meta(const std::string& key) const override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::get_meta(*db_, meta_, key);
    }

    void close() override {
        // Serialises concurrent close() calls: the second returns once the first is done.
        std::unique_lock handles(handles_mutex_);
        if (!db_open_) return;
        {
            std::lock_guard lock(queue_mutex_);
            closing_ = true;
            queue_cv_.notify_one();
        }
        writer_.join();
        {
            std::lock_guard lock(tail_mutex_);
            tail_closed_ = true;
        }
        tail_cv_.notify_all();
        // Readers hold handles_mutex_ shared while they use the handles.
        db_open_ = false;
        handles_.clear();
        (void)db_->Close();
    }

private:
    struct pending_append {
        std::vector<std::string> records;
        AppendCallback done;
    };

    void run_writer() {
        std::deque<pending_append> batch;
        for (;;) {
            {
                std::unique_lock lock(queue_mutex_);
                queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
                if (queue_.empty()) return;  // closing, and everything accepted is written
                batch.swap(queue_);
            }
            write_batch(batch);
            batch.clear();
        }
    }

    // One WriteBatch, one sync, for every append that queued up meanwhile.
    void write_batch(std::deque<pending_append>& batch) {
        const std::uint64_t first = next_seq_;
        std::uint64_t seq = first;
        rocksdb::WriteBatch wb;
        for (const auto& p : batch)
            for (const auto& record : p.records) wb.Put(events_, event_format::encode_key(seq++), record);
        Status status = from_rocks(db_->Write(write_options_, &wb), "appending to the event log");
        if (!status) {
            // Nothing was assigned: the next batch reuses these sequence numbers.
            for (auto& p : batch) p.done(status);
            return;
        }
        next_seq_ = seq;
        {
            std::lock_guard lock(tail_mutex_);
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

    mutable std::mutex tail_mutex_;
    mutable std::condition_variable tail_cv_;
    std::uint64_t last_seq_;  // guarded by tail_mutex_
    bool tail_closed_ = false;

    std::uint64_t next_seq_;  // writer thread only

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::deque<pending_append> queue_;
    bool closing_ = false;

    // Guards the RocksDB handles against close(): readers shared, close() exclusive.
    mutable std::shared_mutex handles_mutex_;
    bool db_open_ = true;

    std::thread writer_;  // last: starts after every member above is constructed
};

}  // namespace

Result<std::unique_ptr<EventLog>> open_event_log(const std::string& path, const EventLogOptions& options) {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = options.create_if_missing;
    db_options.create_missing_column_families = options.create_if_missing;
    // Many small appends, each synced: keep the WAL as the durability point and let
    // RocksDB flush memtables in the background.
    db_options.max_background_jobs = 2;

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, path, store::column_families(), &handles, &raw);
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
    return std::unique_ptr<EventLog>(
        std::make_unique<RocksEventLog>(std::move(db), std::move(owned), *last, options.sync));
}

}  // namespace netkeep
