#pragma once
// The in-memory state of netkeep, rebuilt from the event log: every task, its one open
// occurrence, its lease and attempts, and indexes to answer /worker/next without a scan.
//
// The projection changes only through apply(event), a deterministic function of the
// event and the state, so the server, replay at start-up and netkeepctl share it, and
// tests replay a std::vector<Event> with no database. The decide_* functions compute the
// events the server appends; they read the state but never change it.
//
// Threads: not synchronised. In netkeepd the HTTP (io_context) thread owns it.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/events.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

using task_id = std::uint32_t;

struct Lease {
    unix_time granted_at = 0;
    unix_time deadline = 0;
    std::uint32_t attempt = 1;
    std::string worker;
    std::string holder;  // the token it belongs to; empty without --auth
    friend bool operator==(const Lease&, const Lease&) = default;
};

// The last success or failure of a task, for operators.
struct Outcome {
    unix_time at = 0;
    std::uint64_t seq = 0;
    std::string failure;  // empty for a success
    friend bool operator==(const Outcome&, const Outcome&) = default;
};

// The longest list of names TaskState::changed_by keeps: a name that would make it
// longer is left out (the commit still shows the first ones).
inline constexpr std::size_t k_changed_by_max = 256;

// Adds `name` to the ", "-separated `list` unless it is empty, already there, or would
// make the list longer than k_changed_by_max. Pure: the projection's rule, shared with
// decide_run so that a request that would change nothing is not appended.
bool add_changed_by(std::string& list, std::string_view name);

struct TaskState {
    // Views of the names in Projection::inventory(), valid until the next
    // InventoryApplied is applied (which re-points them): no allocation per task.
    std::string_view device;
    std::string_view job;
    std::uint32_t device_index = 0;  // into inventory().devices
    std::uint32_t job_index = 0;     // into inventory().jobs

    // The open occurrence (device, job, timestamp). Every task has one unless `closed`
    // (its device or job was removed and the next InventoryApplied drops the task).
    unix_time timestamp = 0;
    unix_time due = 0;  // when it may be handed out: timestamp, or after a retry delay
    std::uint32_t failed_attempts = 0;  // of the open occurrence
    std::optional<Lease> lease;
    bool leased_once = false;  // a completion is accepted only for an occurrence handed out
    // The token of the open occurrence's newest lease, kept after that lease expires: its
    // holder may still complete the occurrence (docs/security.md).
    std::string newest_holder;
    bool closed = false;

    // Who changed the device, for the open occurrence: the changed_by names of the
    // RunRequested events with a trigger (syslog) that asked for it, ", "-separated, each
    // once, at most k_changed_by_max bytes; and the last such trigger. The completion that
    // answers the occurrence carries both (decide_completion); they end with it.
    std::string changed_by;
    std::string trigger;
    // A triggered RunRequested that met a lease: once that lease's occurrence closes, the
    // next occurrence is due at once instead of at its scheduled slot, carrying these
    // (docs/syslog.md#a-change-during-a-backup).
    bool follow_up = false;
    std::string follow_up_changed_by;
    std::string follow_up_trigger;

    std::optional<Outcome> last_success;
    std::optional<Outcome> last_failure;
    // The last completion recorded, so that a worker re-posting it (after a lost answer)
    // gets the same answer instead of a second commit.
    std::optional<CompletionRecorded> last_completion;
    std::uint64_t last_completion_seq = 0;

    // Transient, never replayed: nonzero while an append about this task is in flight,
    // so it is not handed out or expired twice meanwhile. See Projection::reserve.
    std::uint64_t reservation = 0;
};

// An inventory with its lookups by name and tag, immutable once built, so that it can be
// built on another thread than the projection's and then shared with it. Task ids are
// positions in inventory().tasks.
class InventoryIndex {
public:
    static constexpr task_id k_no_task = ~task_id{0};

    static std::shared_ptr<const InventoryIndex> build(Inventory inventory);
    // The lookups are views of inventory_'s names: the index never moves once built.
    InventoryIndex(const InventoryIndex&) = delete;
    InventoryIndex& operator=(const InventoryIndex&) = delete;

    const Inventory& inventory() const { return inventory_; }
    std::optional<std::uint32_t> device(std::string_view name) const;
    std::optional<std::uint32_t> job(std::string_view name) const;
    // The task running `job` on `device` (indexes into inventory()), or k_no_task. Replay
    // calls this for every event: a device has few jobs, so its run is scanned in place.
    task_id task(std::uint32_t device, std::uint32_t job) const {
        if (device + 1 >= device_task_begin_.size()) return k_no_task;
        const JobTask* first = device_tasks_.data() + device_task_begin_[device];
        const JobTask* last = device_tasks_.data() + device_task_begin_[device + 1];
        if (last - first > 8)
            first = std::lower_bound(first, last, job,
                                     [](const JobTask& p, std::uint32_t j) { return p.job < j; });
        for (; first != last && first->job <= job; ++first)
            if (first->job == job) return first->task;
        return k_no_task;
    }
    std::optional<std::uint32_t> tag(std::string_view name) const;
    std::size_t tag_count() const { return tag_count_; }
    // The tag ids of a device's tags.
    std::span<const std::uint32_t> device_tags(std::uint32_t device) const {
        return std::span<const std::uint32_t>(device_tag_ids_)
            .subspan(device_tag_begin_[device],
                     device_tag_begin_[device + 1] - device_tag_begin_[device]);
    }

private:
    struct private_tag {};

public:
    InventoryIndex(private_tag, Inventory inventory);

private:
    Inventory inventory_;
    // Replay looks a task up for every event: views, so no "device/job" string is built.
    std::unordered_map<std::string_view, std::uint32_t> device_by_name_;
    std::unordered_map<std::string_view, std::uint32_t> job_by_name_;
    // Sparse device x job table, proportional to tasks (a dense one is 4 bytes per pair:
    // 400 MB at 100k devices x 1,000 jobs): device d's tasks, by job id, are
    // device_tasks_[device_task_begin_[d] .. device_task_begin_[d + 1]).
    struct JobTask {
        std::uint32_t job = 0;
        task_id task = 0;
    };
    std::vector<std::uint32_t> device_task_begin_;
    std::vector<JobTask> device_tasks_;
    void build_task_table();
    std::unordered_map<std::string_view, std::uint32_t> tag_ids_;
    std::uint32_t tag_count_ = 0;
    // A device's tag ids are device_tag_ids_[device_tag_begin_[d] .. device_tag_begin_[d + 1]).
    std::vector<std::uint32_t> device_tag_begin_;
    std::vector<std::uint32_t> device_tag_ids_;
};

// What applying a new inventory takes besides the state of the tasks: the new inventory's
// index and which of the current tasks each new task continues. Built by
// prepare_inventory on any thread, so that on the projection's thread a reload of
// 100,000 devices costs moving pointers, not parsing and hashing names.
struct PreparedInventory {
    std::shared_ptr<const InventoryIndex> next;
    std::shared_ptr<const InventoryIndex> current;  // the inventory it was prepared against
    // Per task of next: the task of current with the same device and job, or k_no_task.
    std::vector<task_id> previous;
    // The tasks of current whose device and job no longer meet in next.
    std::vector<task_id> dropped;
};

// Pure: reads only the two inventories. Valid for a projection whose inventory_index() is
// still `current`; Projection::apply prepares again when it is not.
PreparedInventory prepare_inventory(std::shared_ptr<const InventoryIndex> current, Inventory next);

class Projection {
public:
    Projection();

    // Applies one durable event. Events that no longer relate to the state (a lease for
    // a removed task, an expiry of a lease that was completed) change nothing. The only
    // error is an InventoryApplied whose content does not parse.
    Status apply(const EventRecord& record);
    // The same for an InventoryApplied whose files the caller has already parsed (exactly
    // as apply() would: parse_inventory({devices_json, jobs_json}, resolve_secrets = false))
    // and prepared against inventory_index(), on another thread than the projection's (a
    // reload of 100,000 devices). Any other event: apply(record). Takes
    // prepared.next and leaves the replaced inventory in prepared.current, for the caller
    // to free where it likes (freeing 100,000 devices takes a while).
    Status apply(const EventRecord& record, PreparedInventory& prepared);

    std::uint64_t last_seq() const { return last_seq_; }
    // The structural inventory of the last InventoryApplied (secrets unresolved).
    const Inventory& inventory() const { return index_->inventory(); }
    std::shared_ptr<const InventoryIndex> inventory_index() const { return index_; }
    // The last InventoryApplied's files in their recorded form (record_inventory_files),
    // also when the record itself holds literal secrets (a log from before redaction).
    const InventoryFiles& applied_files() const { return applied_files_; }

    // Changes whenever an InventoryApplied is applied, which renumbers tasks.
    std::uint64_t inventory_generation() const { return inventory_generation_; }

    std::size_t task_count() const { return tasks_.size(); }
    const TaskState& task(task_id id) const { return *tasks_.at(id); }
    const JobSpec& job_of(task_id id) const {
        return inventory().jobs.at(tasks_.at(id)->job_index);
    }
    std::optional<task_id> find(std::string_view device, std::string_view job) const;
    bool has_device(std::string_view device) const;
    bool has_job(std::string_view job) const;

    // Open occurrences that are not leased or reserved, due at or before horizon, whose
    // device carries any of tags (all tasks when tags is empty), earliest due first
    // (ties by task order), at most max. Costs O(max · log n) plus duplicates across tags.
    std::vector<task_id> due(std::span<const std::string> tags, unix_time horizon,
                             std::size_t max) const;

    // Leases whose deadline is at or before now and that are not reserved, earliest first.
    std::vector<task_id> expired_leases(unix_time now, std::size_t max) const;
    // The earliest deadline of any unreserved lease.
    std::optional<unix_time> next_deadline() const;

    // Replaying many events: skip index maintenance per event and rebuild the indexes
    // once in resume_indexing(). due(), expired_leases() and next_deadline() are
    // meaningless in between.
    void defer_indexing();
    void resume_indexing();

    // Takes a task out of the due and deadline indexes while the server appends an event
    // about it, and returns the reservation's token; release() with that token puts the
    // task back in whatever index its (possibly updated) state belongs to. A task already
    // reserved is not reserved again (returns 0). Never used by replay. Task ids change
    // when an InventoryApplied is applied (a reservation survives it): after an await,
    // find() the task again; the token makes sure only its holder releases it.
    std::uint64_t reserve(task_id id);
    void release(task_id id, std::uint64_t token);

    // Snapshots (netkeep/snapshot.hpp): the projection a snapshot saved. `index` is the
    // inventory of `applied_files` parsed exactly as apply() parses an InventoryApplied
    // (the empty inventory when inventory_generation is 0); `tasks` are the states of its
    // tasks in inventory().tasks order, whose device, job and indexes are set here from the
    // index and whose `reservation` is dropped. The indexes are built once. InvalidArgument
    // when the tasks do not match the inventory.
    static Result<Projection> restore(std::uint64_t last_seq, std::uint64_t inventory_generation,
                                      InventoryFiles applied_files,
                                      std::shared_ptr<const InventoryIndex> index,
                                      std::vector<TaskState> tasks);

private:
    using index = std::set<std::pair<unix_time, task_id>>;

    void apply_inventory(unix_time at, PreparedInventory& prepared);
    void apply_lease(const LeaseGranted& e);
    void apply_expiry(std::uint64_t seq, const LeaseExpired& e);
    void apply_completion(std::uint64_t seq, const CompletionRecorded& e);
    void apply_close(const OccurrenceClosed& e);
    void apply_run(const RunRequested& e);
    static void take_follow_up(TaskState& t);

    // The task whose open occurrence is (device, job, timestamp).
    std::optional<task_id> open_occurrence(std::string_view device, std::string_view job,
                                           unix_time timestamp) const;

    void unindex(task_id id);
    void index_task(task_id id);
    void rebuild_indexes();
    // From the inventory's dense task list, not the task: no pointer to chase per task.
    std::span<const std::uint32_t> tags_of(task_id id) const {
        return index_->device_tags(index_->inventory().tasks[id].device);
    }

    std::uint64_t last_seq_ = 0;
    InventoryFiles applied_files_;
    std::shared_ptr<const InventoryIndex> index_;
    // One allocation per task: a reload re-orders 200,000 tasks by moving pointers.
    std::vector<std::unique_ptr<TaskState>> tasks_;

    // Every task is in due_all_ and in the set of each of its device's tags (by tag id)
    // while it is open, unleased and unreserved.
    std::vector<index> due_by_tag_;
    index due_all_;
    index deadlines_;  // (lease deadline, task) of unreserved leases
    bool indexing_deferred_ = false;
    std::uint64_t next_reservation_ = 1;
    std::uint64_t inventory_generation_ = 0;
};

// Applies the log's events after p.last_seq() through `through`, rebuilding the
// indexes once at the end. Stops at the first event that does not decode or apply.
Status replay(const EventLog& log, std::uint64_t through, Projection& p);

// ---- decisions: the events the server appends, computed from the state ----

// The grant of task's open occurrence at now: deadline = max(timestamp, now) + timeout.
// `holder` is the token the lease belongs to (empty without --auth).
LeaseGranted decide_grant(const Projection& p, task_id id, unix_time now, std::string worker,
                          std::string holder = {});

// The expiry of task's lease at now, followed by OccurrenceClosed(failed) when that
// was the last allowed attempt.
std::vector<Event> decide_expiry(const Projection& p, task_id id, unix_time now);

// What to do with a worker's completion.
struct CompletionDecision {
    enum class Kind {
        accept,          // append `events`
        repeat,          // already recorded as `seq`: answer the same, append nothing
        unknown_device,  // 404
        unknown_job,     // 404
        not_selected,    // 404: the job does not run on that device
        not_open,        // 409: no such open occurrence (closed, or another timestamp)
        never_leased,    // 409: the occurrence was never handed out
        busy,            // 503: an append about this task is in flight; retry
    };
    Kind kind = Kind::accept;
    std::uint64_t seq = 0;
    std::vector<Event> events;
    std::string message;  // for the error answer
};

// Matches a completion (its spool file already durable) to the open occurrence. The
// first completion of an occurrence closes it (succeeded), or is a failed attempt
// (closing it as failed when it was the last allowed one).
CompletionDecision decide_completion(const Projection& p, const CompletionRecorded& completion);

// Running a task now (POST /api/v1/tasks/<device>/<job>/run).
struct RunDecision {
    enum class Kind {
        accept,          // append `event`
        already_due,     // 200 without an event: applying one would change nothing (`message` says
                         // why)
        unknown_device,  // 404
        unknown_job,     // 404
        not_selected,    // 404: the job does not run on that device
        removed,         // 404: the task is leaving the inventory
        leased,          // 409: its occurrence is leased now; `message` names the holder
        busy,            // 503: an append about this task is in flight; retry
    };
    Kind kind = Kind::accept;
    RunRequested event;
    std::string message;  // for the error answer
};

// A RunRequested for the task's open occurrence at now, unless it cannot run now, or
// already runs now: an occurrence due at or before now (its baseline, a retry whose delay
// passed, or one a run-now already asked for) whose timestamp is not in the future gets
// already_due, so that asking again and again does not grow the log.
// Applying it (see Projection::apply) makes the occurrence due at now: its due time
// becomes min(due, now) (a retry delay is skipped; attempts are kept), and an
// occurrence never handed out whose timestamp is still in the future is replaced by one
// timestamped now, so the run's file and commit carry the time it was asked for. An
// occurrence handed out before keeps its timestamp: a late completion of that lease
// must still find it. A RunRequested for an occurrence no longer open, or leased, when
// it is applied changes nothing.
//
// With a trigger (a syslog config-change message, issue 14; `changed_by` is the user it
// names, may be empty) the event records both, and two cases differ: a leased occurrence
// gets a RunRequested too (accept), which asks for a follow-up run after that lease's
// occurrence closes; and an occurrence already due, or a follow-up already asked for, is
// accepted again only when `changed_by` is a name it does not list yet (so the commit
// names everyone who changed the device), else already_due.
RunDecision decide_run(const Projection& p, std::string_view device, std::string_view job,
                       unix_time now, std::string requested_by, std::string changed_by = {},
                       std::string trigger = {});

// Applying a new inventory: OccurrenceClosed(removed) for each open occurrence whose
// task disappears, then InventoryApplied. `parsed` comes from parse_inventory; what is
// compared and stored is its recorded form (parsed.recorded: literal secrets as
// redaction markers), so the log never holds a literal password. Empty when the
// recorded form equals the applied one: a changed literal password changes its marker.
std::vector<Event> decide_inventory(const Projection& p, const Inventory& parsed, unix_time now);
// The same for `parsed`'s structural form prepared against p.inventory_index() (the
// server's reload, which prepares on another thread).
std::vector<Event> decide_inventory(const Projection& p, const PreparedInventory& prepared,
                                    unix_time now);

}  // namespace netkeep
