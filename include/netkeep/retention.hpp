#pragma once
// Log retention (docs/retention.md): records older than the retention that nothing still
// needs move from the event log to archive segments (or are deleted), and their space is
// reclaimed. netkeepd runs apply_retention on a thread of its own; tools and tests call it
// in-process.
//
// Threads: any thread, one pass at a time per log; appends go on meanwhile.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "netkeep/event_log.hpp"
#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

struct RetentionOptions {
    // Records whose event time is older than now - max_age are candidates.
    std::int64_t max_age_seconds = 0;
    unix_time now = 0;  // 0: the clock
    // Where segments go; empty: records are deleted without archiving (--archive none).
    std::string archive_dir;
    // Snapshots by file name (snap-<20-digit seq>.nks); the newest bounds the cutoff.
    std::string snapshots_dir;
    // When set, the newest snapshot's seq (0: none), instead of listing snapshots_dir.
    std::optional<std::uint64_t> newest_snapshot_seq;
    // A segment is cut at whichever comes first.
    std::uint64_t segment_max_events = 1'000'000;
    std::uint64_t segment_max_bytes = 64ull << 20;
    int zstd_level = 3;
    // Tests: called after each step of the pass ("archived", "retired", "reclaimed");
    // returning false ends the pass there, as a crash would.
    std::function<bool(std::string_view step)> test_after_step = {};
    // netkeepd's stop: checked while archiving (every 4,096 records). Once true the pass
    // archives and retires what it has read so far and leaves the space to the next pass,
    // so a first pass over a year of log never holds the shutdown.
    std::function<bool()> stop = {};
};

struct RetentionReport {
    std::uint64_t first_seq_before = 0;
    std::uint64_t first_seq_after = 0;
    std::uint64_t cutoff = 0;        // the hard limit before the time rule (see limited_by)
    std::string limited_by;          // what bounded the hard limit: "snapshot", "consumer x", ...
    std::uint64_t archived = 0;      // records written to segments by this pass
    std::uint64_t segments = 0;      // segments written
    std::uint64_t raw_bytes = 0;     // their records' encoded size
    std::uint64_t stored_bytes = 0;  // their files' size
    std::uint64_t removed = 0;       // records that left the log (pins excluded)
    std::vector<std::uint64_t> pinned;
    double seconds = 0;  // the whole pass
};

Result<RetentionReport> apply_retention(EventLog& log, const RetentionOptions& options);

// The snapshot retention keeps the log behind, by file name (snap-<20-digit seq>.nks),
// among those at or before last_seq (one ahead of the log is stale: netkeepd removes it):
// the newest, or with `spare` the second newest, so that one damaged newest snapshot still
// leaves one that loads above the cutoff (used without an archive, where nothing else
// could fill the gap). 0 when none qualifies.
std::uint64_t newest_snapshot_seq(const std::string& dir, std::uint64_t last_seq = UINT64_MAX,
                                  bool spare = false);

}  // namespace netkeep
