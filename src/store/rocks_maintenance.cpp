// Offline rewrites of the event log (rewrite_event_log in netkeep/event_log.hpp).
//
// Why a rewrite in place and not a copy into a new log: the log's sequence numbers are
// referenced from outside it (the git writer's cursor and its applied records in meta,
// Netkeep-Seq trailers in git), so every record keeps its key; only values change.
// RocksDB keeps an overwritten value until a compaction drops it, and keeps a write in
// its write-ahead log until the memtable holding it is flushed: hence flush, then a
// compaction forced through the bottommost level, before the log is closed.

#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "core/event_format.hpp"
#include "netkeep/event_log.hpp"
#include "rocks_common.hpp"

namespace netkeep {

namespace {

using store::cf_deleter;
using store::cf_handle;
using store::from_rocks;

// Large enough that a log of big inventories needs few writes, small enough that the
// batch never holds more than this in memory.
constexpr std::size_t k_batch_bytes = 16 << 20;

Status write_synced(rocksdb::DB& db, rocksdb::WriteBatch& batch) {
    if (batch.Count() == 0) return Status::ok();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status s = from_rocks(db.Write(wo, &batch), "rewriting event-log records");
    batch.Clear();
    return s;
}

// The log opened for a rewrite; what the steps below share.
struct open_log {
    std::unique_ptr<rocksdb::DB> db;
    std::vector<cf_handle> handles;  // declared after db: destroyed first, as RocksDB requires

    rocksdb::ColumnFamilyHandle* events() const { return handles.at(1).get(); }
};

Result<open_log> open_for_rewrite(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec))
        return Status::not_found(
            fmt::format("no event log at {} (is it a netkeep data dir?)", path));

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = false;
    db_options.create_missing_column_families = false;
    std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status opened =
        rocksdb::DB::Open(db_options, path, store::column_families(), &raw_handles, &raw);
    if (!opened.ok()) {
        if (opened.IsIOError() && opened.ToString().find("lock") != std::string::npos)
            return Status::unavailable(
                fmt::format("event log {} is locked: stop netkeepd before rewriting its log ({})",
                            path, opened.ToString()));
        return from_rocks(opened, fmt::format("opening event log {}", path));
    }
    open_log log;
    log.db.reset(raw);
    for (auto* h : raw_handles) log.handles.emplace_back(h, cf_deleter{log.db.get()});
    return log;
}

using replacement_list = std::vector<std::pair<std::string, std::string>>;  // key, value

// Decides every replacement before anything is written: a rewriter that fails halfway
// leaves the log untouched. Replacements are few (inventories), so they fit in memory.
Result<replacement_list> collect_replacements(const open_log& log, const RecordRewriter& rewrite,
                                              RewriteReport& report) {
    replacement_list replacements;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    // The iterator pins the files it reads: it is gone before the compaction.
    std::unique_ptr<rocksdb::Iterator> it(log.db->NewIterator(ro, log.events()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string_view key(it->key().data(), it->key().size());
        auto seq = event_format::decode_key(key);
        if (!seq) return seq.status();
        auto event =
            event_format::decode(*seq, std::string_view(it->value().data(), it->value().size()));
        if (!event) return event.status();
        ++report.records;
        EventRecord record{*seq, std::move(*event)};
        auto replacement = rewrite(record);
        if (!replacement) return replacement.status();
        if (!*replacement) continue;
        if (type_of(**replacement) != type_of(record.event))
            return Status::invalid_argument(
                fmt::format("seq {}: a rewrite must keep the event's type ({})", *seq,
                            event_type_name(type_of(record.event))));
        replacements.emplace_back(std::string(key), event_format::encode(**replacement));
    }
    if (Status s = from_rocks(it->status(), "scanning the event log"); !s) return s;
    return replacements;
}

Status write_replacements(const open_log& log, const replacement_list& replacements) {
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : replacements) {
        batch.Put(log.events(), key, value);
        if (batch.GetDataSize() >= k_batch_bytes)
            if (Status s = write_synced(*log.db, batch); !s) return s;
    }
    return write_synced(*log.db, batch);
}

// Drops the old values from the files. Always, even with nothing to replace: a run
// interrupted after its writes would otherwise leave the old values in the files, and the
// next run would find nothing to replace.
Status flush_and_compact(const open_log& log) {
    rocksdb::FlushOptions flush;
    flush.wait = true;
    flush.allow_write_stall = true;
    rocksdb::CompactRangeOptions compact;
    compact.exclusive_manual_compaction = true;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    compact.allow_write_stall = true;
    for (const auto& h : log.handles) {
        // The flush ends the write-ahead log that still holds the old values' first
        // writes (replayed into the memtable at open) and the replacements.
        if (Status s = from_rocks(log.db->Flush(flush, h.get()), "flushing the event log"); !s)
            return s;
        if (Status s = from_rocks(log.db->CompactRange(compact, h.get(), nullptr, nullptr),
                                  "compacting the event log");
            !s)
            return s;
    }
    return Status::ok();
}

}  // namespace

Result<RewriteReport> rewrite_event_log(const std::string& path, const RecordRewriter& rewrite) {
    auto log = open_for_rewrite(path);
    if (!log) return log.status();
    RewriteReport report;
    auto replacements = collect_replacements(*log, rewrite, report);
    if (!replacements) return replacements.status();
    if (Status s = write_replacements(*log, *replacements); !s) return s;
    report.rewritten = replacements->size();
    if (Status s = flush_and_compact(*log); !s) return s;
    log->handles.clear();
    if (Status s = from_rocks(log->db->Close(), "closing the event log"); !s) return s;
    return report;
}

}  // namespace netkeep
