// A read-only EventLog over a log another process (netkeepd) may be writing: a RocksDB
// secondary instance. Why secondary and not OpenForReadOnly: a read-only instance sees
// the log as it was when opened, a secondary can catch up with the primary
// (TryCatchUpWithPrimary), which `netkeepctl log --follow` needs. Both work offline too.
// The secondary keeps its own small info log and manifest copy in a private temporary
// directory (never inside the data dir), removed on close.
//
// Threads: any thread may call any member; catching up is serialised by catch_up_mutex_.

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "netkeep/event_log.hpp"
#include "netkeep/mutex.hpp"
#include "rocks_common.hpp"

namespace netkeep {

namespace {

using store::cf_handle;
using store::from_rocks;

Status read_only_error(std::string_view what) {
    return Status::not_supported(
        fmt::format("{}: the event log is open read-only (netkeepctl)", what));
}

class RocksEventLogReader final : public EventLog {
public:
    RocksEventLogReader(std::unique_ptr<rocksdb::DB> db, std::vector<cf_handle> handles,
                        std::uint64_t last_seq, store::RetiredPrefix prefix,
                        std::filesystem::path secondary_dir)
        : db_(std::move(db)),
          handles_(std::move(handles)),
          last_seq_(last_seq),
          prefix_(std::move(prefix)),
          secondary_dir_(std::move(secondary_dir)) {
        events_ = handles_.at(1).get();
        meta_ = handles_.at(2).get();
    }

    ~RocksEventLogReader() override { close(); }

    Result<SeqRange> append(const std::vector<Event>&) override {
        return read_only_error("append");
    }
    void append_async(const std::vector<Event>&, AppendCallback done) override {
        done(read_only_error("append"));
    }
    Status put_meta(const std::string& key, const std::string&) override {
        return read_only_error(fmt::format("writing meta '{}'", key));
    }
    Status put_meta_batch(const std::vector<std::pair<std::string, std::string>>&) override {
        return read_only_error("writing meta values");
    }

    std::uint64_t last_seq() const override {
        MutexLock lock(seq_mutex_);
        return last_seq_;
    }

    // Records a catch-up adds after last_seq() was read are left for the next scan.
    Status scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::scan_events(*db_, events_, from, to, last_seq(), prefix(), visit);
    }

    std::uint64_t first_seq() const override { return prefix().first_seq; }
    std::vector<std::uint64_t> pinned_seqs() const override { return prefix().pinned; }

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

    Result<std::string> get_meta(const std::string& key) const override {
        SharedLock open(handles_mutex_);
        if (!db_open_) return Status::unavailable("event log is closed");
        return store::get_meta(*db_, meta_, key);
    }

    // A reader has no writer to wake it: it catches up with the primary (a running
    // netkeepd) at once and then every 100 ms until the log grew or the timeout passed.
    // A zero timeout is one catch-up.
    std::uint64_t wait_for(std::uint64_t after, std::chrono::milliseconds timeout) const override {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::uint64_t last = catch_up();
            if (last > after || std::chrono::steady_clock::now() >= until) return last;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
        }
    }

    // A reader writes nothing: always ok.
    LogHealth health() const override { return {}; }

    void close() override {
        ExclusiveLock handles(handles_mutex_);
        if (!db_open_) return;
        db_open_ = false;
        handles_.clear();
        (void)db_->Close();
        db_.reset();
        std::error_code ec;
        std::filesystem::remove_all(secondary_dir_, ec);
    }

private:
    std::uint64_t catch_up() const {
        SharedLock open(handles_mutex_);
        if (!db_open_) return last_seq();
        MutexLock lock(catch_up_mutex_);
        // A failed catch-up (the primary is between manifest writes) keeps the old view;
        // the next call tries again.
        if (db_->TryCatchUpWithPrimary().ok()) {
            // The prefix as of this catch-up: retention writes it before it deletes.
            auto prefix = store::read_prefix(*db_, meta_);
            if (auto last = store::find_last_seq(*db_, events_); last) {
                MutexLock seq(seq_mutex_);
                last_seq_ = std::max(last_seq_, *last);
                if (prefix && prefix->first_seq > prefix_.first_seq) prefix_ = std::move(*prefix);
            }
        }
        return last_seq();
    }

    std::unique_ptr<rocksdb::DB> db_;
    std::vector<cf_handle> handles_;
    rocksdb::ColumnFamilyHandle* events_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;
    mutable Mutex seq_mutex_;
    mutable std::uint64_t last_seq_ GUARDED_BY(seq_mutex_);
    mutable store::RetiredPrefix prefix_ GUARDED_BY(seq_mutex_);
    store::RetiredPrefix prefix() const {
        MutexLock lock(seq_mutex_);
        return prefix_;
    }
    mutable Mutex catch_up_mutex_;  // one TryCatchUpWithPrimary at a time
    mutable SharedMutex handles_mutex_;
    bool db_open_ GUARDED_BY(handles_mutex_) = true;
    std::filesystem::path secondary_dir_;
};

}  // namespace

Result<std::unique_ptr<EventLog>> open_event_log_reader(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec))
        return Status::not_found(
            fmt::format("no event log at {} (is it a netkeep data dir?)", path));

    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "netkeepctl-XXXXXX").string();
    if (ec) tmpl = "/tmp/netkeepctl-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
        return Status::io_error(
            fmt::format("creating a temporary directory {}: {}", tmpl,
                        std::error_code(errno, std::generic_category()).message()));
    std::filesystem::path secondary_dir = tmpl;
    auto cleanup = [&] { std::filesystem::remove_all(secondary_dir, ec); };

    rocksdb::DBOptions db_options;
    db_options.max_open_files = -1;  // required by a secondary instance
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenAsSecondary(db_options, path, secondary_dir.string(),
                                                     store::column_families(), &handles, &raw);
    if (!s.ok()) {
        cleanup();
        return from_rocks(s, fmt::format("opening event log {} read-only", path));
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    std::vector<cf_handle> owned;
    for (auto* h : handles) owned.emplace_back(h, store::cf_deleter{db.get()});
    auto last = store::find_last_seq(*db, owned[1].get());
    auto prefix = store::read_prefix(*db, owned[2].get());
    if (!last || !prefix) {
        owned.clear();
        db.reset();
        cleanup();
        return !last ? last.status() : prefix.status();
    }
    return std::unique_ptr<EventLog>(std::make_unique<RocksEventLogReader>(
        std::move(db), std::move(owned), *last, std::move(*prefix), secondary_dir));
}

}  // namespace netkeep
