// The operators' routes (api/operator_api.hpp).

#include "api/operator_api.hpp"

#include <charconv>
#include <chrono>
#include <exception>
#include <memory>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "api/answers.hpp"
#include "api/event_pages.hpp"
#include "api/operator_query.hpp"
#include "engine/held_tasks.hpp"
#include "netkeep/event_json.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/json.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

http::Response bad_parameter(const QueryError& e) {
    return http::json_error(400, e.message, {{"parameter", e.parameter}});
}

// Routes that take no query parameters refuse any, so a typo is not silently ignored.
std::optional<QueryError> no_parameters(const http::Request& request) {
    if (request.query().empty()) return std::nullopt;
    const std::string& name = request.query().front().first;
    return QueryError{name, fmt::format("unknown parameter '{}' (none accepted)", name)};
}

// GET /api/v1/quarantine lists at most this many records (the newest).
constexpr std::size_t k_quarantine_max = 1000;

// GET /api/v1/devices/<device>/history: per job, at most `limit` versions with seq < before.
constexpr std::size_t k_history_default_limit = 100;
struct HistoryQuery {
    std::size_t limit = k_history_default_limit;
    std::uint64_t before = UINT64_MAX;
};

std::optional<std::uint64_t> parse_u64_in(std::string_view text, std::uint64_t min,
                                          std::uint64_t max) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
        return std::nullopt;
    return v;
}

std::optional<QueryError> parse_history_query(const http::QueryParams& params, HistoryQuery& out) {
    bool limit_seen = false, before_seen = false;
    for (const auto& [name, value] : params) {
        if (name == "limit" && !limit_seen) {
            auto v = parse_u64_in(value, 1, k_max_history_page);
            if (!v)
                return QueryError{
                    name, fmt::format("limit must be an integer from 1 to {}", k_max_history_page)};
            out.limit = std::size_t(*v);
            limit_seen = true;
        } else if (name == "before" && !before_seen) {
            auto v = parse_u64_in(value, 1, UINT64_MAX);
            if (!v) return QueryError{name, "before must be a sequence number (an integer from 1)"};
            out.before = *v;
            before_seen = true;
        } else if (name == "limit" || name == "before") {
            return QueryError{name, fmt::format("{} given more than once", name)};
        } else {
            return QueryError{name, fmt::format("unknown parameter '{}' (limit, before)", name)};
        }
    }
    return std::nullopt;
}

}  // namespace

Status OperatorApi::add_routes(http::Router& router) {
    auto bind = [this](auto member) -> GuardedHandler {
        return [this, member](http::Request& r, const Caller& c) { return (this->*member)(r, c); };
    };
    const http::RouteOptions no_body{.body_mode = http::BodyMode::buffered, .max_body = 0};
    struct Route {
        const char* method;
        const char* pattern;
        Access access;
        GuardedHandler handler;
        http::RouteOptions options;
    };
    // Each route's role (docs/api.md, docs/security.md). /readyz is open, like /healthz:
    // probes (load balancers, systemd, monitoring) carry no token, and its reasons name no
    // secret, path or error text.
    const Route routes[] = {
        {"POST", "/admin/reload", Access::admin, bind(&OperatorApi::reload), no_body},
        {"GET", "/metrics", Access::read, bind(&OperatorApi::metrics), {}},
        {"GET", "/readyz", Access::open, bind(&OperatorApi::readyz), {}},
        {"GET", "/api/v1/tasks", Access::read, bind(&OperatorApi::tasks), {}},
        {"POST", "/api/v1/tasks/{device}/{job}/run", Access::admin, bind(&OperatorApi::task_run),
         no_body},
        {"GET", "/api/v1/events", Access::read, bind(&OperatorApi::events), {}},
        {"GET", "/api/v1/status", Access::read, bind(&OperatorApi::status), {}},
        {"GET", "/api/v1/quarantine", Access::read, bind(&OperatorApi::quarantine), {}},
        {"GET",
         "/api/v1/devices/{device}/history",
         Access::read,
         bind(&OperatorApi::device_history),
         {}},
    };
    for (const Route& r : routes)
        if (Status s = gate_.add(router, r.method, r.pattern, r.access, r.handler, r.options); !s)
            return s;
    return Status::ok();
}

// ---- GET /api/v1/tasks ----

asio::awaitable<http::Response> OperatorApi::tasks(http::Request& request, const Caller&) {
    TasksQuery query;
    if (auto error = parse_tasks_query(request.query(), query)) co_return bad_parameter(*error);
    const unix_time now = engine_.now();
    const Projection& projection = engine_.projection();
    auto last_change = [this](std::string_view device,
                              std::string_view job) -> std::optional<LastChange> {
        if (auto h = history_.last_change(device, job))
            return LastChange{std::move(h->last.commit), h->last.time, h->last.seq};
        return std::nullopt;
    };
    // One pass over the tasks on the io thread (which owns the projection); only the page
    // (at most 1,000 tasks) is rendered.
    TasksPage page = select_tasks(projection, query, now, last_change, &name_ranks_);
    const StatusCounts& c = page.counts;
    std::string body = fmt::format(
        R"({{"now":{},"total":{},"counts":{{"due":{},"scheduled":{},"leased":{},"retrying":{},"failing":{}}},"tasks":[)",
        now, page.total, c.due, c.scheduled, c.leased, c.retrying, c.failing);
    for (std::size_t i = 0; i < page.ids.size(); ++i) {
        const TaskState& t = projection.task(page.ids[i]);
        if (i) body += ',';
        body += task_json(projection, page.ids[i], now, last_change(t.device, t.job));
    }
    body += fmt::format(R"(],"next_cursor":{}}})",
                        page.next ? json_quote(format_task_cursor(*page.next)) : "null");
    co_return http::json_response(200, std::move(body));
}

// ---- POST /api/v1/tasks/{device}/{job}/run ----

asio::awaitable<http::Response> OperatorApi::task_run(http::Request& request,
                                                      const Caller& caller) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const std::string device(request.capture("device"));
    const std::string job(request.capture("job"));
    // The admin token's name; without --auth, the client's address.
    const std::string by =
        caller.authenticated() ? caller.name : request.remote().address().to_string();
    RunDecision decision = decide_run(engine_.projection(), device, job, engine_.now(), by);
    using Kind = RunDecision::Kind;
    switch (decision.kind) {
        case Kind::unknown_device:
        case Kind::unknown_job:
        case Kind::not_selected:
        case Kind::removed:
            co_return http::json_error(404, decision.message);
        case Kind::leased:
            co_return http::json_error(409, decision.message);
        case Kind::busy:
            co_return task_busy_response(decision.message);
        case Kind::already_due: {
            // No event: a request that changes nothing must not grow the log, however often
            // it is sent (issue 11). The answer has the accepted one's shape, without "seq".
            std::string body =
                fmt::format(R"({{"changed":false,"message":{},"device":{},"job":{})",
                            json_quote(decision.message), json_quote(device), json_quote(job));
            if (auto id = engine_.projection().find(device, job)) {
                const TaskState& t = engine_.projection().task(*id);
                body += fmt::format(R"(,"timestamp":{},"next_due":{},"status":"{}")", t.timestamp,
                                    t.due, task_status_name(task_status(t, engine_.now())));
            }
            body += '}';
            co_return http::json_response(200, std::move(body));
        }
        case Kind::accept:
            break;
    }
    engine::held_tasks held(engine_.projection());
    if (auto id = engine_.projection().find(device, job)) held.hold(*id);
    std::vector<Event> events;
    events.emplace_back(std::move(decision.event));
    auto appended = co_await engine_.append_and_apply(std::move(events));
    if (!appended) {
        log_line(LogLevel::error, "run.append_failed", {{"error", appended.status().to_string()}});
        co_return http::json_error(503,
                                   "the run request could not be recorded durably; nothing changed",
                                   {{"detail", appended.status().message()}});
    }
    log_line(
        LogLevel::info, "task.run_requested",
        {{"seq", std::to_string(appended->first)}, {"device", device}, {"job", job}, {"by", by}});
    std::string body = fmt::format(R"({{"seq":{},"changed":true,"device":{},"job":{})",
                                   appended->first, json_quote(device), json_quote(job));
    // What the task looks like now: another event may have changed it since (a lease
    // granted right after the append), so this is read after applying.
    if (auto id = engine_.projection().find(device, job)) {
        const TaskState& t = engine_.projection().task(*id);
        body += fmt::format(R"(,"timestamp":{},"next_due":{},"status":"{}")", t.timestamp, t.due,
                            task_status_name(task_status(t, engine_.now())));
    }
    body += '}';
    co_return http::json_response(200, std::move(body));
}

// ---- GET /api/v1/events ----

asio::awaitable<http::Response> OperatorApi::events(http::Request& request, const Caller&) {
    EventsQuery query;
    if (auto error = parse_events_query(request.query(), query)) co_return bad_parameter(*error);
    const std::uint64_t last = log_.last_seq();
    // Reading and rendering up to a thousand events (an inventory may be megabytes), out
    // of up to k_events_max_scan examined, happens off the io thread.
    std::optional<Result<EventsPage>> read;
    (void)co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<Status> {
            read.emplace(query.tail ? read_events_tail(log_, query, last, k_events_max_scan)
                                    : read_events_forward(log_, query, last, k_events_max_scan));
            co_return Status::ok();
        },
        asio::use_awaitable);
    Result<EventsPage>& page = *read;
    if (!page) {
        log_line(LogLevel::error, "events.read_failed", {{"error", page.status().to_string()}});
        co_return http::json_error(503, "the event log could not be read",
                                   {{"detail", page.status().message()}});
    }
    if (query.tail)
        co_return http::json_response(
            200, fmt::format(R"({{"events":[{}],"next_before":{},"last_seq":{},"scanned":{}}})",
                             page->events,
                             page->next_before ? std::to_string(*page->next_before) : "null", last,
                             page->scanned));
    co_return http::json_response(200, fmt::format(R"({{"events":[{}],"next":{},"last_seq":{}}})",
                                                   page->events, page->next, last));
}

// ---- GET /api/v1/status ----

asio::awaitable<http::Response> OperatorApi::status(http::Request& request, const Caller&) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const unix_time now = engine_.now();
    const TaskCounts tasks = count_tasks(engine_.projection(), now);
    const std::uint64_t total = tasks.due + tasks.scheduled + tasks.leased + tasks.retrying;
    std::string git = "null";
    if (auto g = co_await git_progress(now))
        git = fmt::format(R"({{"applied_seq":{},"lag_events":{},"lag_seconds":{}}})",
                          g->applied_seq, g->lag_events, g->lag_seconds);
    const StorageSnapshot storage = readiness_.storage();
    std::string spool = "null";
    if (storage.spool)
        spool =
            fmt::format(R"({{"files":{},"bytes":{}}})", storage.spool->files, storage.spool->bytes);
    const ReadinessInput readiness = readiness_.readiness_input();
    const auto reasons = readiness_reasons(readiness, readiness_.limits());
    auto string_list = [](const std::vector<std::string>& items) {
        std::string out = "[";
        for (const std::string& item : items) {
            if (out.size() > 1) out += ',';
            out += json_quote(item);
        }
        return out + ']';
    };
    const auto health = readiness_.writer_health();
    std::string body = fmt::format(
        R"({{"version":{},"now":{},"started_at":{},"uptime_seconds":{},)"
        R"("log":{{"last_seq":{},"projection_seq":{}}},"git":{},"spool":{},)"
        R"("tasks":{{"total":{},"due":{},"scheduled":{},"leased":{},"retrying":{},"overdue":{}}},)"
        R"("history_versions":{},"workers":{},"ready":{},"reasons":{},"warnings":{},)"
        R"("quarantined":{}}})",
        json_quote(NETKEEP_VERSION), now, engine_.started_at(),
        std::max<unix_time>(0, now - engine_.started_at()), log_.last_seq(),
        engine_.projection().last_seq(), git, spool, total, tasks.due, tasks.scheduled,
        tasks.leased, tasks.retrying, tasks.overdue, history_.versions(), workers_json(),
        reasons.empty(), string_list(reasons),
        string_list(readiness_warnings(readiness, readiness_.limits())),
        health ? health->quarantined : 0);
    co_return http::json_response(200, std::move(body));
}

std::string OperatorApi::workers_json() const {
    // One pass over the tasks counts the leases by worker name (a view of the lease's).
    std::unordered_map<std::string_view, std::uint64_t> held;
    const Projection& p = engine_.projection();
    for (task_id id = 0; id < p.task_count(); ++id)
        if (const auto& lease = p.task(id).lease) held[lease->worker] += 1;
    std::string out = "[";
    for (const WorkerSeen& w : workers_.list()) {
        if (out.size() > 1) out += ',';
        auto it = held.find(w.name);
        out += fmt::format(R"({{"name":{},"address":{},"last_poll":{},"leases_held":{}}})",
                           json_quote(w.name), json_quote(w.address), w.last_poll,
                           it == held.end() ? 0 : it->second);
    }
    out += ']';
    return out;
}

// ---- GET /api/v1/quarantine ----

asio::awaitable<http::Response> OperatorApi::quarantine(http::Request& request, const Caller&) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    // A scan of the meta records and one point read per record: off the io thread.
    std::optional<Result<gitwriter::QuarantineList>> read;
    (void)co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<Status> {
            read.emplace(gitwriter::read_quarantine(log_, k_quarantine_max));
            co_return Status::ok();
        },
        asio::use_awaitable);
    Result<gitwriter::QuarantineList>& list = *read;
    if (!list) {
        log_line(LogLevel::error, "quarantine.read_failed", {{"error", list.status().to_string()}});
        co_return http::json_error(503, "the quarantine records could not be read",
                                   {{"detail", list.status().message()}});
    }
    std::string body = R"({"quarantined":[)";
    for (std::size_t i = 0; i < list->entries.size(); ++i) {
        const gitwriter::QuarantineEntry& e = list->entries[i];
        if (i) body += ',';
        body +=
            fmt::format(R"({{"seq":{},"what":{},"state":"{}","attempts":{},"at":{},"detail":{}}})",
                        e.seq, json_quote(e.what), gitwriter::state_name(e.record.state),
                        e.record.attempts, e.record.at, json_quote(e.record.detail));
    }
    body += fmt::format(R"(],"truncated":{}}})", list->truncated);
    co_return http::json_response(200, std::move(body));
}

// ---- GET /api/v1/devices/{device}/history ----

asio::awaitable<http::Response> OperatorApi::device_history(http::Request& request, const Caller&) {
    HistoryQuery query;
    if (auto error = parse_history_query(request.query(), query)) co_return bad_parameter(*error);
    const std::string device(request.capture("device"));
    const auto with_versions = history_.device_jobs(device);
    if (with_versions.empty() && !engine_.projection().has_device(device))
        co_return http::json_error(404, fmt::format("unknown device '{}'", device));
    // Jobs of the device in the inventory come first (in inventory order), with or
    // without versions; then jobs that left the inventory but have versions.
    std::vector<std::string> jobs;
    for (const JobSpec& job : engine_.projection().inventory().jobs)
        if (engine_.projection().find(device, job.name)) jobs.push_back(job.name);
    for (const auto& [job, t] : with_versions)
        if (std::find(jobs.begin(), jobs.end(), job) == jobs.end()) jobs.push_back(job);
    // One range read of the index on disk per job with versions, off the io thread.
    std::vector<VersionPage> pages(jobs.size());
    std::optional<Status> failed;
    auto read = [&]() -> asio::awaitable<void> {
        for (std::size_t j = 0; j < jobs.size() && !failed; ++j) {
            if (!with_versions.contains(jobs[j])) continue;
            auto page = history_.page(device, jobs[j], query.before, query.limit);
            if (!page)
                failed = page.status();
            else
                pages[j] = std::move(*page);
        }
        co_return;
    };
    co_await asio::co_spawn(blocking_, read, asio::use_awaitable);
    if (failed)
        co_return http::json_error(503, "the history index could not be read",
                                   {{"detail", failed->to_string()}});
    std::string body = fmt::format(R"({{"device":{},"indexing":{},"jobs":[)", json_quote(device),
                                   history_.indexing());
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        auto t = with_versions.find(jobs[j]);
        body += fmt::format(R"({}{{"job":{},"total":{},"versions":[)", j ? "," : "",
                            json_quote(jobs[j]), t == with_versions.end() ? 0 : t->second.count);
        for (std::size_t i = 0; i < pages[j].versions.size(); ++i) {
            const FileVersion& v = pages[j].versions[i];
            body += fmt::format(R"({}{{"commit":"{}","time":{},"seq":{},"blob":"{}","path":{}}})",
                                i ? "," : "", v.commit, v.time, v.seq, v.blob, json_quote(v.path));
        }
        const auto& next = pages[j].next_before;
        body += fmt::format(R"(],"next_before":{}}})", next ? std::to_string(*next) : "null");
    }
    body += "]}";
    co_return http::json_response(200, std::move(body));
}

// ---- GET /metrics ----

asio::awaitable<http::Response> OperatorApi::metrics(http::Request& request, const Caller&) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const unix_time now = engine_.now();
    MetricsSnapshot s;
    s.events = engine_.event_counts();
    s.counters = metrics_.counters();
    s.log_last_seq = log_.last_seq();
    s.projection_seq = engine_.projection().last_seq();
    s.tasks = count_tasks(engine_.projection(), now);
    s.history_versions = history_.versions();
    s.start_time = engine_.started_at();
    s.storage = readiness_.storage();
    s.git = co_await git_progress(now);
    if (auto h = readiness_.writer_health())
        s.writer =
            WriterHealth{h->repo_ok,     h->consecutive_failures, h->errors_total,
                         h->quarantined, h->quarantined_total,    h->redaction_lines_skipped};
    s.consumers = readiness_.consumers();
    http::Response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(s, metrics_.http());
    for (const auto& provider : metrics_text_) r.body += provider();
    co_return r;
}

asio::awaitable<std::optional<GitProgress>> OperatorApi::git_progress(unix_time now) {
    auto applied = readiness_.git_applied_seq();
    if (!applied) co_return std::nullopt;
    GitProgress g;
    g.applied_seq = *applied;
    const std::uint64_t last = log_.last_seq();
    g.lag_events = last > g.applied_seq ? last - g.applied_seq : 0;
    if (g.lag_events > 0) {
        unix_time oldest = now;
        (void)co_await asio::co_spawn(
            blocking_,
            [&]() -> asio::awaitable<Status> {
                co_return log_.scan(g.applied_seq + 1, g.applied_seq + 1, [&](EventRecord&& r) {
                    oldest = std::visit([](const auto& e) { return e.at; }, r.event);
                    return false;
                });
            },
            asio::use_awaitable);
        g.lag_seconds = double(std::max<unix_time>(0, now - oldest));
    }
    co_return g;
}

// ---- GET /readyz ----

asio::awaitable<http::Response> OperatorApi::readyz(http::Request&, const Caller&) {
    const ReadinessInput in = readiness_.readiness_input();
    auto reasons = readiness_reasons(in, readiness_.limits());
    co_return http::json_response(
        reasons.empty() ? 200 : 503,
        readiness_json(reasons, readiness_warnings(in, readiness_.limits())));
}

// ---- POST /admin/reload ----

asio::awaitable<http::Response> OperatorApi::reload(http::Request&, const Caller&) {
    auto result = co_await engine_.reload();
    if (!result) {
        const Status& s = result.status();
        // The request was fine; the inventory on disk is not (422), or it could not be
        // recorded (503). Either way the old one stays in force.
        bool bad_inventory =
            s.code() == Status::Code::invalid_argument || s.code() == Status::Code::not_found;
        co_return http::json_error(bad_inventory ? 422 : 503, s.message(),
                                   {{"inventory", "unchanged"}});
    }
    if (*result == 0) co_return http::json_response(200, R"({"applied":false})");
    co_return http::json_response(200, fmt::format(R"({{"applied":true,"seq":{}}})", *result));
}

}  // namespace netkeep::api
