#pragma once
// Projection snapshots (docs/snapshots.md): the projection as of one sequence number, saved
// in a versioned, checksummed, zstd-compressed file, so that netkeepd and `netkeepctl state
// --at` load it and replay only the events after it instead of the whole log.
//
// A snapshot is derived data: a damaged or foreign one is detected (magic, version, header
// checksum, body checksum, bounded sizes, a body that must match its own inventory) and
// skipped, never trusted; the log stays the truth.
//
// Threads: the functions hold nothing between calls; any thread. SnapshotWriter runs its
// own thread (see the class comment).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/mutex.hpp"
#include "netkeep/projection.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

struct SnapshotInfo {
    std::string path;
    std::uint64_t seq = 0;
    unix_time at = 0;  // 0 when only the name was read (list_snapshots)
    std::uint64_t bytes = 0;
};

// What a snapshot's header says, besides its seq and time.
struct SnapshotHeader {
    std::uint64_t seq = 0;
    unix_time at = 0;
    std::uint64_t tasks = 0;
    std::uint64_t inventory_generation = 0;
    // The fingerprint of the log's event at `seq` (snapshot_event_check), 0 when unknown:
    // a snapshot whose event differs from the log's belongs to another log.
    std::uint32_t event_check = 0;
};

// The fingerprint of an event, as a snapshot header keeps it (CRC-32C of its record
// encoding, never 0).
std::uint32_t snapshot_event_check(const Event& event);

// The file name of the snapshot at seq: snap-<20-digit seq>.nks.
std::string snapshot_file_name(std::uint64_t seq);

// Snapshots in dir by file name, newest (highest seq) first; nothing is read but names and
// sizes. A missing dir is no snapshots.
std::vector<SnapshotInfo> list_snapshots(const std::string& dir);

// Writes p atomically (temp file, fsync, rename, fsync dir); creates dir if missing.
// `at` = time of the event at p.last_seq(); `event_check` = snapshot_event_check of it
// (0: unknown).
Result<SnapshotInfo> write_snapshot(const std::string& dir, const Projection& p, unix_time at,
                                    std::uint32_t event_check = 0);

// The file's bytes for p (what write_snapshot writes), and a projection from them:
// verifies magic, version, checksums and every size before using it (Corruption or
// NotSupported naming what is wrong). For tests and tools.
std::string encode_snapshot(const Projection& p, unix_time at, std::uint32_t event_check = 0);
Result<Projection> decode_snapshot(std::string_view bytes, SnapshotHeader* header = nullptr);
Result<SnapshotHeader> decode_snapshot_header(std::string_view bytes);

// Reads and verifies one snapshot (at most k_snapshot_max_file bytes).
Result<Projection> load_snapshot(const std::string& path, SnapshotHeader* header = nullptr);
// Reads and verifies only the header (cheap: the first bytes).
Result<SnapshotHeader> read_snapshot_header(const std::string& path);

// Bounds on what a load reads and allocates, whatever a file claims.
inline constexpr std::uint64_t k_snapshot_max_file = std::uint64_t(4) << 30;   // 4 GiB
inline constexpr std::uint64_t k_snapshot_max_body = std::uint64_t(16) << 30;  // decompressed

// The newest snapshot with seq <= max_seq and at <= max_at that loads and that `accept`
// (if set) does not refuse; damaged or refused ones are skipped with a warning log line
// (snapshot.skipped). nullopt: none (full replay).
struct LoadedSnapshot {
    SnapshotInfo info;
    SnapshotHeader header;
    Projection projection;
};
using SnapshotCheck = std::function<Status(const SnapshotHeader&)>;
std::optional<LoadedSnapshot> load_newest_snapshot(
    const std::string& dir, std::uint64_t max_seq = std::numeric_limits<std::uint64_t>::max(),
    unix_time max_at = std::numeric_limits<unix_time>::max(), const SnapshotCheck& accept = {});

// Refuses a snapshot ahead of the log, or whose event at its seq differs from the log's
// (another log, or a log restored from an older backup). An event the log no longer
// holds (retention) is not checked.
SnapshotCheck snapshot_matches_log(const EventLog& log);

// Thinning: keeps the newest 3 plus the first snapshot of each UTC day (by its header's
// `at`) of the last keep_days days before now; removes the others. Unreadable headers are
// removed unless among the newest 3.
Status thin_snapshots(const std::string& dir, int keep_days, unix_time now);

// netkeepd's snapshot thread: keeps its own projection (the newest snapshot that loads,
// else a replay of the log), follows the log with wait_for() and scan(), and writes a
// snapshot every `every` events or every `interval` when events were applied, then thins.
// Nothing is copied from, or waits for, the server's projection.
// Threads: start() and stop() from one thread; stats() from any; the rest is its own.
struct SnapshotWriterOptions {
    std::string dir;
    std::uint64_t every = 1'000'000;     // 0: no count trigger
    std::chrono::seconds interval{600};  // 0: no time trigger
    int keep_days = 400;
    std::function<unix_time()> now;  // unset: the system clock
    bool write_at_stop = true;       // one more snapshot at a clean stop
    // Reads records retention moved out of the log (netkeepd: scan_with_archive), for a
    // projection that ends below the log's first_seq (the newer snapshots did not load).
    // Unset: the thread stops with an error there rather than apply across the gap.
    EventLog::ReadArchived read_archived;
};

struct SnapshotStats {
    std::uint64_t last_seq = 0;  // of the newest snapshot written or found; 0: none
    std::uint64_t last_bytes = 0;
    unix_time last_written = 0;  // wall time it was written (or the file's at when found)
    std::uint64_t written = 0;   // by this process
    std::uint64_t failures = 0;
};

class SnapshotWriter {
public:
    SnapshotWriter(const EventLog& log, SnapshotWriterOptions options);
    SnapshotWriter(const SnapshotWriter&) = delete;
    SnapshotWriter& operator=(const SnapshotWriter&) = delete;
    ~SnapshotWriter();

    void start();
    // Stops the thread (writing a last snapshot when asked and anything changed).
    void stop();
    SnapshotStats stats() const EXCLUDES(mutex_);

private:
    void run();
    bool write_now(Projection& p, unix_time at, std::uint32_t check);

    const EventLog& log_;
    SnapshotWriterOptions options_;
    mutable Mutex mutex_;
    SnapshotStats stats_ GUARDED_BY(mutex_);
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace netkeep
