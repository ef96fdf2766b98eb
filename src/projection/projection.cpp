#include "netkeep/projection.hpp"

#include <pthread.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "netkeep/mutex.hpp"
#include "netkeep/schedule.hpp"

namespace netkeep {

namespace {
template <class... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
// Clang before 17 does not deduce an aggregate's arguments (tools/check-threads uses 16).
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;
}  // namespace

// ---- the inventory index ----

std::shared_ptr<const InventoryIndex> InventoryIndex::build(Inventory inventory) {
    return std::make_shared<const InventoryIndex>(private_tag{}, std::move(inventory));
}

InventoryIndex::InventoryIndex(private_tag, Inventory inventory)
    : inventory_(std::move(inventory)) {
    device_by_name_.reserve(inventory_.devices.size());
    for (std::uint32_t i = 0; i < inventory_.devices.size(); ++i)
        device_by_name_.emplace(inventory_.devices[i].name, i);
    for (std::uint32_t i = 0; i < inventory_.jobs.size(); ++i)
        job_by_name_.emplace(inventory_.jobs[i].name, i);
    build_task_table();
    device_tag_begin_.assign(1, 0);
    for (const DeviceSpec& device : inventory_.devices) {
        for (const std::string& tag : device.tags) {
            auto [it, added] = tag_ids_.emplace(tag, tag_count_);
            if (added) ++tag_count_;
            device_tag_ids_.push_back(it->second);
        }
        device_tag_begin_.push_back(std::uint32_t(device_tag_ids_.size()));
    }
}

// Counting sort by device, then each device's run sorted by job: O(tasks), no per-pair
// storage. A pair listed twice keeps its last task, as the dense table did.
void InventoryIndex::build_task_table() {
    device_task_begin_.assign(inventory_.devices.size() + 1, 0);
    for (const TaskSpec& spec : inventory_.tasks) device_task_begin_[spec.device + 1] += 1;
    for (std::size_t d = 0; d < inventory_.devices.size(); ++d)
        device_task_begin_[d + 1] += device_task_begin_[d];
    device_tasks_.assign(inventory_.tasks.size(), JobTask{});
    std::vector<std::uint32_t> fill(device_task_begin_.begin(), device_task_begin_.end() - 1);
    for (task_id id = 0; id < inventory_.tasks.size(); ++id) {
        const TaskSpec& spec = inventory_.tasks[id];
        device_tasks_[fill[spec.device]++] = JobTask{spec.job, id};
    }
    for (std::size_t d = 0; d < inventory_.devices.size(); ++d) {
        auto first = device_tasks_.begin() + device_task_begin_[d];
        auto last = device_tasks_.begin() + device_task_begin_[d + 1];
        // Among duplicates the later task comes first: task() finds it.
        std::sort(first, last, [](const JobTask& a, const JobTask& b) {
            return a.job != b.job ? a.job < b.job : a.task > b.task;
        });
    }
}

namespace {
std::optional<std::uint32_t> lookup(const std::unordered_map<std::string_view, std::uint32_t>& map,
                                    std::string_view name) {
    auto it = map.find(name);
    if (it == map.end()) return std::nullopt;
    return it->second;
}
}  // namespace

std::optional<std::uint32_t> InventoryIndex::device(std::string_view name) const {
    return lookup(device_by_name_, name);
}
std::optional<std::uint32_t> InventoryIndex::job(std::string_view name) const {
    return lookup(job_by_name_, name);
}
std::optional<std::uint32_t> InventoryIndex::tag(std::string_view name) const {
    return lookup(tag_ids_, name);
}

namespace {
// Per task of `to`: the task of `from` with the same device and job, or k_no_task.
// Devices and jobs are matched by name once each, tasks by index pairs.
std::vector<task_id> previous_tasks(const InventoryIndex& from, const Inventory& to) {
    std::vector<std::optional<std::uint32_t>> job_in_from;
    for (const JobSpec& job : to.jobs) job_in_from.push_back(from.job(job.name));
    std::vector<std::optional<std::uint32_t>> device_in_from;
    device_in_from.reserve(to.devices.size());
    for (const DeviceSpec& device : to.devices) device_in_from.push_back(from.device(device.name));
    std::vector<task_id> previous;
    previous.reserve(to.tasks.size());
    for (const TaskSpec& spec : to.tasks) {
        const auto& device = device_in_from[spec.device];
        const auto& job = job_in_from[spec.job];
        previous.push_back(device && job ? from.task(*device, *job) : InventoryIndex::k_no_task);
    }
    return previous;
}

// The tasks of `from` that no task continues.
std::vector<task_id> dropped_tasks(const InventoryIndex& from,
                                   const std::vector<task_id>& previous) {
    std::vector<bool> continued(from.inventory().tasks.size(), false);
    for (task_id id : previous)
        if (id != InventoryIndex::k_no_task) continued[id] = true;
    std::vector<task_id> dropped;
    for (task_id id = 0; id < continued.size(); ++id)
        if (!continued[id]) dropped.push_back(id);
    return dropped;
}
}  // namespace

PreparedInventory prepare_inventory(std::shared_ptr<const InventoryIndex> current, Inventory next) {
    PreparedInventory prepared;
    prepared.next = InventoryIndex::build(std::move(next));
    prepared.current = std::move(current);
    prepared.previous = previous_tasks(*prepared.current, prepared.next->inventory());
    prepared.dropped = dropped_tasks(*prepared.current, prepared.previous);
    return prepared;
}

// ---- applying events ----

Projection::Projection() : index_(InventoryIndex::build(Inventory{})) {}

Status Projection::apply(const EventRecord& record) {
    Status status = Status::ok();
    std::visit(overloaded{
                   [&](const InventoryApplied& e) {
                       InventoryFiles files{e.devices_json, e.jobs_json};
                       auto parsed = parse_inventory(
                           files,
                           InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
                       if (!parsed) {
                           status = Status::corruption(
                               fmt::format("seq {}: applied inventory does not load: {}",
                                           record.seq, parsed.status().message()));
                           return;
                       }
                       // The recorded form, whatever form the record has: a log written
                       // before literal secrets were redacted compares equal to the same
                       // files read today, so an upgrade alone appends nothing.
                       PreparedInventory prepared = prepare_inventory(index_, std::move(*parsed));
                       apply_inventory(e.at, prepared);
                   },
                   [&](const LeaseGranted& e) { apply_lease(e); },
                   [&](const LeaseExpired& e) { apply_expiry(record.seq, e); },
                   [&](const CompletionRecorded& e) { apply_completion(record.seq, e); },
                   [&](const OccurrenceClosed& e) { apply_close(e); },
                   [&](const RunRequested& e) { apply_run(e); },
               },
               record.event);
    if (status) last_seq_ = record.seq;
    return status;
}

Status Projection::apply(const EventRecord& record, PreparedInventory& prepared) {
    const auto* e = std::get_if<InventoryApplied>(&record.event);
    if (!e) return apply(record);
    if (prepared.current != index_)
        prepared = prepare_inventory(index_, Inventory(prepared.next->inventory()));
    apply_inventory(e->at, prepared);
    last_seq_ = record.seq;
    return Status::ok();
}

// A new inventory keeps the state of every task that survives (by device and job
// name) and gives each new task its baseline occurrence, due at once.
void Projection::apply_inventory(unix_time at, PreparedInventory& prepared) {
    const Inventory& next = prepared.next->inventory();
    std::vector<std::unique_ptr<TaskState>> tasks;
    tasks.reserve(next.tasks.size());
    for (task_id id = 0; id < next.tasks.size(); ++id) {
        const TaskSpec& spec = next.tasks[id];
        const task_id previous = prepared.previous[id];
        std::unique_ptr<TaskState> state;
        if (previous != InventoryIndex::k_no_task && !tasks_[previous]->closed) {
            state =
                std::move(tasks_[previous]);  // keeps `reservation`: its append is still in flight
        } else {
            state = std::make_unique<TaskState>();
            state->timestamp = at;
            state->due = at;
        }
        state->device = next.devices[spec.device].name;
        state->job = next.jobs[spec.job].name;
        state->device_index = spec.device;
        state->job_index = spec.job;
        tasks.push_back(std::move(state));
    }
    applied_files_ = next.recorded;
    // The dropped tasks' views point into prepared.current, which outlives them.
    tasks_ = std::move(tasks);
    index_ = std::move(prepared.next);
    ++inventory_generation_;
    rebuild_indexes();
}

Result<Projection> Projection::restore(std::uint64_t last_seq, std::uint64_t inventory_generation,
                                       InventoryFiles applied_files,
                                       std::shared_ptr<const InventoryIndex> index,
                                       std::vector<TaskState> tasks) {
    const Inventory& inventory = index->inventory();
    if (tasks.size() != inventory.tasks.size())
        return Status::invalid_argument(fmt::format("{} task states for an inventory of {} tasks",
                                                    tasks.size(), inventory.tasks.size()));
    Projection p;
    p.tasks_.reserve(tasks.size());
    for (task_id id = 0; id < tasks.size(); ++id) {
        const TaskSpec& spec = inventory.tasks[id];
        auto state = std::make_unique<TaskState>(std::move(tasks[id]));
        state->device = inventory.devices[spec.device].name;
        state->job = inventory.jobs[spec.job].name;
        state->device_index = spec.device;
        state->job_index = spec.job;
        state->reservation = 0;
        p.tasks_.push_back(std::move(state));
    }
    p.last_seq_ = last_seq;
    p.inventory_generation_ = inventory_generation;
    p.applied_files_ = std::move(applied_files);
    p.index_ = std::move(index);
    p.rebuild_indexes();
    return p;
}

void Projection::apply_lease(const LeaseGranted& e) {
    auto found = open_occurrence(e.device, e.job, e.timestamp);
    if (!found) return;
    const task_id id = *found;
    TaskState* t = tasks_[id].get();
    unindex(id);
    t->lease = Lease{e.at, e.deadline, e.attempt, e.worker, e.holder};
    t->leased_once = true;
    t->newest_holder = e.holder;
    index_task(id);
}

void Projection::apply_expiry(std::uint64_t seq, const LeaseExpired& e) {
    auto found = open_occurrence(e.device, e.job, e.timestamp);
    if (!found || !tasks_[*found]->lease) return;
    const task_id id = *found;
    TaskState* t = tasks_[id].get();
    unindex(id);
    t->lease.reset();
    t->failed_attempts += 1;
    t->due = e.at + inventory().jobs[t->job_index].retry_delay;
    t->last_failure = Outcome{e.at, seq, "lease expired"};
    // The retry runs after the change and names it; but the expired lease's worker may
    // still post a backup read before the change, which would close the occurrence: the
    // follow-up stays asked for until the close (at worst one more run, never none).
    if (t->follow_up && t->failed_attempts < inventory().jobs[t->job_index].max_attempts) {
        add_changed_by(t->changed_by, t->follow_up_changed_by);
        t->trigger = t->follow_up_trigger;
    }
    index_task(id);
}

// The lease a follow-up waited for reported a failure and the occurrence stays open: its
// retry runs after the change, so the occurrence itself answers it (no second run after
// it). Not for an expired lease (apply_expiry): that one may still complete.
void Projection::take_follow_up(TaskState& t) {
    if (!t.follow_up) return;
    add_changed_by(t.changed_by, t.follow_up_changed_by);
    t.trigger = std::move(t.follow_up_trigger);
    t.follow_up = false;
    t.follow_up_changed_by.clear();
    t.follow_up_trigger.clear();
}

void Projection::apply_completion(std::uint64_t seq, const CompletionRecorded& e) {
    auto found = open_occurrence(e.device, e.job, e.job_timestamp);
    if (!found) return;
    const task_id id = *found;
    TaskState* t = tasks_[id].get();
    unindex(id);
    t->lease.reset();
    t->last_completion = e;
    t->last_completion_seq = seq;
    if (e.failure) {
        t->failed_attempts += 1;
        t->due = e.at + inventory().jobs[t->job_index].retry_delay;
        t->last_failure = Outcome{e.at, seq, *e.failure};
        // A retry follows, unless this was the last attempt (the close then runs it).
        if (t->failed_attempts < inventory().jobs[t->job_index].max_attempts) take_follow_up(*t);
    } else {
        // The OccurrenceClosed(succeeded) appended with it moves the task on.
        t->last_success = Outcome{e.at, seq, {}};
    }
    index_task(id);
}

void Projection::apply_close(const OccurrenceClosed& e) {
    auto found = open_occurrence(e.device, e.job, e.timestamp);
    if (!found) return;
    const task_id id = *found;
    TaskState* t = tasks_[id].get();
    unindex(id);
    t->lease.reset();
    t->leased_once = false;
    t->newest_holder.clear();
    t->failed_attempts = 0;
    if (e.reason == CloseReason::removed) {
        t->closed = true;
        return;
    }
    t->changed_by.clear();
    t->trigger.clear();
    if (t->follow_up) {
        // A change arrived while this occurrence ran: the backup that answers it runs now,
        // timestamped after the closed one (a late completion of the closed lease must
        // never match it), and the schedule continues from it.
        t->timestamp = std::max(e.at, e.timestamp + 1);
        t->due = t->timestamp;
        t->changed_by = std::move(t->follow_up_changed_by);
        t->trigger = std::move(t->follow_up_trigger);
        t->follow_up = false;
        t->follow_up_changed_by.clear();
        t->follow_up_trigger.clear();
        index_task(id);
        return;
    }
    const JobSpec& job = inventory().jobs[t->job_index];
    t->timestamp =
        next_slot(job.schedule, task_key(t->device, t->job), std::max(e.timestamp, e.at));
    t->due = t->timestamp;
    index_task(id);
}

// Run now: the open occurrence becomes due at e.at (see decide_run in the header). A
// triggered one that meets a lease asks for a follow-up instead; an operator's (and any
// version 1 record) that meets a lease changes nothing, as before issue 14.
void Projection::apply_run(const RunRequested& e) {
    auto found = open_occurrence(e.device, e.job, e.timestamp);
    if (!found) return;
    const task_id id = *found;
    TaskState* t = tasks_[id].get();
    if (t->lease) {
        if (e.trigger.empty()) return;
        t->follow_up = true;
        add_changed_by(t->follow_up_changed_by, e.changed_by);
        t->follow_up_trigger = e.trigger;
        return;
    }
    unindex(id);
    if (!t->leased_once && t->timestamp > e.at) t->timestamp = e.at;
    t->due = std::min(t->due, e.at);
    if (!e.trigger.empty()) {
        add_changed_by(t->changed_by, e.changed_by);
        t->trigger = e.trigger;
    }
    index_task(id);
}

namespace {
// Calls f(name) for each name of a ", "-separated list, until f returns true.
template <class F>
bool any_name(std::string_view list, F f) {
    while (!list.empty()) {
        const std::size_t comma = list.find(", ");
        if (f(list.substr(0, comma))) return true;
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 2);
    }
    return false;
}
}  // namespace

// `names` may itself be a list (the syslog listener joins the users of one debounce
// window): each of its names is added on its own.
bool add_changed_by(std::string& list, std::string_view names) {
    bool added = false;
    any_name(names, [&](std::string_view name) {
        if (name.empty() || any_name(list, [&](std::string_view n) { return n == name; }))
            return false;
        const std::size_t grown = list.size() + (list.empty() ? 0 : 2) + name.size();
        if (grown > k_changed_by_max) return false;  // left out; a shorter one may fit
        if (!list.empty()) list += ", ";
        list += name;
        added = true;
        return false;
    });
    return added;
}

std::optional<task_id> Projection::open_occurrence(std::string_view device, std::string_view job,
                                                   unix_time timestamp) const {
    auto id = find(device, job);
    if (!id) return std::nullopt;
    const TaskState& t = *tasks_[*id];
    if (t.closed || t.timestamp != timestamp) return std::nullopt;
    return id;
}

std::optional<task_id> Projection::find(std::string_view device, std::string_view job) const {
    auto d = index_->device(device);
    if (!d) return std::nullopt;
    auto j = index_->job(job);
    if (!j) return std::nullopt;
    task_id id = index_->task(*d, *j);
    if (id == InventoryIndex::k_no_task) return std::nullopt;
    return id;
}

bool Projection::has_device(std::string_view device) const {
    return index_->device(device).has_value();
}

bool Projection::has_job(std::string_view job) const { return index_->job(job).has_value(); }

// ---- indexes ----

void Projection::unindex(task_id id) {
    if (indexing_deferred_) return;
    const TaskState& t = *tasks_[id];
    if (t.lease) {
        deadlines_.erase({t.lease->deadline, id});
        return;
    }
    std::pair<unix_time, task_id> key{t.due, id};
    due_all_.erase(key);
    for (std::uint32_t tag : tags_of(id)) due_by_tag_[tag].erase(key);
}

void Projection::index_task(task_id id) {
    if (indexing_deferred_) return;
    const TaskState& t = *tasks_[id];
    if (t.closed || t.reservation) return;
    if (t.lease) {
        deadlines_.insert({t.lease->deadline, id});
        return;
    }
    std::pair<unix_time, task_id> key{t.due, id};
    due_all_.insert(key);
    for (std::uint32_t tag : tags_of(id)) due_by_tag_[tag].insert(key);
}

void Projection::rebuild_indexes() {
    due_by_tag_.assign(index_->tag_count(), {});
    due_all_.clear();
    deadlines_.clear();
    if (indexing_deferred_) return;
    // Sorted input with an end() hint makes each insert amortised O(1): rebuilding after
    // a replay of millions of events costs a sort, not n tree searches.
    std::vector<std::pair<unix_time, task_id>> due, deadlines;
    for (task_id id = 0; id < tasks_.size(); ++id) {
        const TaskState& t = *tasks_[id];
        if (t.closed || t.reservation) continue;
        if (t.lease)
            deadlines.push_back({t.lease->deadline, id});
        else
            due.push_back({t.due, id});
    }
    std::sort(due.begin(), due.end());
    std::sort(deadlines.begin(), deadlines.end());
    for (const auto& key : deadlines) deadlines_.insert(deadlines_.end(), key);
    for (const auto& key : due) {
        due_all_.insert(due_all_.end(), key);
        for (std::uint32_t tag : tags_of(key.second))
            due_by_tag_[tag].insert(due_by_tag_[tag].end(), key);
    }
}

void Projection::defer_indexing() { indexing_deferred_ = true; }

void Projection::resume_indexing() {
    if (!indexing_deferred_) return;
    indexing_deferred_ = false;
    rebuild_indexes();
}

std::vector<task_id> Projection::due(std::span<const std::string> tags, unix_time horizon,
                                     std::size_t max) const {
    std::vector<task_id> out;
    if (max == 0) return out;
    if (tags.empty()) {
        for (auto it = due_all_.begin();
             it != due_all_.end() && it->first <= horizon && out.size() < max; ++it)
            out.push_back(it->second);
        return out;
    }
    // k-way merge over the requested tags' indexes; a task with several of the tags
    // appears in several of them, and is taken once.
    using cursor = std::pair<index::const_iterator, index::const_iterator>;
    auto later = [](const cursor& a, const cursor& b) { return *b.first < *a.first; };
    std::priority_queue<cursor, std::vector<cursor>, decltype(later)> heads(later);
    std::vector<std::uint32_t> seen_tags;
    for (const std::string& tag : tags) {
        auto tag_id = index_->tag(tag);
        if (!tag_id) continue;
        if (std::find(seen_tags.begin(), seen_tags.end(), *tag_id) != seen_tags.end()) continue;
        seen_tags.push_back(*tag_id);
        const index& idx = due_by_tag_[*tag_id];
        if (!idx.empty()) heads.push({idx.begin(), idx.end()});
    }
    while (!heads.empty() && out.size() < max) {
        cursor c = heads.top();
        heads.pop();
        if (c.first->first > horizon) break;
        task_id id = c.first->second;
        // Equal keys are adjacent across cursors, so a duplicate is always the last taken.
        if (out.empty() || out.back() != id) out.push_back(id);
        if (++c.first != c.second) heads.push(c);
    }
    return out;
}

std::vector<task_id> Projection::expired_leases(unix_time now, std::size_t max) const {
    std::vector<task_id> out;
    for (auto it = deadlines_.begin();
         it != deadlines_.end() && it->first <= now && out.size() < max; ++it)
        out.push_back(it->second);
    return out;
}

std::optional<unix_time> Projection::next_deadline() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

std::uint64_t Projection::reserve(task_id id) {
    if (tasks_[id]->reservation) return 0;
    unindex(id);
    tasks_[id]->reservation = next_reservation_++;
    return tasks_[id]->reservation;
}

void Projection::release(task_id id, std::uint64_t token) {
    if (token == 0 || id >= tasks_.size() || tasks_[id]->reservation != token) return;
    tasks_[id]->reservation = 0;
    index_task(id);
}

namespace {

// Decoded batches from replay's reader thread to the applying thread, at most
// k_max_batches at a time: the log may be huge, memory is not.
class ReplayQueue {
public:
    // Reader: waits for room; false once the applier stopped (stop reading).
    bool push(std::vector<EventRecord> batch) EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        while (ready_.size() >= k_max_batches && !stopped_) changed_.wait(mutex_);
        if (stopped_) return false;
        ready_.push_back(std::move(batch));
        changed_.notify_all();
        return true;
    }
    // Reader: no more batches; `status` is how the scan ended.
    void finish(Status status) EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        scan_status_ = std::move(status);
        reader_done_ = true;
        changed_.notify_all();
    }
    // Applier: the next batch; nullopt once the reader finished and all were taken.
    std::optional<std::vector<EventRecord>> pop() EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        while (ready_.empty() && !reader_done_) changed_.wait(mutex_);
        if (ready_.empty()) return std::nullopt;
        auto batch = std::move(ready_.front());
        ready_.pop_front();
        changed_.notify_all();
        return batch;
    }
    // Applier: an event did not apply; the reader stops at its next batch.
    void stop() EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        stopped_ = true;
        changed_.notify_all();
    }
    Status scan_status() EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        return scan_status_;
    }

private:
    static constexpr std::size_t k_max_batches = 8;
    Mutex mutex_;
    CondVar changed_;
    std::deque<std::vector<EventRecord>> ready_ GUARDED_BY(mutex_);
    bool reader_done_ GUARDED_BY(mutex_) = false;
    bool stopped_ GUARDED_BY(mutex_) = false;
    Status scan_status_ GUARDED_BY(mutex_) = Status::ok();
};

}  // namespace

Status replay(const EventLog& log, std::uint64_t through, Projection& p) {
    if (p.last_seq() >= through) return Status::ok();
    // Retention (docs/retention.md): below first_seq the log keeps only pinned records, so
    // replaying across that gap would build a wrong state without a word.
    if (p.last_seq() + 1 < log.first_seq())
        return Status::not_supported(fmt::format(
            "replay from seq {}: the log starts at seq {} (older events are in the archive); "
            "start from a snapshot at or after seq {}",
            p.last_seq() + 1, log.first_seq(), log.first_seq() - 1));
    // A rebuild costs O(tasks): worth it for a replay, not for a few events.
    if (through - p.last_seq() <= 1000) {
        Status apply_status = Status::ok();
        Status scan_status = log.scan(p.last_seq() + 1, through, [&](EventRecord&& record) {
            apply_status = p.apply(record);
            return apply_status.is_ok();
        });
        return scan_status ? apply_status : scan_status;
    }

    // Reading and decoding the log costs about as much as applying it: a reader thread
    // decodes batches while this thread applies the previous ones.
    constexpr std::size_t k_batch = 4096;
    ReplayQueue queue;
    std::thread reader([&] {
        ::pthread_setname_np(::pthread_self(), "netkeep-replay");
        std::vector<EventRecord> batch;
        batch.reserve(k_batch);
        auto hand_over = [&] {
            if (!queue.push(std::move(batch))) return false;
            batch = {};
            batch.reserve(k_batch);
            return true;
        };
        Status s = log.scan(p.last_seq() + 1, through, [&](EventRecord&& record) {
            batch.push_back(std::move(record));
            return batch.size() < k_batch || hand_over();
        });
        if (s && !batch.empty()) hand_over();
        queue.finish(std::move(s));
    });

    p.defer_indexing();
    Status apply_status = Status::ok();
    while (auto batch = queue.pop()) {
        for (const EventRecord& record : *batch)
            if (apply_status = p.apply(record); !apply_status) break;
        if (!apply_status) {
            queue.stop();
            break;
        }
    }
    reader.join();
    p.resume_indexing();
    Status scan_status = queue.scan_status();
    return scan_status ? apply_status : scan_status;
}

// ---- decisions ----

LeaseGranted decide_grant(const Projection& p, task_id id, unix_time now, std::string worker,
                          std::string holder) {
    const TaskState& t = p.task(id);
    return LeaseGranted{now,
                        std::string(t.device),
                        std::string(t.job),
                        t.timestamp,
                        std::max(t.timestamp, now) + p.job_of(id).timeout,
                        t.failed_attempts + 1,
                        std::move(worker),
                        std::move(holder)};
}

std::vector<Event> decide_expiry(const Projection& p, task_id id, unix_time now) {
    const TaskState& t = p.task(id);
    std::vector<Event> events{
        LeaseExpired{now, std::string(t.device), std::string(t.job), t.timestamp}};
    if (t.failed_attempts + 1 >= p.job_of(id).max_attempts)
        events.push_back(OccurrenceClosed{now, std::string(t.device), std::string(t.job),
                                          t.timestamp, CloseReason::failed});
    return events;
}

CompletionDecision decide_completion(const Projection& p, const CompletionRecorded& c) {
    using Kind = CompletionDecision::Kind;
    if (!p.has_device(c.device))
        return {Kind::unknown_device, 0, {}, fmt::format("unknown device '{}'", c.device)};
    if (!p.has_job(c.job))
        return {Kind::unknown_job, 0, {}, fmt::format("unknown job '{}'", c.job)};
    auto id = p.find(c.device, c.job);
    if (!id)
        return {Kind::not_selected,
                0,
                {},
                fmt::format("job '{}' does not run on device '{}'", c.job, c.device)};
    const TaskState& t = p.task(*id);
    if (const auto& last = t.last_completion;
        last && last->job_timestamp == c.job_timestamp &&
        last->start_timestamp == c.start_timestamp && last->end_timestamp == c.end_timestamp &&
        last->sha256 == c.sha256 && last->failure == c.failure)
        return {Kind::repeat, p.task(*id).last_completion_seq, {}, {}};
    if (t.reservation)
        return {Kind::busy, 0, {}, "another change to this task is being recorded; retry"};
    if (t.closed || t.timestamp != c.job_timestamp)
        return {Kind::not_open,
                0,
                {},
                fmt::format("no open occurrence of {}/{} at {} (closed, or never scheduled)",
                            c.device, c.job, c.job_timestamp)};
    if (!t.leased_once)
        return {Kind::never_leased,
                0,
                {},
                fmt::format("occurrence {}/{} at {} was never leased", c.device, c.job,
                            c.job_timestamp)};
    CompletionRecorded answer = c;
    // The run-now this completion answers (issue 14): who changed the device goes to git.
    answer.changed_by = t.changed_by;
    answer.trigger = t.trigger;
    CompletionDecision d{Kind::accept, 0, {std::move(answer)}, {}};
    if (!c.failure)
        d.events.push_back(
            OccurrenceClosed{c.at, c.device, c.job, c.job_timestamp, CloseReason::succeeded});
    else if (t.failed_attempts + 1 >= p.job_of(*id).max_attempts)
        d.events.push_back(
            OccurrenceClosed{c.at, c.device, c.job, c.job_timestamp, CloseReason::failed});
    return d;
}

namespace {
// Whether add_changed_by would change `list`.
bool adds_name(const std::string& list, std::string_view name) {
    std::string copy = list;
    return add_changed_by(copy, name);
}
}  // namespace

RunDecision decide_run(const Projection& p, std::string_view device, std::string_view job,
                       unix_time now, std::string requested_by, std::string changed_by,
                       std::string trigger) {
    using Kind = RunDecision::Kind;
    RunDecision d;
    if (!p.has_device(device)) {
        d.kind = Kind::unknown_device;
        d.message = fmt::format("unknown device '{}'", device);
        return d;
    }
    if (!p.has_job(job)) {
        d.kind = Kind::unknown_job;
        d.message = fmt::format("unknown job '{}'", job);
        return d;
    }
    auto id = p.find(device, job);
    if (!id) {
        d.kind = Kind::not_selected;
        d.message = fmt::format("job '{}' does not run on device '{}'", job, device);
        return d;
    }
    const TaskState& t = p.task(*id);
    if (t.closed) {
        d.kind = Kind::removed;
        d.message = fmt::format("task {}/{} is being removed from the inventory", device, job);
    } else if (t.reservation) {
        d.kind = Kind::busy;
        d.message = "another change to this task is being recorded; retry";
    } else if (t.lease && trigger.empty()) {
        d.kind = Kind::leased;
        d.message = fmt::format("the occurrence of {}/{} at {} is leased to '{}' until {}", device,
                                job, t.timestamp, t.lease->worker, t.lease->deadline);
    } else if (t.lease && t.follow_up && !adds_name(t.follow_up_changed_by, changed_by)) {
        d.kind = Kind::already_due;
        d.message =
            fmt::format("a run of {}/{} after the running one is already asked for", device, job);
    } else if (!t.lease && t.due <= now && (t.leased_once || t.timestamp <= now) &&
               (trigger.empty() || !adds_name(t.changed_by, changed_by))) {
        // apply_run would leave the timestamp, the due time and the names as they are.
        d.kind = Kind::already_due;
        d.message =
            fmt::format("the occurrence of {}/{} at {} is already due since {}; nothing to change",
                        device, job, t.timestamp, t.due);
    } else {
        d.event = RunRequested{now,
                               std::string(device),
                               std::string(job),
                               t.timestamp,
                               std::move(requested_by),
                               std::move(changed_by),
                               std::move(trigger)};
    }
    return d;
}

namespace {
std::vector<Event> inventory_events(const Projection& p, const InventoryFiles& recorded,
                                    const std::vector<task_id>& dropped, unix_time now) {
    std::vector<Event> events;
    for (task_id id : dropped) {
        const TaskState& t = p.task(id);
        if (!t.closed)
            events.push_back(OccurrenceClosed{now, std::string(t.device), std::string(t.job),
                                              t.timestamp, CloseReason::removed});
    }
    events.push_back(InventoryApplied{now, recorded.devices_json, recorded.jobs_json});
    return events;
}
}  // namespace

// The recorded form is compared and appended, never the files as read: literal secrets
// stay out of the log, and a changed password still changes its marker's hash.
std::vector<Event> decide_inventory(const Projection& p, const Inventory& parsed, unix_time now) {
    if (p.last_seq() > 0 && parsed.recorded == p.applied_files()) return {};
    const InventoryIndex& current = *p.inventory_index();
    return inventory_events(p, parsed.recorded,
                            dropped_tasks(current, previous_tasks(current, parsed)), now);
}

std::vector<Event> decide_inventory(const Projection& p, const PreparedInventory& prepared,
                                    unix_time now) {
    if (prepared.current != p.inventory_index())
        return decide_inventory(p, prepared.next->inventory(), now);
    const InventoryFiles& recorded = prepared.next->inventory().recorded;
    if (p.last_seq() > 0 && recorded == p.applied_files()) return {};
    return inventory_events(p, recorded, prepared.dropped, now);
}

}  // namespace netkeep
