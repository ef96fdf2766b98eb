#include "netkeep/projection.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <queue>
#include <unordered_set>

#include <fmt/format.h>

#include "netkeep/schedule.hpp"

namespace netkeep {

namespace {
template <class... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
}  // namespace

Status Projection::apply(const EventRecord& record) {
    Status status = Status::ok();
    std::visit(overloaded{
                   [&](const InventoryApplied& e) {
                       InventoryFiles files{e.devices_json, e.jobs_json};
                       auto parsed = parse_inventory(files, InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
                       if (!parsed) {
                           status = Status::corruption(fmt::format("seq {}: applied inventory does not load: {}",
                                                                   record.seq, parsed.status().message()));
                           return;
                       }
                       // The recorded form, whatever form the record has: a log written
                       // before literal secrets were redacted compares equal to the same
                       // files read today, so an upgrade alone appends nothing.
                       applied_files_ = std::move(parsed->recorded);
                       apply_inventory(e.at, std::move(*parsed));
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

Status Projection::apply(const EventRecord& record, Inventory parsed) {
    const auto* e = std::get_if<InventoryApplied>(&record.event);
    if (!e) return apply(record);
    applied_files_ = std::move(parsed.recorded);
    apply_inventory(e->at, std::move(parsed));
    last_seq_ = record.seq;
    return Status::ok();
}

// A new inventory keeps the state of every task that survives (by device and job
// name) and gives each new task its baseline occurrence, due at once.
void Projection::apply_inventory(unix_time at, Inventory next) {
    std::vector<TaskState> tasks;
    tasks.reserve(next.tasks.size());
    for (const TaskSpec& spec : next.tasks) {
        const std::string& device = next.devices[spec.device].name;
        const std::string& job = next.jobs[spec.job].name;
        TaskState state;
        if (auto old = find(device, job); old && !tasks_[*old].closed) {
            state = std::move(tasks_[*old]);  // keeps `reserved`: its append is still in flight
        } else {
            state.timestamp = at;
            state.due = at;
        }
        // Views of `next`'s strings: moving `next` into inventory_ below moves its vectors'
        // buffers, not the strings in them, so the views stay valid.
        state.device = device;
        state.job = job;
        state.device_index = spec.device;
        state.job_index = spec.job;
        tasks.push_back(std::move(state));
    }
    // The old inventory (which the old lookups point into) lives until the end of scope.
    Inventory old = std::exchange(inventory_, std::move(next));
    tasks_ = std::move(tasks);
    ++inventory_generation_;
    rebuild_lookups();
    rebuild_indexes();
}

void Projection::rebuild_lookups() {
    device_by_name_.clear();
    device_by_name_.reserve(inventory_.devices.size());
    for (std::uint32_t i = 0; i < inventory_.devices.size(); ++i) device_by_name_.emplace(inventory_.devices[i].name, i);
    job_by_name_.clear();
    for (std::uint32_t i = 0; i < inventory_.jobs.size(); ++i) job_by_name_.emplace(inventory_.jobs[i].name, i);
    task_by_pair_.assign(inventory_.devices.size() * inventory_.jobs.size(), k_no_task);
    for (task_id id = 0; id < tasks_.size(); ++id)
        task_by_pair_[std::size_t(tasks_[id].device_index) * inventory_.jobs.size() + tasks_[id].job_index] = id;

    tag_ids_.clear();
    device_tag_begin_.assign(1, 0);
    device_tag_ids_.clear();
    std::uint32_t tag_count = 0;
    for (const DeviceSpec& device : inventory_.devices) {
        for (const std::string& tag : device.tags) {
            auto [it, added] = tag_ids_.emplace(tag, tag_count);
            if (added) ++tag_count;
            device_tag_ids_.push_back(it->second);
        }
        device_tag_begin_.push_back(std::uint32_t(device_tag_ids_.size()));
    }
    due_by_tag_.assign(tag_count, {});
}

std::span<const std::uint32_t> Projection::tags_of(task_id id) const {
    std::uint32_t d = tasks_[id].device_index;
    return std::span<const std::uint32_t>(device_tag_ids_).subspan(device_tag_begin_[d],
                                                                  device_tag_begin_[d + 1] - device_tag_begin_[d]);
}

void Projection::apply_lease(const LeaseGranted& e) {
    TaskState* t = open_occurrence(e.device, e.job, e.timestamp);
    if (!t) return;
    task_id id = task_id(t - tasks_.data());
    unindex(id);
    t->lease = Lease{e.at, e.deadline, e.attempt, e.worker, e.holder};
    t->leased_once = true;
    t->newest_holder = e.holder;
    index_task(id);
}

void Projection::apply_expiry(std::uint64_t seq, const LeaseExpired& e) {
    TaskState* t = open_occurrence(e.device, e.job, e.timestamp);
    if (!t || !t->lease) return;
    task_id id = task_id(t - tasks_.data());
    unindex(id);
    t->lease.reset();
    t->failed_attempts += 1;
    t->due = e.at + inventory_.jobs[t->job_index].retry_delay;
    t->last_failure = Outcome{e.at, seq, "lease expired"};
    index_task(id);
}

void Projection::apply_completion(std::uint64_t seq, const CompletionRecorded& e) {
    TaskState* t = open_occurrence(e.device, e.job, e.job_timestamp);
    if (!t) return;
    task_id id = task_id(t - tasks_.data());
    unindex(id);
    t->lease.reset();
    t->last_completion = e;
    t->last_completion_seq = seq;
    if (e.failure) {
        t->failed_attempts += 1;
        t->due = e.at + inventory_.jobs[t->job_index].retry_delay;
        t->last_failure = Outcome{e.at, seq, *e.failure};
    } else {
        // The OccurrenceClosed(succeeded) appended with it moves the task on.
        t->last_success = Outcome{e.at, seq, {}};
    }
    index_task(id);
}

void Projection::apply_close(const OccurrenceClosed& e) {
    TaskState* t = open_occurrence(e.device, e.job, e.timestamp);
    if (!t) return;
    task_id id = task_id(t - tasks_.data());
    unindex(id);
    t->lease.reset();
    t->leased_once = false;
    t->newest_holder.clear();
    t->failed_attempts = 0;
    if (e.reason == CloseReason::removed) {
        t->closed = true;
        return;
    }
    const JobSpec& job = inventory_.jobs[t->job_index];
    t->timestamp = next_slot(job.schedule, task_key(t->device, t->job), std::max(e.timestamp, e.at));
    t->due = t->timestamp;
    index_task(id);
}

// Run now: the open occurrence becomes due at e.at (see decide_run in the header).
void Projection::apply_run(const RunRequested& e) {
    TaskState* t = open_occurrence(e.device, e.job, e.timestamp);
    if (!t || t->lease) return;
    task_id id = task_id(t - tasks_.data());
    unindex(id);
    if (!t->leased_once && t->timestamp > e.at) t->timestamp = e.at;
    t->due = std::min(t->due, e.at);
    index_task(id);
}

TaskState* Projection::open_occurrence(std::string_view device, std::string_view job, unix_time timestamp) {
    auto id = find(device, job);
    if (!id) return nullptr;
    TaskState& t = tasks_[*id];
    if (t.closed || t.timestamp != timestamp) return nullptr;
    return &t;
}

std::optional<task_id> Projection::find(std::string_view device, std::string_view job) const {
    auto d = device_by_name_.find(device);
    if (d == device_by_name_.end()) return std::nullopt;
    auto j = job_by_name_.find(job);
    if (j == job_by_name_.end()) return std::nullopt;
    task_id id = task_by_pair_[std::size_t(d->second) * inventory_.jobs.size() + j->second];
    if (id == k_no_task) return std::nullopt;
    return id;
}

bool Projection::has_device(std::string_view device) const { return device_by_name_.count(device) != 0; }

bool Projection::has_job(std::string_view job) const { return job_by_name_.count(job) != 0; }

// ---- indexes ----

void Projection::unindex(task_id id) {
    if (indexing_deferred_) return;
    const TaskState& t = tasks_[id];
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
    const TaskState& t = tasks_[id];
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
    for (index& idx : due_by_tag_) idx.clear();
    due_all_.clear();
    deadlines_.clear();
    if (indexing_deferred_) return;
    // Sorted input with an end() hint makes each insert amortised O(1): rebuilding after
    // a replay of millions of events costs a sort, not n tree searches.
    std::vector<std::pair<unix_time, task_id>> due, deadlines;
    for (task_id id = 0; id < tasks_.size(); ++id) {
        const TaskState& t = tasks_[id];
        if (t.closed || t.reservation) continue;
        if (t.lease) deadlines.push_back({t.lease->deadline, id});
        else due.push_back({t.due, id});
    }
    std::sort(due.begin(), due.end());
    std::sort(deadlines.begin(), deadlines.end());
    for (const auto& key : deadlines) deadlines_.insert(deadlines_.end(), key);
    for (const auto& key : due) {
        due_all_.insert(due_all_.end(), key);
        for (std::uint32_t tag : tags_of(key.second)) due_by_tag_[tag].insert(due_by_tag_[tag].end(), key);
    }
}

void Projection::defer_indexing() { indexing_deferred_ = true; }

void Projection::resume_indexing() {
    if (!indexing_deferred_) return;
    indexing_deferred_ = false;
    rebuild_indexes();
}

std::vector<task_id> Projection::due(std::span<const std::string> tags, unix_time horizon, std::size_t max) const {
    std::vector<task_id> out;
    if (max == 0) return out;
    if (tags.empty()) {
        for (auto it = due_all_.begin(); it != due_all_.end() && it->first <= horizon && out.size() < max; ++it)
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
        auto it = tag_ids_.find(tag);
        if (it == tag_ids_.end()) continue;
        if (std::find(seen_tags.begin(), seen_tags.end(), it->second) != seen_tags.end()) continue;
        seen_tags.push_back(it->second);
        const index& idx = due_by_tag_[it->second];
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
    for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now && out.size() < max; ++it)
        out.push_back(it->second);
    return out;
}

std::optional<unix_time> Projection::next_deadline() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

std::uint64_t Projection::reserve(task_id id) {
    if (tasks_[id].reservation) return 0;
    unindex(id);
    tasks_[id].reservation = next_reservation_++;
    return tasks_[id].reservation;
}

void Projection::release(task_id id, std::uint64_t token) {
    if (token == 0 || id >= tasks_.size() || tasks_[id].reservation != token) return;
    tasks_[id].reservation = 0;
    index_task(id);
}

Status replay(const EventLog& log, std::uint64_t through, Projection& p) {
    if (p.last_seq() >= through) return Status::ok();
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
    constexpr std::size_t k_max_batches = 8;  // bounds memory: the log may be huge
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::vector<EventRecord>> ready;
    bool reader_done = false;
    bool stop_reading = false;
    Status scan_status = Status::ok();

    std::thread reader([&] {
        ::pthread_setname_np(::pthread_self(), "netkeep-replay");
        std::vector<EventRecord> batch;
        batch.reserve(k_batch);
        auto hand_over = [&] {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return ready.size() < k_max_batches || stop_reading; });
            if (stop_reading) return false;
            ready.push_back(std::move(batch));
            changed.notify_all();
            batch = {};
            batch.reserve(k_batch);
            return true;
        };
        Status s = log.scan(p.last_seq() + 1, through, [&](EventRecord&& record) {
            batch.push_back(std::move(record));
            return batch.size() < k_batch || hand_over();
        });
        if (s && !batch.empty()) hand_over();
        std::lock_guard lock(mutex);
        scan_status = s;
        reader_done = true;
        changed.notify_all();
    });

    p.defer_indexing();
    Status apply_status = Status::ok();
    for (;;) {
        std::vector<EventRecord> batch;
        {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return !ready.empty() || reader_done; });
            if (ready.empty()) break;
            batch = std::move(ready.front());
            ready.pop_front();
            changed.notify_all();
        }
        for (const EventRecord& record : batch)
            if (apply_status = p.apply(record); !apply_status) break;
        if (!apply_status) {
            std::lock_guard lock(mutex);
            stop_reading = true;
            changed.notify_all();
            break;
        }
    }
    reader.join();
    p.resume_indexing();
    return scan_status ? apply_status : scan_status;
}

// ---- decisions ----

LeaseGranted decide_grant(const Projection& p, task_id id, unix_time now, std::string worker, std::string holder) {
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
    std::vector<Event> events{LeaseExpired{now, std::string(t.device), std::string(t.job), t.timestamp}};
    if (t.failed_attempts + 1 >= p.job_of(id).max_attempts)
        events.push_back(
            OccurrenceClosed{now, std::string(t.device), std::string(t.job), t.timestamp, CloseReason::failed});
    return events;
}

CompletionDecision decide_completion(const Projection& p, const CompletionRecorded& c) {
    using Kind = CompletionDecision::Kind;
    if (!p.has_device(c.device))
        return {Kind::unknown_device, 0, {}, fmt::format("unknown device '{}'", c.device)};
    if (!p.has_job(c.job)) return {Kind::unknown_job, 0, {}, fmt::format("unknown job '{}'", c.job)};
    auto id = p.find(c.device, c.job);
    if (!id) return {Kind::not_selected, 0, {}, fmt::format("job '{}' does not run on device '{}'", c.job, c.device)};
    const TaskState& t = p.task(*id);
    if (const auto& last = t.last_completion;
        last && last->job_timestamp == c.job_timestamp && last->start_timestamp == c.start_timestamp &&
        last->end_timestamp == c.end_timestamp && last->sha256 == c.sha256 && last->failure == c.failure)
        return {Kind::repeat, p.task(*id).last_completion_seq, {}, {}};
    if (t.reservation)
        return {Kind::busy, 0, {}, "another change to this task is being recorded; retry"};
    if (t.closed || t.timestamp != c.job_timestamp)
        return {Kind::not_open, 0, {},
                fmt::format("no open occurrence of {}/{} at {} (closed, or never scheduled)", c.device, c.job,
                            c.job_timestamp)};
    if (!t.leased_once)
        return {Kind::never_leased, 0, {},
                fmt::format("occurrence {}/{} at {} was never leased", c.device, c.job, c.job_timestamp)};
    CompletionDecision d{Kind::accept, 0, {c}, {}};
    if (!c.failure)
        d.events.push_back(OccurrenceClosed{c.at, c.device, c.job, c.job_timestamp, CloseReason::succeeded});
    else if (t.failed_attempts + 1 >= p.job_of(*id).max_attempts)
        d.events.push_back(OccurrenceClosed{c.at, c.device, c.job, c.job_timestamp, CloseReason::failed});
    return d;
}

RunDecision decide_run(const Projection& p, std::string_view device, std::string_view job, unix_time now,
                       std::string requested_by) {
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
    } else if (t.lease) {
        d.kind = Kind::leased;
        d.message = fmt::format("the occurrence of {}/{} at {} is leased to '{}' until {}", device, job, t.timestamp,
                                t.lease->worker, t.lease->deadline);
    } else if (t.due <= now && (t.leased_once || t.timestamp <= now)) {
        // apply_run would leave both the timestamp and the due time as they are.
        d.kind = Kind::already_due;
        d.message = fmt::format("the occurrence of {}/{} at {} is already due since {}; nothing to change", device,
                                job, t.timestamp, t.due);
    } else {
        d.event = RunRequested{now, std::string(device), std::string(job), t.timestamp, std::move(requested_by)};
    }
    return d;
}

std::vector<Event> decide_inventory(const Projection& p, const Inventory& parsed, unix_time now) {
    std::vector<Event> events;
    // The recorded form, never the files as read: literal secrets stay out of the log,
    // and a changed password still changes its marker's hash.
    const InventoryFiles& recorded = parsed.recorded;
    if (p.last_seq() > 0 && recorded == p.applied_files()) return events;
    std::unordered_set<std::string> kept;
    kept.reserve(parsed.tasks.size());
    for (const TaskSpec& spec : parsed.tasks)
        kept.insert(task_key(parsed.devices[spec.device].name, parsed.jobs[spec.job].name));
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        if (!t.closed && !kept.count(task_key(t.device, t.job)))
            events.push_back(
                OccurrenceClosed{now, std::string(t.device), std::string(t.job), t.timestamp, CloseReason::removed});
    }
    events.push_back(InventoryApplied{now, recorded.devices_json, recorded.jobs_json});
    return events;
}

}  // namespace netkeep
