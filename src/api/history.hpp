#pragma once
// The history index behind GET /api/v1/devices/<device>/history: every version of each
// task's file in git (commit, time, seq), kept in memory so the answer never walks the
// git history.
//
// Built at start from the git writer's records in the log's meta column family
// ("gitwriter.applied.<20-digit seq>" = "<blob> <commit|-> <path>", docs/git.md
// "Records of what was applied") joined with their CompletionRecorded events (device,
// job, end_timestamp), then kept current from the git writer's on_applied observer.
// The record format is the git writer's public one (netkeep/git_records.hpp, its own
// small library: src/api does not link libgit2).
//
// Threads: HistoryIndex belongs to the io thread. load_applied_records() and
// resolve_records() read the log and may run on any thread (the observer calls
// resolve_records() on the git writer's thread, then posts the entries to the io thread).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"

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
};

// A record joined with its completion.
struct HistoryEntry {
    std::string device;
    std::string job;
    FileVersion version;
};

class HistoryIndex {
public:
    // Records with a commit are versions; one without (main already had that content)
    // is not. Entries at or before the last seq already known for the task are ignored,
    // so a record reported twice (at start and by the observer) is listed once.
    // Returns whether the entry was a new version.
    bool add(HistoryEntry entry);

    using Jobs = std::map<std::string, std::vector<FileVersion>, std::less<>>;
    // The device's versions by job, oldest first; nullptr when it has none.
    const Jobs* device(std::string_view device) const;
    const FileVersion* last_change(std::string_view device, std::string_view job) const;
    std::uint64_t versions() const { return versions_; }

private:
    std::unordered_map<std::string, Jobs> by_device_;
    std::uint64_t versions_ = 0;
};

// The completions the records are for (one point read of the log each). A record whose
// event is missing or not a CompletionRecorded is an error naming its seq.
Result<std::vector<HistoryEntry>> resolve_records(const EventLog& log,
                                                  std::vector<GitAppliedRecord> records);

// Every record in the log's meta, resolved: the start-up load.
Result<std::vector<HistoryEntry>> load_applied_records(const EventLog& log);

// The start-up load into `index`, logged. A record that does not resolve is logged and
// leaves the index empty: the index serves operators, a bad record must not stop backups.
void load_history(const EventLog& log, HistoryIndex& index);

}  // namespace netkeep::api
