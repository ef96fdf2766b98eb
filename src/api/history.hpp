#pragma once
// The history index behind GET /api/v1/devices/<device>/history and the versions, config
// and diff routes: every version of each task's file in git (commit, time, seq), on disk
// in the log's meta column family, so memory does not grow with history and an answer
// never walks the git history.
//
// On disk (docs/api.md "The history index"; derived data, rebuilt from the git writer's
// records when absent):
//   history.v1.<device>\0<job>\0<20 digits: 2^64-1-seq> = a version (format below),
//                                    newest first in key order
//   history.last.v1.<device>\0<job>             = <count>\0<the task's newest version>
//   history.indexed_through                     = the highest git writer record indexed
//   history.versions                            = versions indexed, all tasks
// A version value is "<seq>\0<time>\0<commit>\0<blob>\0<worker>\0<path>": complete in
// itself, so reading history never needs the event log (retention may remove old events).
//
// Indexing: the git writer's records in the log's meta ("gitwriter.applied.<20-digit seq>"
// = "<blob> <commit|-> <path>", docs/git.md "Records of what was applied") joined with
// their CompletionRecorded events (device, job, end_timestamp, worker). At start, only the
// records after history.indexed_through, in chunks, on a thread of its own (after
// "listening on" is possible); then each batch the git writer's on_applied observer
// reports. In memory: the newest version and the count of each task (bounded by tasks).
//
// Threads: every member may be called from any thread. Reads of the cache take a mutex
// held for a copy only; writes (a durable batch) are serialized by a second one.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/mutex.hpp"

namespace netkeep::api {

// A meta record: "gitwriter.applied.00000000000000000042" = "<blob> <commit|-> <path>".
std::optional<GitAppliedRecord> parse_applied_meta(std::string_view key, std::string_view value);

struct FileVersion {
    std::uint64_t seq = 0;  // of the CompletionRecorded
    unix_time time = 0;     // its end_timestamp: the commit's time
    std::string commit;
    std::string blob;
    std::string path;
    std::string worker;  // the completion's: who fetched this version
    friend bool operator==(const FileVersion&, const FileVersion&) = default;
};

// A record joined with its completion.
struct HistoryEntry {
    std::string device;
    std::string job;
    FileVersion version;
};

// The on-disk format (see above).
inline constexpr std::string_view k_history_prefix = "history.v1.";
inline constexpr std::string_view k_history_last_prefix = "history.last.v1.";
inline constexpr std::string_view k_history_indexed_through = "history.indexed_through";
inline constexpr std::string_view k_history_versions = "history.versions";
std::string history_task_prefix(std::string_view device, std::string_view job);
std::string history_key(std::string_view device, std::string_view job, std::uint64_t seq);
std::string encode_version(const FileVersion& v);
std::optional<FileVersion> decode_version(std::string_view value);

// What the cache keeps per task: its newest version and how many it has.
struct TaskHistory {
    FileVersion last;
    std::uint64_t count = 0;
};

// A page of a task's versions, newest first.
struct VersionPage {
    std::vector<FileVersion> versions;
    std::optional<std::uint64_t> next_before;  // pass as `before` for the next page
};

// Bounds of the reads: a page, and the whole list config and diff look commits up in.
inline constexpr std::size_t k_max_history_page = 1000;
inline constexpr std::size_t k_max_task_versions = 100'000;

class HistoryIndex {
public:
    // `read_archived` reads the completions retention moved out of the log: an index built
    // again after retention (its history.* keys removed) resolves its oldest records there.
    // Without it (--archive none) the records of deleted events are skipped unread, with
    // one warning. While a chunk is read from the archive (a segment read, ~1 s), a git
    // writer batch reported meanwhile waits for it.
    explicit HistoryIndex(EventLog& log, EventLog::ReadArchived read_archived = {})
        : log_(log), read_archived_(std::move(read_archived)) {}
    // Stops and joins the start-up indexing.
    ~HistoryIndex();
    HistoryIndex(const HistoryIndex&) = delete;
    HistoryIndex& operator=(const HistoryIndex&) = delete;

    // Writes the entries (those with a commit: one without is no version) and
    // history.indexed_through = max(it, through) in one durable batch, then updates the
    // cache. An entry already on disk (a record reported twice) is not counted again.
    // The number of new versions.
    Result<std::size_t> add(const std::vector<HistoryEntry>& entries, std::uint64_t through);

    // The start-up work, on a thread of its own: loads the cache, then indexes the records
    // after history.indexed_through, `chunk` at a time. indexing() until it is done. The
    // thread stays: whenever indexing() turns true again (a failed write) it indexes from
    // history.indexed_through again, retrying a failure with a growing delay (up to 5 min).
    void start(std::size_t chunk = 4096);
    // The same, on the calling thread (tests, tools); the first error. `load` false: the
    // cache is loaded already (a retry).
    Status catch_up(std::size_t chunk = 4096, bool load = true);
    // The git writer's observer (its thread): adds a batch it reported, resolved, whose
    // records go up to seq `through`. While the indexing thread runs, the batch is left
    // to it (the records are in meta already). A failed write is logged and hands every
    // batch from then on to the indexing thread: indexed_through did not move, so it
    // indexes the failed batch and the later ones from meta, none lost, none twice.
    void on_applied(const std::vector<HistoryEntry>& entries, std::uint64_t through);
    // The observer could not resolve a batch (a failed read): logged, and the batch and every
    // later one are left to the indexing thread, as after a failed write.
    void hand_over(const Status& why);
    // The git writer's records joined with their completions, as the indexing joins them
    // (resolve_tolerant with this index's archive reader): for the writer's observer.
    Result<std::vector<HistoryEntry>> resolve(std::vector<GitAppliedRecord> records) const;

    // The cache: cheap, any thread.
    std::optional<TaskHistory> last_change(std::string_view device, std::string_view job) const;
    // The device's jobs with versions, by name.
    std::map<std::string, TaskHistory, std::less<>> device_jobs(std::string_view device) const;
    std::uint64_t versions() const { return versions_.load(); }
    bool indexing() const { return !caught_up_.load(); }

    // Disk reads (a prefix range read; call off the io thread when they can be long).
    // Newest first, seq < before, at most limit (<= k_max_history_page).
    Result<VersionPage> page(std::string_view device, std::string_view job, std::uint64_t before,
                             std::size_t limit) const;
    // Every version, oldest first, at most k_max_task_versions (the newest ones).
    Result<std::vector<FileVersion>> all(std::string_view device, std::string_view job) const;

private:
    Status load_cache();
    // One chunk of records after indexed_through; false when there were none.
    Result<bool> index_chunk(std::size_t chunk);
    Result<std::size_t> add_locked(const std::vector<HistoryEntry>& entries, std::uint64_t through)
        REQUIRES(write_mutex_);

    EventLog& log_;
    const EventLog::ReadArchived read_archived_;
    Mutex write_mutex_;  // one durable batch at a time; the catch-up/observer hand-over
    std::uint64_t indexed_through_ GUARDED_BY(write_mutex_) = 0;
    mutable Mutex cache_mutex_;
    std::unordered_map<std::string, std::map<std::string, TaskHistory, std::less<>>> tasks_
        GUARDED_BY(cache_mutex_);
    std::atomic<std::uint64_t> versions_{0};
    std::atomic<bool> caught_up_{false};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// The completions the records are for (one scan of the log over their range, through
// read_archived when it is set). A record whose event is missing or not a
// CompletionRecorded is an error naming its seq.
Result<std::vector<HistoryEntry>> resolve_records(const EventLog& log,
                                                  std::vector<GitAppliedRecord> records,
                                                  const EventLog::ReadArchived& read_archived = {});
// As resolve_records, but a record whose event is missing or not a completion (Corruption,
// NotFound) is logged (history.record_skipped, at most 20 lines a call, then a count) and
// left out: one bad record must not keep the rest of the history from being indexed. The
// records below the log's first_seq are read in one pass through read_archived; without
// it, or when a segment is missing or damaged, they are left out with one line
// (history.retired_skipped). Any other error (a read that failed, a log closing) is
// returned: the records must be indexed later, not skipped.
Result<std::vector<HistoryEntry>> resolve_tolerant(
    const EventLog& log, std::vector<GitAppliedRecord> records,
    const EventLog::ReadArchived& read_archived = {});

}  // namespace netkeep::api
