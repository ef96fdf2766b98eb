// The operator API (/api/v1/...), /metrics, and the pieces of the service they rely on:
// the timing of every route and the history index. Pure parts (query parsing, JSON,
// the exposition format) live in operator_query.cpp and metrics.cpp.
//
// Threads: the io thread, like the rest of Service; reading a range of the log for
// /api/v1/events runs on the blocking pool.

#include <chrono>
#include <exception>
#include <memory>
#include <variant>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "api/held_tasks.hpp"
#include "api/operator_query.hpp"
#include "api/service.hpp"
#include "netkeep/event_json.hpp"
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

// A free function, not a capturing lambda coroutine: its arguments are copied into the
// coroutine frame, so nothing it uses can dangle while it is suspended. `handler` is
// owned by the route's closure (shared by its copies), which the router keeps for the
// server's life; no reference count is touched per request.
asio::awaitable<http::Response> run_timed(HttpMetrics::Route* route, const http::Handler* handler,
                                          http::Request& request) {
    const auto started = std::chrono::steady_clock::now();
    http::Response response;
    std::exception_ptr failure;
    try {
        response = co_await (*handler)(request);
    } catch (...) {
        failure = std::current_exception();  // the server answers 500 and logs it
    }
    route->observe(
        failure ? 500 : response.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (failure) std::rethrow_exception(failure);
    co_return response;
}

}  // namespace

void Service::count_unrouted(std::string_view method, int status) {
    std::string key(method.empty() ? "-" : method);
    auto it = unrouted_.find(key);
    if (it == unrouted_.end())
        it = unrouted_.emplace(key, &http_metrics_.route("(unrouted)", key)).first;
    it->second->observe(status, 0.0);
}

http::Handler Service::instrument(std::string_view pattern, std::string method,
                                  http::Handler handler) {
    HttpMetrics::Route* route = &http_metrics_.route(std::string(pattern), std::move(method));
    auto shared = std::make_shared<const http::Handler>(std::move(handler));
    return [route, shared](http::Request& r) { return run_timed(route, shared.get(), r); };
}

// ---- history index ----

void Service::load_history() {
    auto entries = load_applied_records(log_);
    if (!entries) {
        // The index serves operators; a bad record must not stop backups.
        log_line(LogLevel::error, "history.load_failed", {{"error", entries.status().to_string()}});
        return;
    }
    for (HistoryEntry& e : *entries) history_.add(std::move(e));
    log_line(LogLevel::info, "history.loaded",
             {{"records", std::to_string(entries->size())},
              {"versions", std::to_string(history_.versions())}});
}

void Service::add_history(std::vector<HistoryEntry> entries) {
    for (HistoryEntry& e : entries) {
        counters_.git_records += 1;
        if (!e.version.commit.empty()) counters_.git_commits += 1;
        history_.add(std::move(e));
    }
}

// ---- GET /api/v1/tasks ----

asio::awaitable<http::Response> Service::api_tasks(http::Request& request, const Caller&) {
    TasksQuery query;
    if (auto error = parse_tasks_query(request.query(), query)) co_return bad_parameter(*error);
    const unix_time now = options_.now();
    std::string body = fmt::format(R"({{"now":{},"tasks":[)", now);
    bool first = true;
    for (task_id id = 0; id < projection_.task_count(); ++id) {
        if (!task_matches(projection_, id, query, now)) continue;
        const TaskState& t = projection_.task(id);
        std::optional<LastChange> change;
        if (const FileVersion* v = history_.last_change(t.device, t.job))
            change = LastChange{v->commit, v->time, v->seq};
        if (!first) body += ',';
        first = false;
        body += task_json(projection_, id, now, change);
    }
    body += "]}";
    co_return http::json_response(200, std::move(body));
}

// ---- POST /api/v1/tasks/{device}/{job}/run ----

asio::awaitable<http::Response> Service::api_task_run(http::Request& request,
                                                      const Caller& caller) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const std::string device(request.capture("device"));
    const std::string job(request.capture("job"));
    // The admin token's name; without --auth, the client's address.
    const std::string by =
        caller.authenticated() ? caller.name : request.remote().address().to_string();
    RunDecision decision = decide_run(projection_, device, job, options_.now(), by);
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
            if (auto id = projection_.find(device, job)) {
                const TaskState& t = projection_.task(*id);
                body += fmt::format(R"(,"timestamp":{},"next_due":{},"status":"{}")", t.timestamp,
                                    t.due, task_status_name(task_status(t, options_.now())));
            }
            body += '}';
            co_return http::json_response(200, std::move(body));
        }
        case Kind::accept:
            break;
    }
    held_tasks held(projection_);
    if (auto id = projection_.find(device, job)) held.hold(*id);
    std::vector<Event> events;
    events.emplace_back(std::move(decision.event));
    auto appended = co_await append_and_apply(std::move(events));
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
    if (auto id = projection_.find(device, job)) {
        const TaskState& t = projection_.task(*id);
        body += fmt::format(R"(,"timestamp":{},"next_due":{},"status":"{}")", t.timestamp, t.due,
                            task_status_name(task_status(t, options_.now())));
    }
    body += '}';
    co_return http::json_response(200, std::move(body));
}

// ---- GET /api/v1/events ----

asio::awaitable<http::Response> Service::api_events(http::Request& request, const Caller&) {
    EventsQuery query;
    if (auto error = parse_events_query(request.query(), query)) co_return bad_parameter(*error);
    const std::uint64_t last = log_.last_seq();
    const std::uint64_t to = std::min(last, query.from + query.limit - 1);
    // Reading and rendering up to a thousand events (an inventory may be megabytes)
    // happens off the io thread.
    std::string events;
    std::uint64_t next = query.from;
    Status scanned = co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<Status> {
            co_return log_.scan(query.from, to, [&](EventRecord&& record) {
                if (!events.empty()) events += ',';
                events += event_json(record);
                next = record.seq + 1;
                return true;
            });
        },
        asio::use_awaitable);
    if (!scanned) {
        log_line(LogLevel::error, "events.read_failed", {{"error", scanned.to_string()}});
        co_return http::json_error(503, "the event log could not be read",
                                   {{"detail", scanned.message()}});
    }
    co_return http::json_response(
        200, fmt::format(R"({{"events":[{}],"next":{},"last_seq":{}}})", events, next, last));
}

// ---- GET /api/v1/devices/{device}/history ----

asio::awaitable<http::Response> Service::api_device_history(http::Request& request, const Caller&) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const std::string device(request.capture("device"));
    const HistoryIndex::Jobs* versions = history_.device(device);
    if (!versions && !projection_.has_device(device))
        co_return http::json_error(404, fmt::format("unknown device '{}'", device));
    // Jobs of the device in the inventory come first (in inventory order), with or
    // without versions; then jobs that left the inventory but have versions.
    std::vector<std::string_view> jobs;
    for (const JobSpec& job : projection_.inventory().jobs)
        if (projection_.find(device, job.name)) jobs.push_back(job.name);
    if (versions)
        for (const auto& [job, list] : *versions)
            if (std::find(jobs.begin(), jobs.end(), job) == jobs.end()) jobs.push_back(job);
    std::string body = fmt::format(R"({{"device":{},"jobs":[)", json_quote(device));
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        if (j) body += ',';
        body += fmt::format(R"({{"job":{},"versions":[)", json_quote(jobs[j]));
        if (versions) {
            if (auto it = versions->find(jobs[j]); it != versions->end()) {
                // Newest first, as git log shows them.
                for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) {
                    if (v != it->second.rbegin()) body += ',';
                    body +=
                        fmt::format(R"({{"commit":"{}","time":{},"seq":{},"blob":"{}","path":{}}})",
                                    v->commit, v->time, v->seq, v->blob, json_quote(v->path));
                }
            }
        }
        body += "]}";
    }
    body += "]}";
    co_return http::json_response(200, std::move(body));
}

// ---- GET /metrics ----

asio::awaitable<http::Response> Service::metrics(http::Request& request, const Caller&) {
    if (auto error = no_parameters(request)) co_return bad_parameter(*error);
    const unix_time now = options_.now();
    MetricsSnapshot s;
    s.counters = counters_;
    s.log_last_seq = log_.last_seq();
    s.projection_seq = projection_.last_seq();
    s.tasks = count_tasks(projection_, now);
    s.history_versions = history_.versions();
    s.start_time = started_at_;
    s.storage.counters = storage_counters_;
    s.storage.log = log_.health();
    s.storage.spool = spool_usage_;
    s.storage.ready = readiness_reasons(readiness_input(), options_.readiness).empty();
    if (git_applied_seq_) {
        GitProgress g;
        g.applied_seq = git_applied_seq_();
        g.lag_events = s.log_last_seq > g.applied_seq ? s.log_last_seq - g.applied_seq : 0;
        if (g.lag_events > 0) {
            // The age of the first event the writer has not applied: one read, off the io thread.
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
        s.git = g;
    }
    if (git_health_) {
        GitWriterHealth h = git_health_();
        s.writer = WriterHealth{h.repo_ok,     h.consecutive_failures, h.errors_total,
                                h.quarantined, h.quarantined_total,    h.redaction_lines_skipped};
    }
    http::Response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(s, http_metrics_);
    co_return r;
}

}  // namespace netkeep::api
