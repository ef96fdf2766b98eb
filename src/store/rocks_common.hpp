#pragma once
// What the read-write event log (rocks_event_log.cpp) and the read-only reader
// (rocks_event_log_reader.cpp) share: the column families, the one conversion of RocksDB
// statuses, and the reads. Internal to src/store.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>

#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"
#include "retired.hpp"

namespace netkeep::store {

inline constexpr const char* k_events_cf = "events";
inline constexpr const char* k_meta_cf = "meta";

// default, events, meta: handles come back in this order.
// The block cache of one open log (data and index blocks of every column family).
inline constexpr std::size_t k_block_cache_bytes = 64u << 20;

std::vector<rocksdb::ColumnFamilyDescriptor> column_families();

Status from_rocks(const rocksdb::Status& s, std::string_view what);

struct cf_deleter {
    rocksdb::DB* db;
    void operator()(rocksdb::ColumnFamilyHandle* h) const {
        (void)db->DestroyColumnFamilyHandle(h);
    }
};
using cf_handle = std::unique_ptr<rocksdb::ColumnFamilyHandle, cf_deleter>;

// The sequence number of the last record; 0 for an empty log.
Result<std::uint64_t> find_last_seq(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events);

// EventLog::scan over [from, min(to, last)]: `last` is the last sequence number the
// caller may show (durable, or caught up with), so a record written but not yet
// acknowledged is never visited. Below prefix.first_seq only the pinned records are
// visited, then the scan is gapless from first_seq: a gap is a corruption naming the
// missing seq. `snapshot` (may be null): read as of it.
Status scan_events(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events, std::uint64_t from,
                   std::uint64_t to, std::uint64_t last, const RetiredPrefix& prefix,
                   const EventLog::Visitor& visit, const rocksdb::Snapshot* snapshot = nullptr);

// The retired prefix stored in meta (docs/retention.md); the whole log when none.
Result<RetiredPrefix> read_prefix(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta);

// Deletes the records `prefix` retired (DeleteRange around the pins), then compacts that
// range so the space is reclaimed. Idempotent.
Status delete_retired(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events,
                      const RetiredPrefix& prefix);

Status scan_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view prefix,
                 const EventLog::MetaVisitor& visit);

// EventLog::scan_meta_range: one seek, then Next() or Prev() while the key has the prefix.
Status scan_meta_range(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view prefix,
                       const EventLog::MetaRange& range, const EventLog::MetaVisitor& visit);

Result<std::string> get_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta,
                             const std::string& key);

}  // namespace netkeep::store
