#include "rocks_common.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include <rocksdb/cache.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "core/event_format.hpp"

namespace netkeep::store {

std::vector<rocksdb::ColumnFamilyDescriptor> column_families() {
    // Index blocks live in one bounded cache instead of staying in memory for every table
    // file: a year of 10,000 devices (22 GiB of log) otherwise held ~230 MiB of them, so
    // memory grew with history. Partitioned, only the small top level stays pinned.
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(k_block_cache_bytes);
    table.cache_index_and_filter_blocks = true;
    table.cache_index_and_filter_blocks_with_high_priority = true;
    table.pin_top_level_index_and_filter = true;
    table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return {
        {rocksdb::kDefaultColumnFamilyName, cf_options},
        {k_events_cf, cf_options},
        {k_meta_cf, cf_options},
    };
}

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
    if (s.ok()) return Status::ok();
    std::string msg = fmt::format("{}: {}", what, s.ToString());
    if (s.IsNoSpace()) return Status::no_space(std::move(msg));
    if (s.IsNotFound()) return Status::not_found(std::move(msg));
    if (s.IsCorruption()) return Status::corruption(std::move(msg));
    if (s.IsInvalidArgument()) return Status::invalid_argument(std::move(msg));
    if (s.IsNotSupported()) return Status::not_supported(std::move(msg));
    if (s.IsBusy() || s.IsTryAgain()) return Status::unavailable(std::move(msg));
    return Status::io_error(std::move(msg));
}

Result<std::uint64_t> find_last_seq(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), events));
    it->SeekToLast();
    if (it->Valid())
        return event_format::decode_key(std::string_view(it->key().data(), it->key().size()));
    if (Status st = from_rocks(it->status(), "finding the end of the event log"); !st) return st;
    return std::uint64_t{0};
}

namespace {

rocksdb::ReadOptions scan_options(const rocksdb::Snapshot* snapshot) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a replay reads everything once; keep the cache for tails
    ro.readahead_size = 2 << 20;
    ro.verify_checksums = false;  // every record carries its own CRC-32C, checked on decode
    ro.snapshot = snapshot;
    return ro;
}

// The pinned records in [from, limit] (all below first_seq), by point reads.
Status visit_pinned(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events,
                    const rocksdb::ReadOptions& ro, std::uint64_t from, std::uint64_t limit,
                    const RetiredPrefix& prefix, const EventLog::Visitor& visit, bool& more) {
    for (std::uint64_t seq : prefix.pinned) {
        if (seq < from || seq > limit) continue;
        std::string value;
        rocksdb::Status s = db.Get(ro, events, event_format::encode_key(seq), &value);
        if (s.IsNotFound())
            return Status::corruption(fmt::format("seq {}: pinned, but missing from the log", seq));
        if (!s.ok()) return from_rocks(s, "reading a pinned record");
        auto event = event_format::decode(seq, value);
        if (!event) return event.status();
        if (!(more = visit(EventRecord{seq, std::move(*event)}))) return Status::ok();
    }
    return Status::ok();
}

}  // namespace

Status scan_events(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events, std::uint64_t from,
                   std::uint64_t to, std::uint64_t last, const RetiredPrefix& prefix,
                   const EventLog::Visitor& visit, const rocksdb::Snapshot* snapshot) {
    from = std::max<std::uint64_t>(from, 1);
    const std::uint64_t limit = std::min(to, last);
    if (from > limit) return Status::ok();
    const rocksdb::ReadOptions ro = scan_options(snapshot);
    if (from < prefix.first_seq) {
        bool more = true;
        if (Status s = visit_pinned(db, events, ro, from, limit, prefix, visit, more); !s || !more)
            return s;
        from = prefix.first_seq;
        if (from > limit) return Status::ok();
    }
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro, events));
    std::uint64_t expected = from;
    for (it->Seek(event_format::encode_key(from)); it->Valid(); it->Next()) {
        auto seq = event_format::decode_key(std::string_view(it->key().data(), it->key().size()));
        if (!seq) return seq.status();
        if (*seq > limit) break;
        // Gapless by construction; a hole means lost data, so say which record is missing.
        if (*seq != expected)
            return Status::corruption(fmt::format("seq {}: missing from the log", expected));
        auto event =
            event_format::decode(*seq, std::string_view(it->value().data(), it->value().size()));
        if (!event) return event.status();
        expected = *seq + 1;
        if (!visit(EventRecord{*seq, std::move(*event)})) return Status::ok();
    }
    if (Status s = from_rocks(it->status(), "scanning the event log"); !s) return s;
    // Records the log has acknowledged must all be there, up to the end of the range.
    if (expected <= limit)
        return Status::corruption(fmt::format("seq {}: missing from the log", expected));
    return Status::ok();
}

Result<RetiredPrefix> read_prefix(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta) {
    std::string first;
    std::string pinned;
    for (auto [key, out] : {std::pair{k_first_seq_key, &first}, std::pair{k_pinned_key, &pinned}}) {
        rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta, key, out);
        if (!s.ok() && !s.IsNotFound()) return from_rocks(s, fmt::format("reading meta '{}'", key));
    }
    return parse_prefix(first, pinned);
}

Status delete_retired(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events,
                      const RetiredPrefix& prefix) {
    if (prefix.first_seq <= 1) return Status::ok();
    rocksdb::WriteBatch batch;
    std::uint64_t begin = 1;
    auto drop = [&](std::uint64_t end) {  // [begin, end)
        if (begin < end)
            (void)batch.DeleteRange(events, event_format::encode_key(begin),
                                    event_format::encode_key(end));
    };
    for (std::uint64_t pin : prefix.pinned) {
        drop(pin);
        begin = pin + 1;
    }
    drop(prefix.first_seq);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto s = db.Write(wo, &batch); !s.ok()) return from_rocks(s, "deleting retired records");
    const std::string low = event_format::encode_key(1);
    const std::string high = event_format::encode_key(prefix.first_seq);
    rocksdb::Slice lo(low);
    rocksdb::Slice hi(high);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    co.exclusive_manual_compaction = false;  // background compactions (of new appends) go on
    return from_rocks(db.CompactRange(co, events, &lo, &hi), "compacting retired records");
}

Status scan_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view prefix,
                 const EventLog::MetaVisitor& visit) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), meta));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
        std::string_view key(it->key().data(), it->key().size());
        if (!key.starts_with(prefix)) break;
        if (!visit(key, std::string_view(it->value().data(), it->value().size())))
            return Status::ok();
    }
    return from_rocks(it->status(), "scanning meta values");
}

namespace {
// The first key after every key that starts with prefix; nullopt when there is none
// (the prefix is all 0xff bytes, or empty).
std::optional<std::string> prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        if (static_cast<unsigned char>(end.back()) != 0xff) {
            end.back() = char(static_cast<unsigned char>(end.back()) + 1);
            return end;
        }
        end.pop_back();
    }
    return std::nullopt;
}
}  // namespace

Status scan_meta_range(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view prefix,
                       const EventLog::MetaRange& range, const EventLog::MetaVisitor& visit) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), meta));
    if (!range.reverse) {
        std::string_view from = std::max(prefix, range.start);
        it->Seek(rocksdb::Slice(from.data(), from.size()));
    } else if (!range.start.empty() && range.start <= prefix) {
        return Status::ok();  // every key of the prefix is >= start
    } else {
        auto end = prefix_end(prefix);
        std::string bound = range.start.empty() || (end && *end < range.start)
                                ? end.value_or("")
                                : std::string(range.start);
        if (bound.empty())
            it->SeekToLast();
        else
            it->SeekForPrev(bound);
        // SeekForPrev lands on the bound itself when it exists: the range excludes it.
        if (it->Valid() && !bound.empty() &&
            std::string_view(it->key().data(), it->key().size()) >= bound)
            it->Prev();
    }
    for (; it->Valid(); range.reverse ? it->Prev() : it->Next()) {
        std::string_view key(it->key().data(), it->key().size());
        if (!key.starts_with(prefix)) break;
        if (!visit(key, std::string_view(it->value().data(), it->value().size())))
            return Status::ok();
    }
    return from_rocks(it->status(), "scanning meta values");
}

Result<std::string> get_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta,
                             const std::string& key) {
    std::string value;
    rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta, key, &value);
    if (!s.ok()) return from_rocks(s, fmt::format("reading meta '{}'", key));
    return value;
}

}  // namespace netkeep::store
