#pragma once
// Which notifications one event causes for one target: a pure function of the event, what
// the git writer did with it (looked up by the engine), the rules and the target's failure
// state (consecutive failed attempts per task), so unit tests drive it without a log.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/events.hpp"
#include "notify/config.hpp"

namespace netkeep::notify {

// One notification, before it is formatted for its target (payload.hpp).
struct Notification {
    EventKind kind = EventKind::config_changed;
    std::uint64_t seq = 0;  // of the event that caused it: with the target, its delivery id
    std::string device;
    std::string job;
    unix_time time = 0;  // the run's end (completions), the expiry (leases)
    std::string worker;
    // config_changed: the commit that changed the file and the one before it that the old
    // content came from (empty for a task's first version); blobs are what the diff compares.
    std::string old_commit;
    std::string new_commit;
    std::string old_blob;
    std::string new_blob;
    std::string path;  // in the repository
    // false: the version before is no longer known (a target far behind): no diff.
    bool old_known = true;
    std::string diff;  // unified, from git (redacted there), at most max_diff_bytes
    bool diff_truncated = false;
    std::uint32_t failures = 0;  // backup_failed: attempts in a row; recovered: the run it ended
    std::string error;           // backup_failed: the worker's failure (bounded); quarantined: why
    // config_changed: who changed the device and what told netkeep (a syslog message: the
    // completion's changed_by and trigger, docs/syslog.md); empty for a scheduled run.
    std::string changed_by;
    std::string trigger;
};

// What the git writer did with a successful completion (the engine reads its records).
struct GitOutcome {
    enum class Kind { none, applied, quarantined };
    Kind kind = Kind::none;
    std::string blob;    // applied
    std::string commit;  // applied; empty when main already had the content
    std::string path;
    std::string previous_blob;  // the task's version before this one; empty when none
    std::string previous_commit;
    bool previous_known = true;  // false: not indexed any more (a target far behind)
    std::string detail;  // quarantined: the writer's reason (no secret: the writer's own text)
};

// A task's tags and group (for rules that filter on them); nullopt for a device the
// inventory in force does not list.
struct DeviceInfo {
    std::vector<std::string> tags;  // sorted
    std::string group;
};
using DeviceLookup = std::function<const DeviceInfo*(std::string_view device)>;

// Consecutive failed attempts per task for one target, and whether a backup_failed
// notification went out for the current run of failures (what makes a later success a
// "recovered"). Persisted with the target's cursor, so a restart neither forgets nor
// repeats. Bounded: at most k_max_tasks tasks are tracked at once (a success drops a task).
class FailureState {
public:
    static constexpr std::size_t k_max_tasks = 20'000;
    struct Entry {
        std::uint32_t failures = 0;
        bool notified = false;
    };
    // Returns the entry of a task, creating it unless k_max_tasks are tracked (nullptr).
    Entry* at(const std::string& task);
    // The entry removed (a success); nullopt when none.
    std::optional<Entry> take(const std::string& task);
    std::size_t size() const { return tasks_.size(); }
    bool changed() const { return changed_; }
    void clear_changed() { changed_ = false; }
    // "<failures> <0|1> <device/job>\n" per task.
    std::string encode() const;
    static std::optional<FailureState> decode(std::string_view text);
    friend bool operator==(const FailureState& a, const FailureState& b) {
        return a.encode() == b.encode();
    }

private:
    std::map<std::string, Entry, std::less<>> tasks_;
    bool changed_ = false;
};

// The failure text kept in a notification: the worker's message, cut at this many bytes.
inline constexpr std::size_t k_max_error_bytes = 1024;

// The notifications for target `target` (an index into config.targets) that `record`
// causes, updating `failures`. `git`: for a successful CompletionRecorded, what the writer
// did with it. In a fixed order: recovered, then config_changed (of the same completion).
std::vector<Notification> select_notifications(const NotifyConfig& config, std::size_t target,
                                               const EventRecord& record, const GitOutcome* git,
                                               FailureState& failures, const DeviceLookup& devices);

// Whether some rule sends `kind` to `target` at all (the engine skips git lookups otherwise).
bool target_wants(const NotifyConfig& config, std::size_t target, EventKind kind);

}  // namespace netkeep::notify
