#pragma once
// The durable, totally ordered event log: the write-ahead log of the whole system.
//
// Contract:
// - Sequence numbers start at 1 and have no gaps.
// - append() returns, and append_async() calls back, only after the events are
//   fsync'd: an acknowledged event survives kill -9 and power loss.
// - Appends from many threads share fsyncs: one writer thread gathers whatever is
//   pending into a single batch (group commit), so the cost of a sync is spread over
//   all the appenders waiting for it.
// - Readers never block the writer. A consumer tails the log with wait_for(), which
//   sleeps on a condition variable until the writer publishes a newer sequence number.
//
// - Write faults (docs/security.md "Faults: storage"): a write that fails is never
//   retried on its own. An error RocksDB can recover from in this process (no space
//   left, a retryable I/O error) puts the log in LogHealth::recovering: writes fail fast
//   with that error and the writer thread calls DB::Resume() every resume_every until it
//   works, so the log resumes by itself once space is freed. Anything else (a failed WAL
//   sync, which leaves RocksDB read-only) puts it in LogHealth::failed for good and calls
//   on_failed once: only a new process, replaying the WAL, can write again.
// - A write that failed was not acknowledged, but may still be in the log after a
//   restart (its bytes reached the WAL before the sync failed): callers keep whatever
//   such an event refers to (a spool file) and never assume it absent.
//
// Threads: any thread may call any member. append_async() callbacks run on the log's
// writer thread and must be quick (post the result elsewhere).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// An inclusive range of sequence numbers.
struct SeqRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    friend bool operator==(const SeqRange&, const SeqRange&) = default;
};

// Whether the log can write, and what went wrong (a snapshot; EventLog::health()).
struct LogHealth {
    enum class State {
        ok,
        recovering,  // writes refused (no space, a retryable error); DB::Resume() retried
        failed,      // writes refused until a restart (a failed WAL sync, a corruption)
    };
    State state = State::ok;
    Status error;  // what put the log in its state; ok when State::ok
    // Since when the state holds (steady clock); the epoch when the log never left ok.
    std::chrono::steady_clock::time_point since{};
    // The last write (events or meta) the log acknowledged; nullopt when none since open.
    std::optional<std::chrono::steady_clock::time_point> last_write;
    // Writes refused since open (events and meta), by cause: no space, anything else.
    std::uint64_t no_space_errors = 0;
    std::uint64_t io_errors = 0;
    std::uint64_t resumes = 0;  // times DB::Resume() brought the log back
};

std::string_view log_state_name(LogHealth::State state);

class EventLog {
public:
    using AppendCallback = std::function<void(Result<SeqRange>)>;
    // Return false to stop the scan early.
    using Visitor = std::function<bool(EventRecord&&)>;
    // Reads from..to gapless, below first_seq() too: the records retention moved to the
    // archive, then the log's (netkeepd: scan_with_archive on its archive dir). A part given
    // none reads only what the log still holds.
    using ReadArchived =
        std::function<Status(std::uint64_t from, std::uint64_t to, const Visitor& visit)>;

    virtual ~EventLog() = default;

    // Appends events atomically (all or none) and durably; the range they received.
    // Appending no events is an invalid argument.
    virtual Result<SeqRange> append(const std::vector<Event>& events) = 0;

    // As append(), but calls done on the writer thread once durable (or failed). The
    // events are encoded before this returns; the caller keeps ownership.
    virtual void append_async(const std::vector<Event>& events, AppendCallback done) = 0;

    // The last durable sequence number; 0 for an empty log.
    virtual std::uint64_t last_seq() const = 0;

    // The first sequence number the log still holds as a gapless run up to last_seq():
    // 1 unless retention (docs/retention.md) moved an older prefix to the archive or
    // deleted it. Older records are read with scan_with_archive (netkeep/archive.hpp).
    virtual std::uint64_t first_seq() const { return 1; }

    // Retention (docs/retention.md). The records below first_seq() the log still keeps,
    // ascending: the last InventoryApplied below it (the git writer's recover reads it by
    // seq). A scan starting below first_seq() visits the pinned records in its range, then
    // continues gapless from first_seq().
    virtual std::vector<std::uint64_t> pinned_seqs() const { return {}; }
    // Step 2 of a retention pass: the records below first_seq, except `pinned` (each below
    // it, at most 16), leave the log's view. Durable in meta (log.first_seq, log.pinned)
    // before anything is deleted; first_seq never moves back (a lower one is ignored).
    // Logs without retention (test doubles) keep everything. Defined here, not out of line:
    // an out-of-line virtual would be EventLog's key function and tie its typeinfo to the
    // store library, which the projection's tests do not link.
    virtual Status retire_prefix(std::uint64_t /*first_seq*/,
                                 const std::vector<std::uint64_t>& /*pinned*/) {
        return Status::not_supported("this event log does not support retention");
    }
    // Step 3: deletes the retired records from storage and reclaims their space. Idempotent;
    // each pass repeats it, finishing one a crash interrupted.
    virtual Status reclaim_retired() {
        return Status::not_supported("this event log does not support retention");
    }

    // Visits the records with from <= seq <= to in order. A record that does not decode
    // ends the scan with its Corruption/NotSupported status.
    virtual Status scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const = 0;

    // Blocks until last_seq() > after, the timeout passes or the log closes; returns
    // last_seq() at that moment.
    virtual std::uint64_t wait_for(std::uint64_t after,
                                   std::chrono::milliseconds timeout) const = 0;

    // Small named values stored beside the log (e.g. the git writer's cursor), written
    // durably. Absent keys are NotFound.
    virtual Status put_meta(const std::string& key, const std::string& value) = 0;
    // Several values at once: all of them or none (e.g. a cursor and the records it covers).
    virtual Status put_meta_batch(
        const std::vector<std::pair<std::string, std::string>>& entries) = 0;
    virtual Result<std::string> get_meta(const std::string& key) const = 0;
    // The meta values whose key starts with `prefix`, in key order (e.g. the git writer's
    // records of applied completions, "gitwriter.applied." + 20-digit seq). Return false
    // from visit to stop early.
    using MetaVisitor = std::function<bool(std::string_view key, std::string_view value)>;
    virtual Status scan_meta(std::string_view prefix, const MetaVisitor& visit) const = 0;
    // Part of a prefix, found by a seek instead of a scan from the prefix's first key (the
    // history index, docs/api.md#history, pages through tens of thousands of keys):
    // forward, the keys >= start in key order; reverse, the keys < start in descending key
    // order. An empty start is the prefix's first key forward, its last one in reverse.
    // The default filters scan_meta(); the logs in src/store seek.
    struct MetaRange {
        std::string_view start = {};
        bool reverse = false;
    };
    virtual Status scan_meta_range(std::string_view prefix, const MetaRange& range,
                                   const MetaVisitor& visit) const;

    // Completes pending appends, stops the writer and wakes every waiter. Later appends
    // fail with Unavailable. Idempotent; the destructor calls it.
    virtual void close() = 0;

    // Cheap (a lock and a copy); any thread. A reader is always ok.
    virtual LogHealth health() const = 0;
};

inline Status EventLog::scan_meta_range(std::string_view prefix, const MetaRange& range,
                                        const MetaVisitor& visit) const {
    if (!range.reverse)
        return scan_meta(prefix, [&](std::string_view key, std::string_view value) {
            return key < range.start || visit(key, value);
        });
    std::vector<std::pair<std::string, std::string>> before;
    Status s = scan_meta(prefix, [&](std::string_view key, std::string_view value) {
        if (!range.start.empty() && key >= range.start) return false;
        before.emplace_back(key, value);
        return true;
    });
    if (!s) return s;
    for (auto it = before.rbegin(); it != before.rend(); ++it)
        if (!visit(it->first, it->second)) break;
    return Status::ok();
}

struct EventLogOptions {
    // false only for benchmarks that measure what durability costs.
    bool sync = true;
    // Creates the directory (durably: its parent is synced) and the log in it.
    bool create_if_missing = true;
    // Called once when the log enters LogHealth::failed, with the error, on whichever
    // thread saw it (the writer thread, a caller of put_meta, a RocksDB background
    // thread). Must be quick and must not call into the log: netkeepd posts its exit.
    std::function<void(const Status&)> on_failed = {};
    // How often a recovering log tries DB::Resume().
    std::chrono::milliseconds resume_every{std::chrono::seconds(1)};
};

// Opens (creating if asked) the log in directory path.
Result<std::unique_ptr<EventLog>> open_event_log(const std::string& path,
                                                 const EventLogOptions& options = {});

// Opens an existing log in directory path for reading only: beside a running netkeepd
// (which keeps writing) or offline. A RocksDB secondary instance, with its private files
// in a temporary directory removed on close. It sees the log as of its last catch-up
// with the writer: opening is one, and wait_for() catches up again (polling every 100 ms,
// as a secondary has no writer to wake it). append, append_async, put_meta and
// put_meta_batch fail with NotSupported. NotFound when path holds no log.
Result<std::unique_ptr<EventLog>> open_event_log_reader(const std::string& path);

// Offline maintenance (netkeepctl scrub-secrets): for each record, `rewrite` returns a
// replacement event of the same type to store under the same sequence number, or
// nullopt to keep the record; an error from it stops the run before anything is
// written. Then every column family is flushed and fully compacted (the bottommost level
// included), so the replaced values are physically gone from the log's files: RocksDB
// deletes the SST files and write-ahead logs that held them once nothing refers to them.
// Opens the log as its only writer: Unavailable while netkeepd (or anyone) holds it,
// NotFound when path holds no log. Reaches only path: not backups, snapshots, or the
// blocks the file system freed.
struct RewriteReport {
    std::uint64_t records = 0;    // records visited
    std::uint64_t rewritten = 0;  // records replaced
};
using RecordRewriter = std::function<Result<std::optional<Event>>(const EventRecord&)>;
Result<RewriteReport> rewrite_event_log(const std::string& path, const RecordRewriter& rewrite);

}  // namespace netkeep
