#include "notify/select.hpp"

#include <algorithm>
#include <charconv>
#include <type_traits>
#include <variant>

#include "netkeep/inventory.hpp"

namespace netkeep::notify {

namespace {

bool listed(const std::vector<std::string>& sorted, std::string_view name) {
    return std::binary_search(sorted.begin(), sorted.end(), name);
}

bool matches(const Rule& rule, std::string_view device, std::string_view job,
             const DeviceLookup& devices) {
    if (!rule.devices.empty() && !listed(rule.devices, device)) return false;
    if (!rule.jobs.empty() && !listed(rule.jobs, job)) return false;
    if (rule.tags.empty() && rule.groups.empty()) return true;
    const DeviceInfo* info = devices ? devices(device) : nullptr;
    if (!info) return false;  // a device no longer in the inventory matches no tag or group
    if (!rule.groups.empty() && !listed(rule.groups, info->group)) return false;
    if (!rule.tags.empty() &&
        std::none_of(info->tags.begin(), info->tags.end(),
                     [&](const std::string& t) { return listed(rule.tags, t); }))
        return false;
    return true;
}

bool sends(const Rule& rule, std::size_t target, EventKind kind) {
    return std::find(rule.targets.begin(), rule.targets.end(), target) != rule.targets.end() &&
           std::find(rule.events.begin(), rule.events.end(), kind) != rule.events.end();
}

// The rules for `target` that send `kind` for the task.
std::vector<const Rule*> rules_for(const NotifyConfig& config, std::size_t target, EventKind kind,
                                   std::string_view device, std::string_view job,
                                   const DeviceLookup& devices) {
    std::vector<const Rule*> out;
    for (const Rule& r : config.rules)
        if (sends(r, target, kind) && matches(r, device, job, devices)) out.push_back(&r);
    return out;
}

Notification base(EventKind kind, std::uint64_t seq, std::string_view device,
                  std::string_view job) {
    Notification n;
    n.kind = kind;
    n.seq = seq;
    n.device = std::string(device);
    n.job = std::string(job);
    return n;
}

// A failed attempt: counted, and backup_failed when it reaches a rule's `after`.
void failed_attempt(const NotifyConfig& config, std::size_t target, std::uint64_t seq,
                    std::string_view device, std::string_view job, unix_time at,
                    std::string_view worker, std::string_view error, FailureState& failures,
                    const DeviceLookup& devices, std::vector<Notification>& out) {
    const auto rules = rules_for(config, target, EventKind::backup_failed, device, job, devices);
    const bool recovers =
        !rules_for(config, target, EventKind::recovered, device, job, devices).empty();
    if (rules.empty() && !recovers) return;  // nothing of this target counts failures
    FailureState::Entry* entry = failures.at(task_key(device, job));
    if (!entry) return;  // the bound: see FailureState
    entry->failures += 1;
    // Once per run of failures, at the first rule whose threshold is reached.
    const bool due = std::any_of(rules.begin(), rules.end(),
                                 [&](const Rule* r) { return entry->failures == r->after; });
    if (!due || entry->notified) return;
    entry->notified = true;
    Notification n = base(EventKind::backup_failed, seq, device, job);
    n.time = at;
    n.worker = std::string(worker);
    n.failures = entry->failures;
    n.error = std::string(error.substr(0, k_max_error_bytes));
    out.push_back(std::move(n));
}

void succeeded(const NotifyConfig& config, std::size_t target, const EventRecord& record,
               const CompletionRecorded& c, const GitOutcome* git, FailureState& failures,
               const DeviceLookup& devices, std::vector<Notification>& out) {
    auto entry = failures.take(task_key(c.device, c.job));
    if (entry && entry->notified &&
        !rules_for(config, target, EventKind::recovered, c.device, c.job, devices).empty()) {
        Notification n = base(EventKind::recovered, record.seq, c.device, c.job);
        n.time = c.end_timestamp;
        n.worker = c.worker;
        n.failures = entry->failures;
        out.push_back(std::move(n));
    }
    if (!git) return;
    if (git->kind == GitOutcome::Kind::quarantined) {
        if (rules_for(config, target, EventKind::quarantined, c.device, c.job, devices).empty())
            return;
        Notification n = base(EventKind::quarantined, record.seq, c.device, c.job);
        n.time = c.end_timestamp;
        n.worker = c.worker;
        n.error = git->detail.substr(0, k_max_error_bytes);
        out.push_back(std::move(n));
        return;
    }
    // A commit of unchanged content (--commit-unchanged) is no change.
    const bool changed = git->kind == GitOutcome::Kind::applied && !git->commit.empty() &&
                         (git->blob != git->previous_blob || !git->previous_known);
    if (!changed ||
        rules_for(config, target, EventKind::config_changed, c.device, c.job, devices).empty())
        return;
    Notification n = base(EventKind::config_changed, record.seq, c.device, c.job);
    n.time = c.end_timestamp;
    n.worker = c.worker;
    n.new_commit = git->commit;
    n.old_commit = git->previous_commit;
    n.changed_by = c.changed_by;
    n.trigger = c.trigger;
    n.new_blob = git->blob;
    n.old_blob = git->previous_blob;
    n.old_known = git->previous_known;
    n.path = git->path;
    out.push_back(std::move(n));
}

}  // namespace

FailureState::Entry* FailureState::at(const std::string& task) {
    auto it = tasks_.find(task);
    if (it == tasks_.end()) {
        if (tasks_.size() >= k_max_tasks) return nullptr;
        it = tasks_.emplace(task, Entry{}).first;
    }
    changed_ = true;
    return &it->second;
}

std::optional<FailureState::Entry> FailureState::take(const std::string& task) {
    auto it = tasks_.find(task);
    if (it == tasks_.end()) return std::nullopt;
    Entry e = it->second;
    tasks_.erase(it);
    changed_ = true;
    return e;
}

std::string FailureState::encode() const {
    std::string out;
    for (const auto& [task, e] : tasks_)
        out += std::to_string(e.failures) + (e.notified ? " 1 " : " 0 ") + task + "\n";
    return out;
}

std::optional<FailureState> FailureState::decode(std::string_view text) {
    FailureState state;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        if (end == std::string_view::npos) return std::nullopt;
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end + 1);
        Entry e;
        auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), e.failures);
        const std::size_t used = std::size_t(p - line.data());
        if (ec != std::errc() || line.size() < used + 4 || line[used] != ' ' ||
            (line[used + 1] != '0' && line[used + 1] != '1') || line[used + 2] != ' ')
            return std::nullopt;
        e.notified = line[used + 1] == '1';
        if (state.tasks_.size() >= k_max_tasks) break;
        state.tasks_.emplace(std::string(line.substr(used + 3)), e);
    }
    return state;
}

bool target_wants(const NotifyConfig& config, std::size_t target, EventKind kind) {
    return std::any_of(config.rules.begin(), config.rules.end(),
                       [&](const Rule& r) { return sends(r, target, kind); });
}

std::vector<Notification> select_notifications(const NotifyConfig& config, std::size_t target,
                                               const EventRecord& record, const GitOutcome* git,
                                               FailureState& failures,
                                               const DeviceLookup& devices) {
    std::vector<Notification> out;
    std::visit(
        [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, CompletionRecorded>) {
                if (e.failure)
                    failed_attempt(config, target, record.seq, e.device, e.job, e.end_timestamp,
                                   e.worker, *e.failure, failures, devices, out);
                else
                    succeeded(config, target, record, e, git, failures, devices, out);
            } else if constexpr (std::is_same_v<T, LeaseExpired>) {
                failed_attempt(config, target, record.seq, e.device, e.job, e.at, "",
                               "the lease expired without a completion", failures, devices, out);
            }
        },
        record.event);
    return out;
}

}  // namespace netkeep::notify
