#pragma once
// The pure half of the operator API (/api/v1/...): query parsing, task status, and the
// JSON of tasks. No I/O: unit-tested directly (tests/unit/api). An event's JSON is
// core's (netkeep/event_json.hpp), so that netkeepctl prints the same.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/metrics.hpp"
#include "http/url.hpp"
#include "netkeep/events.hpp"
#include "netkeep/projection.hpp"

namespace netkeep::api {

// A task's status for operators (GET /api/v1/tasks, netkeep_tasks):
//   leased     a worker holds a lease on its open occurrence;
//   retrying   an attempt failed and the retry delay has not passed yet;
//   due        it may be handed out now (due time reached), nobody holds it;
//   scheduled  its next occurrence is in the future.
enum class TaskStatus { due, scheduled, leased, retrying };

std::string_view task_status_name(TaskStatus status);
std::optional<TaskStatus> task_status_from_name(std::string_view name);
TaskStatus task_status(const TaskState& task, unix_time now);

// A task not leased and due for longer than this is overdue: no worker is taking it.
inline constexpr unix_time k_overdue_after = 60;

// Walks every task: O(tasks), a few milliseconds for 200,000 (once per scrape).
TaskCounts count_tasks(const Projection& p, unix_time now);

// A refused query parameter: the 400 answer names it.
struct QueryError {
    std::string parameter;
    std::string message;
};

// GET /api/v1/tasks: each parameter may repeat; values of one parameter are alternatives
// (any of them), different parameters must all hold. Empty: no filter.
struct TasksQuery {
    std::vector<std::string> devices;
    std::vector<std::string> jobs;
    std::vector<std::string> tags;
    std::vector<TaskStatus> statuses;
};
std::optional<QueryError> parse_tasks_query(const http::QueryParams& params, TasksQuery& out);
bool task_matches(const Projection& p, task_id id, const TasksQuery& query, unix_time now);

// GET /api/v1/events.
inline constexpr std::uint64_t k_events_default_limit = 100;
inline constexpr std::uint64_t k_events_max_limit = 1000;
struct EventsQuery {
    std::uint64_t from = 1;
    std::uint64_t limit = k_events_default_limit;
};
std::optional<QueryError> parse_events_query(const http::QueryParams& params, EventsQuery& out);

// The last commit that changed a task's file (from the history index).
struct LastChange {
    std::string_view commit;
    unix_time time = 0;
    std::uint64_t seq = 0;
};

// One element of GET /api/v1/tasks (docs/api.md).
std::string task_json(const Projection& p, task_id id, unix_time now,
                      const std::optional<LastChange>& change);

}  // namespace netkeep::api
