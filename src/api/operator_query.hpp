#pragma once
// The pure half of the operator API (/api/v1/...): query parsing, task status, and the
// JSON of tasks. No I/O: unit-tested directly (tests/unit/api). An event's JSON is
// core's (netkeep/event_json.hpp), so that netkeepctl prints the same.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
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

// GET /api/v1/tasks: each filter parameter may repeat; values of one parameter are
// alternatives (any of them), different parameters must all hold. Empty: no filter.
// The listing is ordered by `sort` (ties by device, then job: a total order, so a
// keyset cursor names one place in it); order=desc is the exact reverse.
enum class TaskSort { device, job, status, next_due, last_success, last_change, last_failure };
std::string_view task_sort_name(TaskSort sort);

inline constexpr std::size_t k_tasks_max_limit = 1000;
inline constexpr std::size_t k_tasks_max_q = 256;
inline constexpr std::size_t k_tasks_max_cursor = 1024;

// Where a page starts: the sort value, device and job of the previous page's last row,
// as they were then (the task may have changed or gone since). The sort value is
// k_null_key for a task without one (never succeeded, ...): it sorts first.
inline constexpr std::int64_t k_null_key = std::numeric_limits<std::int64_t>::min();
struct TaskCursor {
    TaskSort sort = TaskSort::device;
    bool descending = false;
    std::int64_t key = 0;  // unused for device and job
    std::string device;
    std::string job;
};
std::string format_task_cursor(const TaskCursor& cursor);
std::optional<TaskCursor> parse_task_cursor(std::string_view text);

struct TasksQuery {
    std::vector<std::string> devices;
    std::vector<std::string> jobs;
    std::vector<std::string> tags;
    std::vector<std::string> groups;
    std::vector<TaskStatus> statuses;
    std::string q;  // lower case; empty: no filter
    TaskSort sort = TaskSort::device;
    bool descending = false;
    std::size_t limit = k_tasks_max_limit;
    std::optional<TaskCursor> cursor;
};
std::optional<QueryError> parse_tasks_query(const http::QueryParams& params, TasksQuery& out);
// Whether a task passes every filter (the cursor and paging aside). Task by task, as
// written: select_tasks decides the same once per device and job for all tasks.
bool task_matches(const Projection& p, task_id id, const TasksQuery& query, unix_time now);

// A task whose last failure is newer than its last success (or that never succeeded).
bool task_failing(const TaskState& t);

// The last commit that changed a task's file (from the history index).
struct LastChange {
    std::string commit;  // a copy: the history cache may change once the lookup returns
    unix_time time = 0;
    std::uint64_t seq = 0;
};
using LastChangeLookup =
    std::function<std::optional<LastChange>(std::string_view device, std::string_view job)>;

struct StatusCounts {
    std::uint64_t due = 0;
    std::uint64_t scheduled = 0;
    std::uint64_t leased = 0;
    std::uint64_t retrying = 0;
    std::uint64_t failing = 0;
};

// One page of GET /api/v1/tasks, without its JSON.
struct TasksPage {
    std::uint64_t total = 0;         // tasks passing every filter
    StatusCounts counts;             // over the tasks passing every filter but status
    std::vector<task_id> ids;        // the page, in order
    std::optional<TaskCursor> next;  // where the next page starts; none after the last
};

// The order of the inventory's device and job names, so that rows compare integers
// rather than strings (an nth_element over 100,000 rows by name chased two pointers per
// comparison). Built once per inventory (sorting 100,000 names takes milliseconds) and
// kept by the caller. Its views are of the projection's inventory: valid while
// `generation` is the projection's inventory_generation(). It holds no reference to the
// inventory, so a reload still frees the old one where the engine chooses (off the io thread).
struct NameRanks {
    std::uint64_t generation = 0;
    std::vector<std::uint32_t> device_rank;  // by device index
    std::vector<std::uint32_t> job_rank;     // by job index
    std::vector<std::string_view> devices_sorted;
    std::vector<std::string_view> jobs_sorted;
};
std::shared_ptr<const NameRanks> rank_names(const Projection& p);

// One pass over the tasks (filters, counts, the rows after the cursor), then only the
// page's rows are ordered (nth_element + sort of at most `limit` rows): O(tasks) plus
// O(limit log limit). `last_change` is asked only when sorting by last_change. `ranks`
// is refreshed when it is not for p's inventory (null: built for this call).
TasksPage select_tasks(const Projection& p, const TasksQuery& query, unix_time now,
                       const LastChangeLookup& last_change,
                       std::shared_ptr<const NameRanks>* ranks = nullptr);

// GET /api/v1/events. Forward (from, limit) or, with tail, newest first below `before`.
// Filters (type, device) make a request examine at most k_events_max_scan events.
inline constexpr std::uint64_t k_events_default_limit = 100;
inline constexpr std::uint64_t k_events_max_limit = 1000;
inline constexpr std::uint64_t k_events_max_scan = 100'000;
struct EventsQuery {
    std::uint64_t from = 1;
    std::uint64_t limit = k_events_default_limit;
    std::vector<EventType> types;
    std::vector<std::string> devices;
    bool tail = false;
    std::optional<std::uint64_t> before;  // only with tail
    bool filtered() const { return !types.empty() || !devices.empty(); }
};
std::optional<QueryError> parse_events_query(const http::QueryParams& params, EventsQuery& out);
bool event_matches(const EventsQuery& query, const Event& event);

// One element of GET /api/v1/tasks (docs/api.md), with the device's tags and group.
std::string task_json(const Projection& p, task_id id, unix_time now,
                      const std::optional<LastChange>& change);

}  // namespace netkeep::api
