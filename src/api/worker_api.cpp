// GET /worker/next, the workers' routes and the storage refusal both routes give.

#include "api/worker_api.hpp"

#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include "engine/held_tasks.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

// The worker reads it under the same name (src/worker/server_clock.hpp); the integration
// test worker_next_test checks both ends.
constexpr std::string_view k_server_time_header = "X-Netkeep-Server-Time";

// `handler`'s answer with X-Netkeep-Server-Time: the wall clock (unix milliseconds) as the
// answer leaves. The handler lives in the router for the server's lifetime, so the
// reference outlives the coroutine.
asio::awaitable<http::Response> with_server_time(const http::Handler& handler,
                                                 http::Request& request) {
    http::Response response = co_await handler(request);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    response.headers.set(std::string(k_server_time_header), std::to_string(ms.count()));
    co_return response;
}

// Every /worker/next answer, whatever its status (204 and refusals too), carries the
// server's clock: workers schedule jobs and budget leases in server time
// (docs/api.md#server-time, docs/worker.md#clock-skew).
http::Handler server_time(http::Handler handler) {
    return
        [handler = std::move(handler)](http::Request& r) { return with_server_time(handler, r); };
}

// A strictly parsed decimal integer in [min, max]; no sign, no spaces, no suffix.
std::optional<std::int64_t> parse_bounded(std::string_view text, std::int64_t min,
                                          std::int64_t max) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
        text.front() == '-')
        return std::nullopt;
    if (v < min || v > max) return std::nullopt;
    return v;
}

http::Response bad_parameter(std::string_view name, std::string message) {
    return http::json_error(400, message, {{"parameter", std::string(name)}});
}

// Seconds a worker waits before retrying what storage refused: a full disk is not freed
// in less, and a failed log takes a restart (systemd waits 5 s, then the log replays).
constexpr int k_storage_retry_after = 10;

// The query of GET /worker/next.
struct NextQuery {
    std::vector<std::string> tags;
    std::int64_t seconds = 15;
    std::int64_t max = 15;
};

}  // namespace

Status WorkerApi::add_routes(http::Router& router) {
    auto bind = [this](auto member) -> GuardedHandler {
        return [this, member](http::Request& r, const Caller& c) { return (this->*member)(r, c); };
    };
    if (Status s = gate_.add(router, "GET", "/worker/next", Access::worker, bind(&WorkerApi::next),
                             {}, server_time);
        !s)
        return s;
    // HEAD would otherwise run the GET handler: leases granted to nobody, body dropped.
    auto refuse_head = [](http::Request&, const Caller&) -> asio::awaitable<http::Response> {
        http::Response r =
            http::json_error(405, "HEAD would lease jobs without returning them; use GET");
        r.headers.set("Allow", "GET");
        co_return r;
    };
    if (Status s =
            gate_.add(router, "HEAD", "/worker/next", Access::open, refuse_head, {}, server_time);
        !s)
        return s;
    // The multipart framing around the file adds a little; the file itself is checked
    // against max_upload as it streams.
    return gate_.add(
        router, "POST", "/worker/complete", Access::worker, bind(&WorkerApi::complete),
        {.body_mode = http::BodyMode::streaming, .max_body = options_.max_upload + 1024 * 1024});
}

// ---- GET /worker/next ----

asio::awaitable<http::Response> WorkerApi::next(http::Request& request, const Caller& caller) {
    NextQuery query;
    for (const auto& [name, value] : request.query()) {
        if (name == "tag") {
            if (value.empty()) co_return bad_parameter(name, "tag must not be empty");
            if (caller.authenticated() && !caller.token->has_tag(value))
                co_return gate_.forbidden(fmt::format(
                    "tag '{}' is not among the tags of token '{}'", value, caller.name));
            query.tags.push_back(value);
        } else if (name == "seconds") {
            auto v = parse_bounded(value, 1, 3600);
            if (!v) co_return bad_parameter(name, "seconds must be an integer from 1 to 3600");
            query.seconds = *v;
        } else if (name == "max") {
            auto v = parse_bounded(value, 1, 1000);
            if (!v) co_return bad_parameter(name, "max must be an integer from 1 to 1000");
            query.max = *v;
        } else {
            co_return bad_parameter(
                name, fmt::format("unknown parameter '{}' (tag, seconds, max)", name));
        }
    }
    // A worker token sees only the devices that carry one of its tags.
    if (query.tags.empty() && caller.authenticated() && !caller.token->all_tags())
        query.tags = caller.token->tags;
    const std::string holder = caller.authenticated() ? caller.name : std::string();

    const unix_time now = engine_.now();
    workers_.record(caller.name, request.remote().address().to_string(), now);
    const Projection& projection = engine_.projection();
    std::vector<task_id> ids =
        projection.due(query.tags, now + query.seconds, std::size_t(query.max));
    if (ids.empty()) co_return http::empty_response(204);

    // Decide and render before the await: the state may change while the append is in
    // flight (another request, a reload), the answer must describe what was appended.
    // The resolved inventory was loaded from the same files as the projection's, so the
    // projection's device and job indexes address its expanded JSON directly.
    const Inventory& resolved = engine_.resolved();
    std::vector<Event> grants;
    grants.reserve(ids.size());
    engine::held_tasks held(engine_.projection());
    std::string body = "[";
    for (task_id id : ids) {
        const TaskState& task = projection.task(id);
        LeaseGranted grant = decide_grant(projection, id, now, caller.name, holder);
        if (body.size() > 1) body += ',';
        body += R"({"device":)" + resolved.devices[task.device_index].json + R"(,"job":)" +
                resolved.jobs[task.job_index].json;
        // The platform's JSON lives once per (platform, command set) in the inventory.
        const TaskSpec spec{task.device_index, task.job_index};
        if (const std::string* platform = platform_worker_json(resolved, spec))
            body += R"(,"platform":)" + *platform;
        body += fmt::format(R"(,"timestamp":{},"lease":{{"expires":{},"attempt":{}}}}})",
                            grant.timestamp, grant.deadline, grant.attempt);
        grants.push_back(std::move(grant));
        held.hold(id);
    }
    body += ']';

    auto appended = co_await engine_.append_and_apply(std::move(grants));
    if (!appended) {
        log_line(LogLevel::error, "lease.append_failed",
                 {{"error", appended.status().to_string()}});
        co_return storage_refusal("leases could not be recorded durably; nothing was handed out",
                                  appended.status(), std::nullopt);
    }
    co_return http::json_response(200, std::move(body));
}

// ---- storage faults ----

http::Response WorkerApi::storage_refusal(std::string_view message, const Status& error,
                                          std::optional<SpoolOp> spool_op) {
    if (spool_op) readiness_.spool_failed(*spool_op, error);
    // 507 only when a full spool is the cause: the worker keeps its result and retries;
    // everything else (the log out of space or failed, an I/O error) is 503.
    const int code = spool_op && error.code() == Status::Code::no_space ? 507 : 503;
    http::Response r = http::json_error(code, message, {{"detail", error.message()}});
    r.headers.set("Retry-After", std::to_string(k_storage_retry_after));
    return r;
}

}  // namespace netkeep::api
