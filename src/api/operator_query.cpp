#include "api/operator_query.hpp"

#include <algorithm>
#include <charconv>
#include <unordered_set>
#include <variant>

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

namespace {

// One task of status `s` into counts with a field per status (TaskCounts for /metrics,
// StatusCounts for a page of /api/v1/tasks).
template <typename Counts>
void count_status(Counts& c, TaskStatus s) {
    switch (s) {
        case TaskStatus::due:
            c.due += 1;
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

}  // namespace

TaskCounts count_tasks(const Projection& p, unix_time now) {
    TaskCounts c;
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        if (t.closed) continue;
        const TaskStatus status = task_status(t, now);
        count_status(c, status);
        if (status == TaskStatus::due && t.due < now - k_overdue_after) c.overdue += 1;
    }
    return c;
}

// ---- GET /api/v1/tasks: parameters and cursor ----

namespace {

constexpr std::string_view k_sort_names[] = {
    "device", "job", "status", "next_due", "last_success", "last_change", "last_failure"};
constexpr std::string_view k_tasks_parameters =
    "device, job, tag, group, status, q, sort, order, limit, cursor";

std::optional<TaskSort> task_sort_from_name(std::string_view name) {
    for (std::size_t i = 0; i < std::size(k_sort_names); ++i)
        if (k_sort_names[i] == name) return TaskSort(i);
    return std::nullopt;
}

char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

// The values given once at most; a repeat is refused rather than one silently winning.
bool single_valued(std::string_view name) {
    return name == "q" || name == "sort" || name == "order" || name == "limit" || name == "cursor";
}

std::optional<QueryError> parse_tasks_single(const std::string& name, const std::string& value,
                                             TasksQuery& out) {
    if (name == "q") {
        if (value.size() > k_tasks_max_q)
            return QueryError{name, fmt::format("q must be at most {} bytes", k_tasks_max_q)};
        out.q.clear();
        for (char c : value) out.q += lower_ascii(c);
    } else if (name == "sort") {
        auto sort = task_sort_from_name(value);
        if (!sort)
            return QueryError{name, fmt::format("sort must be one of device, job, status, "
                                                "next_due, last_success, last_change, "
                                                "last_failure; got '{}'",
                                                value)};
        out.sort = *sort;
    } else if (name == "order") {
        if (value != "asc" && value != "desc")
            return QueryError{name, fmt::format("order must be asc or desc; got '{}'", value)};
        out.descending = value == "desc";
    } else if (name == "limit") {
        auto v = parse_u64_in(value, 1, k_tasks_max_limit);
        if (!v)
            return QueryError{
                name, fmt::format("limit must be an integer from 1 to {}", k_tasks_max_limit)};
        out.limit = std::size_t(*v);
    } else {  // cursor
        if (value.size() <= k_tasks_max_cursor) out.cursor = parse_task_cursor(value);
        if (!out.cursor)
            return QueryError{name, "cursor is not one this server gave (use next_cursor as is)"};
    }
    return std::nullopt;
}

}  // namespace

std::string_view task_sort_name(TaskSort sort) { return k_sort_names[int(sort)]; }

// "v1~<sort>~<a|d>~<key or n>~<device>~<job>": '~' is in no device or job name
// (docs/devices.md#names, docs/jobs.md), and a cursor with another character is refused.
std::string format_task_cursor(const TaskCursor& c) {
    std::string key = c.key == k_null_key ? "n" : std::to_string(c.key);
    return fmt::format("v1~{}~{}~{}~{}~{}", task_sort_name(c.sort), c.descending ? 'd' : 'a', key,
                       c.device, c.job);
}

std::optional<TaskCursor> parse_task_cursor(std::string_view text) {
    std::string_view parts[5];
    for (auto& part : parts) {
        std::size_t tilde = text.find('~');
        if (tilde == std::string_view::npos) return std::nullopt;
        part = text.substr(0, tilde);
        text.remove_prefix(tilde + 1);
    }
    TaskCursor c;
    auto sort = task_sort_from_name(parts[1]);
    if (parts[0] != "v1" || !sort || (parts[2] != "a" && parts[2] != "d")) return std::nullopt;
    c.sort = *sort;
    c.descending = parts[2] == "d";
    if (parts[3] == "n") {
        c.key = k_null_key;
    } else {
        auto [end, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), c.key);
        if (parts[3].empty() || ec != std::errc() || end != parts[3].data() + parts[3].size() ||
            c.key == k_null_key)
            return std::nullopt;
    }
    // Device and job names use only A-Z a-z 0-9 . _ - (docs/devices.md#names): a cursor
    // with anything else was not made here.
    auto is_name = [](std::string_view name) {
        return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
            return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        });
    };
    if (!is_name(parts[4]) || !is_name(text)) return std::nullopt;
    c.device = parts[4];
    c.job = text;
    return c;
}

std::optional<QueryError> parse_tasks_query(const http::QueryParams& params, TasksQuery& out) {
    std::vector<std::string_view> seen;
    for (const auto& [name, value] : params) {
        if (single_valued(name)) {
            if (std::find(seen.begin(), seen.end(), name) != seen.end())
                return QueryError{name, fmt::format("{} may be given once", name)};
            seen.push_back(name);
            if (auto e = parse_tasks_single(name, value, out)) return e;
            continue;
        }
        std::vector<std::string>* list = nullptr;
        if (name == "device")
            list = &out.devices;
        else if (name == "job")
            list = &out.jobs;
        else if (name == "tag")
            list = &out.tags;
        else if (name == "group")
            list = &out.groups;
        else if (name != "status")
            return QueryError{name,
                              fmt::format("unknown parameter '{}' ({})", name, k_tasks_parameters)};
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
    if (out.cursor && (out.cursor->sort != out.sort || out.cursor->descending != out.descending))
        return QueryError{
            "cursor",
            fmt::format("cursor is for sort={} order={}; this request asks "
                        "sort={} order={}",
                        task_sort_name(out.cursor->sort), out.cursor->descending ? "desc" : "asc",
                        task_sort_name(out.sort), out.descending ? "desc" : "asc")};
    return std::nullopt;
}

// ---- GET /api/v1/tasks: selection ----

namespace {

// Which devices and jobs pass the filters that depend only on them, decided once per
// request (O(devices + jobs)), so the pass over the tasks is two lookups each.
struct TaskFilter {
    std::vector<char> device_pass;
    std::vector<char> job_pass;
    const std::vector<TaskStatus>* statuses = nullptr;

    TaskFilter(const Projection& p, const TasksQuery& q);
    bool passes(const TaskState& t) const {
        return !t.closed && device_pass[t.device_index] && job_pass[t.job_index];
    }
    bool status_passes(TaskStatus s) const {
        return statuses->empty() ||
               std::find(statuses->begin(), statuses->end(), s) != statuses->end();
    }
};

bool contains_icase(std::string_view name, std::string_view lower_needle) {
    return std::search(name.begin(), name.end(), lower_needle.begin(), lower_needle.end(),
                       [](char a, char b) { return lower_ascii(a) == b; }) != name.end();
}

TaskFilter::TaskFilter(const Projection& p, const TasksQuery& q) : statuses(&q.statuses) {
    const InventoryIndex& index = *p.inventory_index();
    const Inventory& inv = index.inventory();
    std::unordered_set<std::string_view> devices(q.devices.begin(), q.devices.end());
    std::unordered_set<std::string_view> groups(q.groups.begin(), q.groups.end());
    std::vector<char> tag_wanted(index.tag_count(), 0);
    for (const std::string& tag : q.tags)
        if (auto id = index.tag(tag)) tag_wanted[*id] = 1;
    device_pass.assign(inv.devices.size(), 0);
    for (std::uint32_t d = 0; d < inv.devices.size(); ++d) {
        const DeviceSpec& spec = inv.devices[d];
        if (!devices.empty() && !devices.count(spec.name)) continue;
        if (!groups.empty() && !groups.count(spec.group)) continue;
        if (!q.tags.empty()) {
            auto tags = index.device_tags(d);
            if (std::none_of(tags.begin(), tags.end(),
                             [&](std::uint32_t t) { return tag_wanted[t] != 0; }))
                continue;
        }
        if (!q.q.empty() && !contains_icase(spec.name, q.q)) continue;
        device_pass[d] = 1;
    }
    job_pass.assign(inv.jobs.size(), q.jobs.empty() ? 1 : 0);
    for (const std::string& job : q.jobs)
        if (auto j = index.job(job)) job_pass[*j] = 1;
}

// Status order is by name, as a column of names sorts: due, leased, retrying, scheduled.
std::int64_t status_rank(TaskStatus s) {
    switch (s) {
        case TaskStatus::due:
            return 0;
        case TaskStatus::leased:
            return 1;
        case TaskStatus::retrying:
            return 2;
        case TaskStatus::scheduled:
            return 3;
    }
    return 0;
}

// A row of the listing: its sort value, then its place in name order (device-major, or
// job-major for sort=job) times two. A cursor naming a device or job no longer in the
// inventory falls between two rows: an odd tie (see cursor_row).
struct Row {
    std::int64_t key = 0;
    std::int64_t tie = 0;
    task_id id = 0;
};

std::int64_t outcome_key(const std::optional<Outcome>& o) { return o ? o->at : k_null_key; }

std::int64_t sort_key(TaskSort sort, const TaskState& t, TaskStatus status,
                      const LastChangeLookup& last_change) {
    switch (sort) {
        case TaskSort::device:
        case TaskSort::job:
            return 0;
        case TaskSort::status:
            return status_rank(status);
        case TaskSort::next_due:
            return t.due;
        case TaskSort::last_success:
            return outcome_key(t.last_success);
        case TaskSort::last_failure:
            return outcome_key(t.last_failure);
        case TaskSort::last_change: {
            auto change = last_change ? last_change(t.device, t.job) : std::nullopt;
            return change ? change->time : k_null_key;
        }
    }
    return 0;
}

std::int64_t name_tie(const NameRanks& r, TaskSort sort, std::uint32_t device, std::uint32_t job) {
    const auto devices = std::int64_t(r.device_rank.size());
    const auto jobs = std::int64_t(r.job_rank.size());
    if (sort == TaskSort::job) return 2 * (r.job_rank[job] * devices + r.device_rank[device]);
    return 2 * (r.device_rank[device] * jobs + r.job_rank[job]);
}

// The cursor's place among the rows: exact when its device and job are still in the
// inventory, else just before the first row whose names sort after them.
Row cursor_row(const NameRanks& r, const TaskCursor& c) {
    auto place = [](const std::vector<std::string_view>& sorted, std::string_view name) {
        auto it = std::lower_bound(sorted.begin(), sorted.end(), name);
        return std::make_pair(std::int64_t(it - sorted.begin()), it != sorted.end() && *it == name);
    };
    auto [d, d_found] = place(r.devices_sorted, c.device);
    auto [j, j_found] = place(r.jobs_sorted, c.job);
    const auto devices = std::int64_t(r.devices_sorted.size());
    const auto jobs = std::int64_t(r.jobs_sorted.size());
    std::int64_t tie = 0;
    if (c.sort == TaskSort::job)
        tie = !j_found ? 2 * (j * devices) - 1 : 2 * (j * devices + d) - (d_found ? 0 : 1);
    else
        tie = !d_found ? 2 * (d * jobs) - 1 : 2 * (d * jobs + j) - (j_found ? 0 : 1);
    return Row{c.key, tie, 0};
}

// The total order of the listing: `sort` ascending, ties by device, then job (one task
// per device and job); descending is its exact reverse.
struct RowOrder {
    bool descending;

    bool operator()(const Row& a, const Row& b) const {
        if (descending) return b.key != a.key ? b.key < a.key : b.tie < a.tie;
        return a.key != b.key ? a.key < b.key : a.tie < b.tie;
    }
};

}  // namespace

bool task_failing(const TaskState& t) {
    return t.last_failure && (!t.last_success || t.last_failure->seq > t.last_success->seq);
}

bool task_matches(const Projection& p, task_id id, const TasksQuery& q, unix_time now) {
    const TaskState& t = p.task(id);
    if (t.closed) return false;
    auto any = [](const std::vector<std::string>& list, std::string_view v) {
        return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
    };
    const DeviceSpec& device = p.inventory().devices[t.device_index];
    if (!any(q.devices, t.device) || !any(q.jobs, t.job) || !any(q.groups, device.group))
        return false;
    if (!q.tags.empty() && std::none_of(q.tags.begin(), q.tags.end(), [&](const std::string& tag) {
            return std::find(device.tags.begin(), device.tags.end(), tag) != device.tags.end();
        }))
        return false;
    if (!q.q.empty() && !contains_icase(t.device, q.q)) return false;
    return q.statuses.empty() ||
           std::find(q.statuses.begin(), q.statuses.end(), task_status(t, now)) != q.statuses.end();
}

std::shared_ptr<const NameRanks> rank_names(const Projection& p) {
    auto r = std::make_shared<NameRanks>();
    const Inventory& inv = p.inventory();
    auto rank = [](const std::vector<std::string_view>& names,
                   std::vector<std::string_view>& sorted, std::vector<std::uint32_t>& ranks) {
        std::vector<std::uint32_t> order(names.size());
        for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(),
                  [&](std::uint32_t a, std::uint32_t b) { return names[a] < names[b]; });
        ranks.resize(order.size());
        sorted.resize(order.size());
        for (std::uint32_t k = 0; k < order.size(); ++k) {
            ranks[order[k]] = k;
            sorted[k] = names[order[k]];
        }
    };
    std::vector<std::string_view> devices, jobs;
    for (const DeviceSpec& d : inv.devices) devices.push_back(d.name);
    for (const JobSpec& j : inv.jobs) jobs.push_back(j.name);
    rank(devices, r->devices_sorted, r->device_rank);
    rank(jobs, r->jobs_sorted, r->job_rank);
    r->generation = p.inventory_generation();
    return r;
}

TasksPage select_tasks(const Projection& p, const TasksQuery& q, unix_time now,
                       const LastChangeLookup& last_change,
                       std::shared_ptr<const NameRanks>* cache) {
    std::shared_ptr<const NameRanks> local;
    if (!cache) cache = &local;
    if (!*cache || (*cache)->generation != p.inventory_generation()) *cache = rank_names(p);
    const NameRanks& ranks = **cache;
    TaskFilter filter(p, q);
    const RowOrder order{q.descending};
    std::optional<Row> after;
    if (q.cursor) after = cursor_row(ranks, *q.cursor);
    TasksPage page;
    std::vector<Row> rows;
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        if (!filter.passes(t)) continue;
        const TaskStatus status = task_status(t, now);
        count_status(page.counts, status);
        if (task_failing(t)) page.counts.failing += 1;
        if (!filter.status_passes(status)) continue;
        page.total += 1;
        Row row{sort_key(q.sort, t, status, last_change),
                name_tie(ranks, q.sort, t.device_index, t.job_index), id};
        if (after && !order(*after, row)) continue;
        rows.push_back(row);
    }
    // Only the page is ordered: the `limit` first rows are picked in linear time.
    const bool more = rows.size() > q.limit;
    if (more) {
        std::nth_element(rows.begin(), rows.begin() + std::ptrdiff_t(q.limit), rows.end(), order);
        rows.resize(q.limit);
    }
    std::sort(rows.begin(), rows.end(), order);
    if (more) {
        const TaskState& last = p.task(rows.back().id);
        page.next = TaskCursor{q.sort, q.descending, rows.back().key, std::string(last.device),
                               std::string(last.job)};
    }
    page.ids.reserve(rows.size());
    for (const Row& r : rows) page.ids.push_back(r.id);
    return page;
}

// ---- GET /api/v1/events ----

std::optional<QueryError> parse_events_query(const http::QueryParams& params, EventsQuery& out) {
    bool from_given = false;
    for (const auto& [name, value] : params) {
        if (name == "from") {
            auto v = parse_u64_in(value, 1, UINT64_MAX - k_events_max_limit);
            if (!v) return QueryError{name, "from must be a sequence number (an integer from 1)"};
            out.from = *v;
            from_given = true;
        } else if (name == "limit") {
            auto v = parse_u64_in(value, 1, k_events_max_limit);
            if (!v)
                return QueryError{
                    name, fmt::format("limit must be an integer from 1 to {}", k_events_max_limit)};
            out.limit = *v;
        } else if (name == "type") {
            auto type = event_type_from_name(value);
            if (!type)
                return QueryError{name, fmt::format("type must be an event type (InventoryApplied, "
                                                    "LeaseGranted, LeaseExpired, "
                                                    "CompletionRecorded, OccurrenceClosed, "
                                                    "RunRequested); got '{}'",
                                                    value)};
            out.types.push_back(*type);
        } else if (name == "device") {
            if (value.empty()) return QueryError{name, "device must not be empty"};
            out.devices.push_back(value);
        } else if (name == "tail") {
            if (value != "1" && value != "0") return QueryError{name, "tail must be 1 or 0"};
            out.tail = value == "1";
        } else if (name == "before") {
            auto v = parse_u64_in(value, 1, UINT64_MAX);
            if (!v) return QueryError{name, "before must be a sequence number (an integer from 1)"};
            out.before = *v;
        } else {
            return QueryError{name, fmt::format("unknown parameter '{}' (from, limit, type, "
                                                "device, tail, before)",
                                                name)};
        }
    }
    if (out.before && !out.tail) return QueryError{"before", "before is only for tail=1"};
    if (from_given && out.tail) return QueryError{"from", "from is not for tail=1 (use before)"};
    return std::nullopt;
}

bool event_matches(const EventsQuery& q, const Event& event) {
    if (!q.types.empty() &&
        std::find(q.types.begin(), q.types.end(), type_of(event)) == q.types.end())
        return false;
    if (q.devices.empty()) return true;
    return std::visit(
        [&](const auto& e) {
            if constexpr (requires { e.device; })
                return std::find(q.devices.begin(), q.devices.end(), e.device) != q.devices.end();
            else
                return false;
        },
        event);
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
    const DeviceSpec& device = p.inventory().devices[t.device_index];
    std::string tags = "[";
    for (const std::string& tag : device.tags) {
        if (tags.size() > 1) tags += ',';
        tags += json_quote(tag);
    }
    tags += ']';
    return fmt::format(
        R"({{"device":{},"job":{},"status":"{}","timestamp":{},"next_due":{},"failed_attempts":{},"max_attempts":{},)"
        R"("lease":{},"last_success":{},"last_failure":{},"last_change":{},"tags":{},"group":{}}})",
        json_quote(t.device), json_quote(t.job), task_status_name(task_status(t, now)), t.timestamp,
        t.due, t.failed_attempts, job.max_attempts, lease, outcome_json(t.last_success, false),
        outcome_json(t.last_failure, true), last_change, tags, json_quote(device.group));
}

}  // namespace netkeep::api
