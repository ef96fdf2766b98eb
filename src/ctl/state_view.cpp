#include "ctl/state_view.hpp"

#include <fmt/format.h>

#include "ctl/event_text.hpp"
#include "ctl/table.hpp"
#include "ctl/time.hpp"
#include "netkeep/json.hpp"

namespace netkeep::ctl {

namespace {

std::string outcome_text(const std::optional<Outcome>& o, bool failure) {
    if (!o) return "-";
    std::string s = fmt::format("{} seq {}", format_time(o->at), o->seq);
    if (failure) s += ": " + key_value_quote(o->failure);
    return s;
}

std::string outcome_json(const std::optional<Outcome>& o, bool failure) {
    if (!o) return "null";
    std::string s = fmt::format(R"({{"at":{},"seq":{})", json_quote(format_time(o->at)), o->seq);
    if (failure) s += fmt::format(R"(,"failure":{})", json_quote(o->failure));
    return s + "}";
}

}  // namespace

std::string schedule_text(const Schedule& schedule) {
    if (const auto* cron = std::get_if<CronSchedule>(&schedule))
        return fmt::format("cron {}", cron->expression);
    return fmt::format("every {}s", std::get<IntervalSchedule>(schedule).seconds);
}

std::string format_state_text(const Projection& p, std::optional<unix_time> at_time) {
    std::string out =
        fmt::format("state after seq {}{}: {} task{}\n", p.last_seq(),
                    at_time ? fmt::format(" ({})", format_time(*at_time)) : std::string(),
                    p.task_count(), p.task_count() == 1 ? "" : "s");
    std::vector<std::vector<std::string>> rows{
        {"DEVICE", "JOB", "OCCURRENCE", "DUE", "LEASE", "FAILED", "LAST SUCCESS", "LAST FAILURE"}};
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        const JobSpec& job = p.job_of(id);
        std::string lease = "-";
        if (t.lease)
            lease = fmt::format("{} until {} (attempt {})", key_value_quote(t.lease->worker),
                                format_time(t.lease->deadline), t.lease->attempt);
        rows.push_back({std::string(t.device), std::string(t.job),
                        t.closed ? "closed" : format_time(t.timestamp),
                        t.closed ? "-" : format_time(t.due), lease,
                        fmt::format("{}/{}", t.failed_attempts, job.max_attempts),
                        outcome_text(t.last_success, false), outcome_text(t.last_failure, true)});
    }
    return out + format_table(rows);
}

std::string format_state_json(const Projection& p, std::optional<unix_time> at_time) {
    std::string out = fmt::format(R"({{"seq":{},"at":{},"tasks":[)", p.last_seq(),
                                  at_time ? json_quote(format_time(*at_time)) : "null");
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        const JobSpec& job = p.job_of(id);
        std::string lease = "null";
        if (t.lease)
            lease = fmt::format(R"({{"worker":{},"granted_at":{},"deadline":{},"attempt":{}}})",
                                json_quote(t.lease->worker),
                                json_quote(format_time(t.lease->granted_at)),
                                json_quote(format_time(t.lease->deadline)), t.lease->attempt);
        out += fmt::format(
            R"({}{{"device":{},"job":{},"closed":{},"occurrence":{},"due":{},"lease":{},"failed_attempts":{},"max_attempts":{},"last_success":{},"last_failure":{}}})",
            id ? "," : "", json_quote(t.device), json_quote(t.job), t.closed ? "true" : "false",
            json_quote(format_time(t.timestamp)), json_quote(format_time(t.due)), lease,
            t.failed_attempts, job.max_attempts, outcome_json(t.last_success, false),
            outcome_json(t.last_failure, true));
    }
    return out + "]}";
}

std::string format_inventory_text(const Inventory& inventory, const std::string& dir) {
    std::string out =
        fmt::format("inventory {} is valid: {} device{}, {} job{}, {} task{}\n", dir,
                    inventory.devices.size(), inventory.devices.size() == 1 ? "" : "s",
                    inventory.jobs.size(), inventory.jobs.size() == 1 ? "" : "s",
                    inventory.tasks.size(), inventory.tasks.size() == 1 ? "" : "s");
    std::vector<std::vector<std::string>> rows{
        {"DEVICE", "JOB", "SCHEDULE", "TIMEOUT", "ATTEMPTS"}};
    for (const auto& task : inventory.tasks) {
        const auto& job = inventory.jobs.at(task.job);
        rows.push_back({inventory.devices.at(task.device).name, job.name,
                        schedule_text(job.schedule), fmt::format("{}s", job.timeout),
                        std::to_string(job.max_attempts)});
    }
    return out + format_table(rows);
}

std::string format_inventory_json(const Inventory& inventory, const std::string& dir) {
    std::string out = fmt::format(R"({{"valid":true,"dir":{},"devices":{},"jobs":{},"tasks":[)",
                                  json_quote(dir), inventory.devices.size(), inventory.jobs.size());
    bool first = true;
    for (const auto& task : inventory.tasks) {
        const auto& job = inventory.jobs.at(task.job);
        out += fmt::format(
            R"({}{{"device":{},"job":{},"schedule":{},"timeout":{},"max_attempts":{}}})",
            first ? "" : ",", json_quote(inventory.devices.at(task.device).name),
            json_quote(job.name), json_quote(schedule_text(job.schedule)), job.timeout,
            job.max_attempts);
        first = false;
    }
    return out + "]}";
}

}  // namespace netkeep::ctl
