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

namespace netkeep {

namespace {

constexpr const char* k_events_cf = "events";
constexpr const char* k_meta_cf = "meta";

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
    if (s.ok()) return Status::ok();
    std::string msg = fmt::format("{}: {}", what, s.ToString());
    if (s.IsNotFound()) return Status::not_found(std::move(msg));
    if (s.IsCorruption()) return Status::corruption(std::move(msg));
    if (s.IsInvalidArgument()) return Status::invalid_argument(std::move(msg));
    if (s.IsNotSupported()) return Status::not_supported(std::move(msg));
    if (s.IsBusy() || s.IsTryAgain()) return Status::unavailable(std::move(msg));
    return Status::io_error(std::move(msg));
}

struct cf_deleter {
    rocksdb::DB* db;
    void operator()(rocksdb::ColumnFamilyHandle* h) const { (void)db->DestroyColumnFamilyHandle(h); }
};
using cf_handle = std::unique_ptr<rocksdb::ColumnFamilyHandle, cf_deleter>;

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
        from = std::max<std::uint64_t>(from, 1);
        if (from > to) return Status::ok();
        const std::uint64_t durable = last_seq();
        rocksdb::ReadOptions ro;
        ro.fill_cache = false;      // a replay reads everything once; keep the cache for tails
        ro.readahead_size = 2 << 20;
        ro.verify_checksums = false;  // every record carries its own CRC-32C, checked on decode
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
        std::uint64_t expected = from;
        for (it->Seek(event_format::encode_key(from)); it->Valid(); it->Next()) {
            auto seq = event_format::decode_key(std::string_view(it->key().data(), it->key().size()));
            if (!seq) return seq.status();
            if (*seq > to) break;
            // Gapless by construction; a hole means lost data, so say which record is missing.
            if (*seq != expected) return Status::corruption(fmt::format("seq {}: missing from the log", expected));
            auto event = event_format::decode(*seq, std::string_view(it->value().data(), it->value().size()));
            if (!event) return event.status();
            expected = *seq + 1;
            if (!visit(EventRecord{*seq, std::move(*event)})) return Status::ok();
        }
        if (Status s = from_rocks(it->status(), "scanning the event log"); !s) return s;
        // Records the log has acknowledged must all be there, up to the end of the range.
        if (expected <= std::min(to, durable))
            return Status::corruption(fmt::format("seq {}: missing from the log", expected));
        return Status::ok();
    }

    Status scan_meta(std::string_view prefix, const MetaVisitor& visit) const override {
        std::shared_lock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
        for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
            std::string_view key(it->key().data(), it->key().size());
            if (!key.starts_with(prefix)) break;
            if (!visit(key, std::string_view(it->value().data(), it->value().size()))) return Status::ok();
        }
        return from_rocks(it->status(), "scanning meta values");
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
        std::string value;
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
        if (!s.ok()) return from_rocks(s, fmt::format("reading meta '{}'", key));
        return value;
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

    rocksdb::ColumnFamilyOptions cf_options;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors{
        {rocksdb::kDefaultColumnFamilyName, cf_options},
        {k_events_cf, cf_options},
        {k_meta_cf, cf_options},
    };
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
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

    std::uint64_t last = 0;
    {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), owned[1].get()));
        it->SeekToLast();
        if (it->Valid()) {
            auto seq = event_format::decode_key(std::string_view(it->key().data(), it->key().size()));
            if (!seq) return seq.status();
            last = *seq;
        } else if (Status st = from_rocks(it->status(), "finding the end of the event log"); !st) {
            return st;
        }
    }
    return std::unique_ptr<EventLog>(
        std::make_unique<RocksEventLog>(std::move(db), std::move(owned), last, options.sync));
}

}  // namespace netkeep
