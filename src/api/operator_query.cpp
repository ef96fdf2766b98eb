#include "api/operator_query.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::api {

namespace {

constexpr std::string_view k_status_names[] = {"due", "scheduled", "leased", "retrying"};

// A strictly parsed decimal integer in [min, max]; no sign, no spaces, no suffix.
std::optional<std::uint64_t> parse_u64_in(std::string_view text, std::uint64_t min,
                                          std::uint64_t max) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (v < min || v > max) return std::nullopt;
    return v;
}

std::string outcome_json(const std::optional<Outcome>& o, bool with_failure) {
    if (!o) return "null";
    if (!with_failure) return fmt::format(R"({{"at":{},"seq":{}}})", o->at, o->seq);
    return fmt::format(R"({{"at":{},"seq":{},"failure":{}}})", o->at, o->seq,
                       json_quote(o->failure));
}

}  // namespace

std::string_view task_status_name(TaskStatus status) { return k_status_names[int(status)]; }

std::optional<TaskStatus> task_status_from_name(std::string_view name) {
    for (int i = 0; i < 4; ++i)
        if (k_status_names[i] == name) return TaskStatus(i);
    return std::nullopt;
}

TaskStatus task_status(const TaskState& t, unix_time now) {
    if (t.lease) return TaskStatus::leased;
    if (t.due <= now) return TaskStatus::due;
    return t.failed_attempts > 0 ? TaskStatus::retrying : TaskStatus::scheduled;
}

TaskCounts count_tasks(const Projection& p, unix_time now) {
    TaskCounts c;
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        if (t.closed) continue;
        switch (task_status(t, now)) {
            case TaskStatus::due:
                c.due += 1;
                if (t.due < now - k_overdue_after) c.overdue += 1;
                break;
            case TaskStatus::scheduled:
                c.scheduled += 1;
                break;
            case TaskStatus::leased:
                c.leased += 1;
                break;
            case TaskStatus::retrying:
                c.retrying += 1;
                break;
        }
    }
    return c;
}

std::optional<QueryError> parse_tasks_query(const http::QueryParams& params, TasksQuery& out) {
    for (const auto& [name, value] : params) {
        std::vector<std::string>* list = nullptr;
        if (name == "device")
            list = &out.devices;
        else if (name == "job")
            list = &out.jobs;
        else if (name == "tag")
            list = &out.tags;
        else if (name != "status")
            return QueryError{
                name, fmt::format("unknown parameter '{}' (device, job, tag, status)", name)};
        if (value.empty()) return QueryError{name, fmt::format("{} must not be empty", name)};
        if (list) {
            list->push_back(value);
            continue;
        }
        auto status = task_status_from_name(value);
        if (!status)
            return QueryError{
                name,
                fmt::format("status must be one of due, scheduled, leased, retrying; got '{}'",
                            value)};
        out.statuses.push_back(*status);
    }
    return std::nullopt;
}

bool task_matches(const Projection& p, task_id id, const TasksQuery& q, unix_time now) {
    const TaskState& t = p.task(id);
    if (t.closed) return false;
    auto any = [](const std::vector<std::string>& list, std::string_view v) {
        return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
    };
    if (!any(q.devices, t.device) || !any(q.jobs, t.job)) return false;
    if (!q.tags.empty()) {
        const auto& tags = p.inventory().devices[t.device_index].tags;
        bool found = std::any_of(q.tags.begin(), q.tags.end(), [&](const std::string& tag) {
            return std::find(tags.begin(), tags.end(), tag) != tags.end();
        });
        if (!found) return false;
    }
    if (!q.statuses.empty() &&
        std::find(q.statuses.begin(), q.statuses.end(), task_status(t, now)) == q.statuses.end())
        return false;
    return true;
}

std::optional<QueryError> parse_events_query(const http::QueryParams& params, EventsQuery& out) {
    for (const auto& [name, value] : params) {
        if (name == "from") {
            auto v = parse_u64_in(value, 1, UINT64_MAX - k_events_max_limit);
            if (!v) return QueryError{name, "from must be a sequence number (an integer from 1)"};
            out.from = *v;
        } else if (name == "limit") {
            auto v = parse_u64_in(value, 1, k_events_max_limit);
            if (!v)
                return QueryError{
                    name, fmt::format("limit must be an integer from 1 to {}", k_events_max_limit)};
            out.limit = *v;
        } else {
            return QueryError{name, fmt::format("unknown parameter '{}' (from, limit)", name)};
        }
    }
    return std::nullopt;
}

std::string task_json(const Projection& p, task_id id, unix_time now,
                      const std::optional<LastChange>& change) {
    const TaskState& t = p.task(id);
    const JobSpec& job = p.job_of(id);
    std::string lease = "null";
    if (t.lease)
        lease = fmt::format(R"({{"worker":{},"granted_at":{},"deadline":{},"attempt":{}}})",
                            json_quote(t.lease->worker), t.lease->granted_at, t.lease->deadline,
                            t.lease->attempt);
    std::string last_change = "null";
    if (change)
        last_change = fmt::format(R"({{"commit":{},"time":{},"seq":{}}})",
                                  json_quote(change->commit), change->time, change->seq);
    return fmt::format(
        R"({{"device":{},"job":{},"status":"{}","timestamp":{},"next_due":{},"failed_attempts":{},"max_attempts":{},)"
        R"("lease":{},"last_success":{},"last_failure":{},"last_change":{}}})",
        json_quote(t.device), json_quote(t.job), task_status_name(task_status(t, now)), t.timestamp,
        t.due, t.failed_attempts, job.max_attempts, lease, outcome_json(t.last_success, false),
        outcome_json(t.last_failure, true), last_change);
}

}  // namespace netkeep::api
