#include "api/service.hpp"

#include <charconv>
#include <future>
#include <memory>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "api/held_tasks.hpp"
#include "api/input_limits.hpp"
#include "netkeep/json.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

// The worker reads it under the same name (src/worker/server_clock.hpp); the integration
// test worker_next_test checks both ends.
constexpr std::string_view k_server_time_header = "X-Netkeep-Server-Time";

unix_time system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// `handler`'s answer with X-Netkeep-Server-Time: the wall clock (unix milliseconds) as the
// answer leaves, the same clock system_now() reads. The handler lives in the router for
// the server's lifetime, so the reference outlives the coroutine.
asio::awaitable<http::Response> with_server_time(const http::Handler& handler,
                                                 http::Request& request) {
    http::Response response = co_await handler(request);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    response.headers.set(std::string(k_server_time_header), std::to_string(ms.count()));
    co_return response;
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

void log_inventory_applied(std::uint64_t seq, const Inventory& inventory) {
    log_line(LogLevel::info, "inventory.applied",
             {{"seq", std::to_string(seq)},
              {"devices", std::to_string(inventory.devices.size())},
              {"jobs", std::to_string(inventory.jobs.size())},
              {"tasks", std::to_string(inventory.tasks.size())}});
}

// Seconds a worker waits before retrying what storage refused: a full disk is not freed
// in less, and a failed log takes a restart (systemd waits 5 s, then the log replays).
constexpr int k_storage_retry_after = 10;

http::Response bad_parameter(std::string_view name, std::string message) {
    return http::json_error(400, message, {{"parameter", std::string(name)}});
}

}  // namespace

Service::Service(asio::io_context& io, EventLog& log, ServiceOptions options)
    : io_(io), log_(log), options_(std::move(options)), health_timer_(io), expiry_timer_(io) {
    if (!options_.now) options_.now = system_now;
}

Status Service::start() {
    auto auth = load_auth();
    if (!auth) return auth.status();
    auth_ = std::move(*auth);
    // The inventory on disk does not depend on the log: read and resolve it on another
    // thread while the log replays (both take about a second for 100,000 devices).
    auto loading = std::async(std::launch::async, [this] { return load_inventory(); });
    auto spool = Spool::open(options_.spool_dir);
    if (!spool) return spool.status();
    spool_.emplace(std::move(*spool));
    Status replayed = catch_up(log_.last_seq());
    auto inventory = loading.get();
    if (!replayed) return replayed;
    if (!inventory) return inventory.status();
    auto events = decide_inventory(projection_, *inventory, options_.now());
    if (!events.empty()) {
        auto range = log_.append(events);
        if (!range) return range.status();
        count_events(counters_, events);
        for (std::size_t i = 0; i < events.size(); ++i)
            if (Status s = projection_.apply(EventRecord{range->first + i, std::move(events[i])});
                !s)
                return s;
        log_inventory_applied(range->last, *inventory);
    }
    use_resolved(std::move(*inventory));
    load_history();
    started_at_ = options_.now();
    return Status::ok();
}

Result<Inventory> Service::load_inventory() const {
    auto files = read_inventory_files(options_.inventory_dir);
    if (!files) return files.status();
    return parse_inventory(*files, InventoryLoadOptions{.resolve_secrets = true,
                                                        .secrets_dir = options_.inventory_dir});
}

void Service::use_resolved(Inventory inventory) {
    free_elsewhere(std::exchange(resolved_, std::move(inventory)));
}

template <class T>
void Service::free_elsewhere(T value) {
    auto owned = std::make_shared<T>(std::move(value));
    asio::post(blocking_, [owned = std::move(owned)]() mutable { owned.reset(); });
}

Result<std::optional<Authenticator>> Service::load_auth() const {
    if (options_.auth_file.empty()) return std::optional<Authenticator>();
    auto file = load_auth_file(options_.auth_file);
    if (!file) return file.status();
    return std::optional<Authenticator>(Authenticator(std::move(*file)));
}

// ---- authentication ----

std::variant<Caller, http::Response> Service::authenticate(const http::Request& request,
                                                           Access access) {
    if (!auth_) return Caller{std::nullopt, worker_of(request)};
    auto header = request.header("Authorization");
    std::optional<std::string_view> token = header ? bearer_token(*header) : std::nullopt;
    const TokenEntry* entry = token ? auth_->find(*token) : nullptr;
    if (!entry) {
        counters_.auth_unauthenticated += 1;
        // The header's value is never logged: it may be a real token sent to the wrong
        // server. A flood of refused requests writes a few lines a second, not one each.
        if (refusal_log_.admit(options_.now()))
            log_line(LogLevel::warn, "auth.unauthenticated",
                     {{"client", request.remote().address().to_string()},
                      {"path", std::string(request.path())},
                      {"reason", !header  ? "no Authorization header"
                                 : !token ? "not a bearer token"
                                          : "unknown token"},
                      {"suppressed", std::to_string(refusal_log_.take_suppressed())}});
        http::Response r =
            http::json_error(401, !header ? "a bearer token is required (Authorization: Bearer ...)"
                                  : !token ? "the Authorization header must be 'Bearer <token>'"
                                           : "unknown or revoked token");
        r.headers.set("WWW-Authenticate", header && token
                                              ? R"(Bearer realm="netkeep", error="invalid_token")"
                                              : R"(Bearer realm="netkeep")");
        return r;
    }
    if (!role_allows(entry->role, access)) {
        const char* needed = access == Access::worker  ? "a worker"
                             : access == Access::admin ? "an admin"
                                                       : "a read or admin";
        if (refusal_log_.admit(options_.now()))
            log_line(LogLevel::warn, "auth.forbidden",
                     {{"token", entry->name},
                      {"role", std::string(role_name(entry->role))},
                      {"path", std::string(request.path())},
                      {"suppressed", std::to_string(refusal_log_.take_suppressed())}});
        return forbidden(fmt::format("this route needs {} token; '{}' is a {} token", needed,
                                     entry->name, role_name(entry->role)));
    }
    return Caller{*entry, entry->name};
}

http::Response Service::forbidden(std::string_view message) {
    counters_.auth_forbidden += 1;
    return http::json_error(403, message);
}

asio::awaitable<http::Response> Service::guarded(Access access, Member member,
                                                 http::Request& request) {
    auto caller = authenticate(request, access);
    if (auto* refusal = std::get_if<http::Response>(&caller)) co_return std::move(*refusal);
    // The name goes into events and log lines: bounded on every route, also where a token
    // names the worker instead, so a client learns at once rather than on its first lease.
    if (auto name = request.header("X-Netkeep-Worker"))
        if (auto problem = worker_name_problem(*name))
            co_return http::json_error(400, *problem, {{"header", "X-Netkeep-Worker"}});
    co_return co_await (this->*member)(request, std::get<Caller>(caller));
}

Status Service::add_routes(http::Router& router) {
    // Every route is timed under its pattern for the HTTP metrics.
    auto add = [&](std::string method, std::string_view pattern, http::Handler handler,
                   http::RouteOptions options = {}) {
        return router.add(method, pattern, instrument(pattern, method, std::move(handler)),
                          options);
    };
    // Each route's role (docs/api.md, docs/security.md).
    auto bind = [this](Access access, Member member) {
        return [this, access, member](http::Request& r) { return guarded(access, member, r); };
    };
    // Every /worker/next answer, whatever its status (204 and refusals too), carries the
    // server's clock: workers schedule jobs and budget leases in server time
    // (docs/api.md#server-time, docs/worker.md#clock-skew).
    auto server_time = [](http::Handler handler) -> http::Handler {
        return [handler = std::move(handler)](http::Request& r) {
            return with_server_time(handler, r);
        };
    };
    if (Status s =
            add("GET", "/worker/next", server_time(bind(Access::worker, &Service::worker_next)));
        !s)
        return s;
    // HEAD would otherwise run the GET handler: leases granted to nobody, body dropped.
    auto refuse_head = [](http::Request&) -> asio::awaitable<http::Response> {
        http::Response r =
            http::json_error(405, "HEAD would lease jobs without returning them; use GET");
        r.headers.set("Allow", "GET");
        co_return r;
    };
    if (Status s = add("HEAD", "/worker/next", server_time(refuse_head)); !s) return s;
    // The multipart framing around the file adds a little; the file itself is checked
    // against max_upload as it streams.
    if (Status s = add("POST", "/worker/complete", bind(Access::worker, &Service::worker_complete),
                       {.body_mode = http::BodyMode::streaming,
                        .max_body = options_.max_upload + 1024 * 1024});
        !s)
        return s;
    const http::RouteOptions no_body{.body_mode = http::BodyMode::buffered, .max_body = 0};
    if (Status s =
            add("POST", "/admin/reload", bind(Access::admin, &Service::admin_reload), no_body);
        !s)
        return s;
    if (Status s = add("GET", "/metrics", bind(Access::read, &Service::metrics)); !s) return s;
    // Open, like /healthz: probes (load balancers, systemd, monitoring) carry no token, and
    // the reasons name no secret, path or error text.
    if (Status s = add("GET", "/readyz", [this](http::Request& r) { return readyz(r); }); !s)
        return s;
    if (Status s = add("GET", "/api/v1/tasks", bind(Access::read, &Service::api_tasks)); !s)
        return s;
    if (Status s = add("POST", "/api/v1/tasks/{device}/{job}/run",
                       bind(Access::admin, &Service::api_task_run), no_body);
        !s)
        return s;
    if (Status s = add("GET", "/api/v1/events", bind(Access::read, &Service::api_events)); !s)
        return s;
    return add("GET", "/api/v1/devices/{device}/history",
               bind(Access::read, &Service::api_device_history));
}

// ---- the one path for state changes ----

asio::awaitable<Result<SeqRange>> Service::append_and_apply(std::vector<Event> events,
                                                            PreparedInventory* prepared) {
    auto result =
        co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result<SeqRange>)>(
            [this, &events](auto handler) {
                // The log calls back on its writer thread; hop back to the io thread, and keep
                // the io_context running until then (shutdown waits for durable answers).
                auto work = asio::make_work_guard(io_);
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                log_.append_async(events, [shared, work](Result<SeqRange> r) mutable {
                    auto ex = asio::get_associated_executor(*shared, work.get_executor());
                    asio::post(ex, [shared, r = std::move(r), work]() mutable {
                        (*shared)(std::move(r));
                    });
                });
            },
            asio::use_awaitable);
    if (!result) co_return result;
    count_events(counters_, events);
    // Events appended by others (not through this path) come first: apply in log order.
    if (Status s = catch_up(result->first - 1); !s) co_return s;
    for (std::size_t i = 0; i < events.size(); ++i) {
        EventRecord record{result->first + i, std::move(events[i])};
        Status s = prepared && std::holds_alternative<InventoryApplied>(record.event)
                       ? projection_.apply(record, *std::exchange(prepared, nullptr))
                       : projection_.apply(record);
        if (!s) {
            log_line(LogLevel::error, "projection.apply_failed", {{"error", s.to_string()}});
            co_return s;
        }
    }
    co_return result;
}

Status Service::catch_up(std::uint64_t through) { return replay(log_, through, projection_); }

std::string Service::worker_of(const http::Request& request) {
    if (auto w = request.header("X-Netkeep-Worker"); w && !w->empty()) return std::string(*w);
    return request.remote().address().to_string();
}

// ---- GET /worker/next ----

asio::awaitable<http::Response> Service::worker_next(http::Request& request, const Caller& caller) {
    std::vector<std::string> tags;
    std::int64_t seconds = 15;
    std::int64_t max = 15;
    for (const auto& [name, value] : request.query()) {
        if (name == "tag") {
            if (value.empty()) co_return bad_parameter(name, "tag must not be empty");
            if (caller.authenticated() && !caller.token->has_tag(value))
                co_return forbidden(fmt::format("tag '{}' is not among the tags of token '{}'",
                                                value, caller.name));
            tags.push_back(value);
        } else if (name == "seconds") {
            auto v = parse_bounded(value, 1, 3600);
            if (!v) co_return bad_parameter(name, "seconds must be an integer from 1 to 3600");
            seconds = *v;
        } else if (name == "max") {
            auto v = parse_bounded(value, 1, 1000);
            if (!v) co_return bad_parameter(name, "max must be an integer from 1 to 1000");
            max = *v;
        } else {
            co_return bad_parameter(
                name, fmt::format("unknown parameter '{}' (tag, seconds, max)", name));
        }
    }
    // A worker token sees only the devices that carry one of its tags.
    if (tags.empty() && caller.authenticated() && !caller.token->all_tags())
        tags = caller.token->tags;
    const std::string holder = caller.authenticated() ? caller.name : std::string();

    const unix_time now = options_.now();
    std::vector<task_id> ids = projection_.due(tags, now + seconds, std::size_t(max));
    if (ids.empty()) co_return http::empty_response(204);

    // Decide and render before the await: the state may change while the append is in
    // flight (another request, a reload), the answer must describe what was appended.
    // resolved_ was loaded from the same files as the projection's inventory, so the
    // projection's device and job indexes address its expanded JSON directly.
    std::vector<Event> grants;
    grants.reserve(ids.size());
    held_tasks held(projection_);
    std::string body = "[";
    for (task_id id : ids) {
        const TaskState& task = projection_.task(id);
        LeaseGranted grant = decide_grant(projection_, id, now, caller.name, holder);
        if (body.size() > 1) body += ',';
        body += fmt::format(
            R"({{"device":{},"job":{},"timestamp":{},"lease":{{"expires":{},"attempt":{}}}}})",
            resolved_.devices[task.device_index].json, resolved_.jobs[task.job_index].json,
            grant.timestamp, grant.deadline, grant.attempt);
        grants.push_back(std::move(grant));
        held.hold(id);
    }
    body += ']';

    auto appended = co_await append_and_apply(std::move(grants));
    if (!appended) {
        log_line(LogLevel::error, "lease.append_failed",
                 {{"error", appended.status().to_string()}});
        co_return storage_refusal("leases could not be recorded durably; nothing was handed out",
                                  appended.status(), std::nullopt);
    }
    co_return http::json_response(200, std::move(body));
}

// ---- lease expiry ----

void Service::run_background() {
    asio::co_spawn(io_, expiry_loop(), asio::detached);
    asio::co_spawn(io_, health_loop(), asio::detached);
}

void Service::stop() {
    stopping_ = true;
    expiry_timer_.cancel();
    health_timer_.cancel();
}

// ---- storage faults and readiness ----

http::Response Service::storage_refusal(std::string_view message, const Status& error,
                                        std::optional<SpoolOp> spool_op) {
    if (spool_op) {
        storage_counters_.count(*spool_op, error);
        spool_failure_ =
            ReadinessInput::SpoolFailure{error.code(), std::chrono::steady_clock::now()};
    }
    // 507 only when a full spool is the cause: the worker keeps its result and retries;
    // everything else (the log out of space or failed, an I/O error) is 503.
    const int code = spool_op && error.code() == Status::Code::no_space ? 507 : 503;
    http::Response r = http::json_error(code, message, {{"detail", error.message()}});
    r.headers.set("Retry-After", std::to_string(k_storage_retry_after));
    return r;
}

ReadinessInput Service::readiness_input() const {
    ReadinessInput in;
    in.now = std::chrono::steady_clock::now();
    in.log = log_.health();
    in.probe_at = probe_at_;
    in.probe = probe_;
    if (git_applied_seq_)
        in.git = ReadinessInput::Git{log_.last_seq(), git_applied_sample_, git_applied_changed_};
    if (git_health_) in.writer = git_health_();
    in.spool_failure = spool_failure_;
    return in;
}

asio::awaitable<http::Response> Service::readyz(http::Request&) {
    auto reasons = readiness_reasons(readiness_input(), options_.readiness);
    co_return http::json_response(reasons.empty() ? 200 : 503, readiness_json(reasons));
}

asio::awaitable<void> Service::health_loop() {
    constexpr auto k_spool_scan_every = std::chrono::seconds(30);
    auto next_scan = std::chrono::steady_clock::now();
    git_applied_changed_ = next_scan;  // a writer catching up after start is not stalled
    while (!stopping_) {
        try {
            const auto now = std::chrono::steady_clock::now();
            if (git_applied_seq_) {
                std::uint64_t applied = git_applied_seq_();
                if (applied != git_applied_sample_ || log_.last_seq() <= applied)
                    git_applied_changed_ = now;
                git_applied_sample_ = applied;
            }
            // An idle log is probed with a small synced meta write, so that readiness
            // says whether it can write now, not whether it could half an hour ago.
            LogHealth health = log_.health();
            const auto window = options_.readiness.log_write_window;
            if (health.state == LogHealth::State::ok &&
                (!health.last_write || now - *health.last_write > window) &&
                (!probe_at_ || now - *probe_at_ > window)) {
                probe_ = co_await asio::co_spawn(
                    blocking_,
                    [this]() -> asio::awaitable<Status> {
                        co_return log_.put_meta("readyz.probe", std::to_string(options_.now()));
                    },
                    asio::use_awaitable);
                probe_at_ = std::chrono::steady_clock::now();
                if (!probe_)
                    log_line(LogLevel::error, "log.probe_failed", {{"error", probe_.to_string()}});
            }
            if (now >= next_scan && spool_) {
                next_scan = now + k_spool_scan_every;
                // co_spawn needs a default-constructible result: an optional, not a Result.
                auto usage = co_await asio::co_spawn(
                    blocking_,
                    [this]() -> asio::awaitable<std::optional<SpoolUsage>> {
                        auto u = spool_->usage();
                        if (!u) co_return std::nullopt;
                        co_return *u;
                    },
                    asio::use_awaitable);
                if (usage) spool_usage_ = *usage;
            }
        } catch (const std::exception& e) {
            log_line(LogLevel::error, "health.loop_failed", {{"error", e.what()}});
        }
        health_timer_.expires_after(std::chrono::seconds(1));
        asio::error_code ec;
        co_await health_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> Service::expiry_loop() {
    while (!stopping_) {
        // An exception must not end lease expiry for the life of the process.
        try {
            co_await expire_due_leases();
        } catch (const std::exception& e) {
            log_line(LogLevel::error, "lease.expiry_failed", {{"error", e.what()}});
        }
        expiry_timer_.expires_after(options_.expiry_tick);
        asio::error_code ec;  // cancelled only by stop(), which the loop condition sees
        co_await expiry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> Service::expire_due_leases() {
    const unix_time now = options_.now();
    std::vector<task_id> ids = projection_.expired_leases(now, 1000);
    if (ids.empty()) co_return;
    std::vector<Event> events;
    held_tasks held(projection_);
    for (task_id id : ids) {
        for (Event& e : decide_expiry(projection_, id, now)) events.push_back(std::move(e));
        held.hold(id);
    }
    auto appended = co_await append_and_apply(std::move(events));
    if (!appended)
        log_line(LogLevel::error, "lease.expiry_append_failed",
                 {{"error", appended.status().to_string()}});
}

// ---- reload ----

asio::awaitable<Result<std::uint64_t>> Service::reload() {
    // One at a time: a second reload would decide against a projection the first is
    // about to change, and the last answer could describe an inventory not in force.
    if (reloading_) {
        log_line(LogLevel::warn, "inventory.reload_busy");
        co_return Status::unavailable("a reload is already in progress; try again");
    }
    reloading_ = true;
    struct done_guard {
        bool& flag;
        ~done_guard() { flag = false; }
    } done{reloading_};
    // Both files are checked before either is used: a reload takes effect whole or not at all.
    // Reading and parsing them takes about a second for 100,000 devices: that runs on the
    // blocking pool, so /worker/next and every other request are served meanwhile. So does
    // the structural form the projection applies, indexed and matched against the tasks
    // in force (prepare_inventory): on the io thread, the decision and the apply move
    // pointers (a reload stalled /worker/next for seconds when they parsed and hashed).
    Result<std::optional<Authenticator>> auth = Status::unavailable("not loaded");
    Result<Inventory> inventory = Status::unavailable("not loaded");
    std::optional<PreparedInventory> prepared;
    // A local, not a capture by value: GCC 12 destroys a coroutine lambda's by-value
    // captures once too often under co_spawn (a shared_ptr captured so lost a reference).
    auto current = projection_.inventory_index();
    co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<void> {
            auth = load_auth();
            if (auth) inventory = load_inventory();
            if (!inventory) co_return;
            auto structural =
                parse_inventory(inventory->recorded,
                                InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
            if (structural)
                prepared = prepare_inventory(std::move(current), std::move(*structural));
            co_return;
        },
        asio::use_awaitable);
    if (!auth) {
        log_line(LogLevel::error, "auth.refused", {{"error", auth.status().message()}});
        co_return auth.status();
    }
    if (!inventory) {
        log_line(LogLevel::error, "inventory.refused", {{"error", inventory.status().message()}});
        co_return inventory.status();
    }
    // Without a prepared form (its recorded files do not parse) the projection parses
    // the event itself and reports why.
    auto events = prepared ? decide_inventory(projection_, *prepared, options_.now())
                           : decide_inventory(projection_, *inventory, options_.now());
    if (events.empty()) {
        if (prepared) free_elsewhere(std::move(*prepared));
        use_auth(std::move(*auth));
        use_resolved(std::move(*inventory));  // secrets may have changed
        log_line(LogLevel::info, "inventory.unchanged");
        co_return std::uint64_t{0};
    }
    auto appended = co_await append_and_apply(std::move(events), prepared ? &*prepared : nullptr);
    if (prepared) free_elsewhere(std::move(*prepared));  // the replaced inventory, once applied
    if (!appended) {
        log_line(LogLevel::error, "inventory.append_failed",
                 {{"error", appended.status().to_string()}});
        co_return appended.status();
    }
    log_inventory_applied(appended->last, *inventory);
    use_auth(std::move(*auth));
    use_resolved(std::move(*inventory));
    co_return appended->last;
}

void Service::connection_refused(std::string_view reason, std::string_view client) {
    if (reason == "per_client")
        counters_.connections_refused_per_client += 1;
    else
        counters_.connections_refused_total += 1;
    // A flood from one address is thousands of refusals a second: a few lines, with the count.
    if (connection_log_.admit(options_.now()))
        log_line(LogLevel::warn, "http.connection_refused",
                 {{"client", std::string(client)},
                  {"reason", std::string(reason)},
                  {"suppressed", std::to_string(connection_log_.take_suppressed())}});
}

void Service::use_auth(std::optional<Authenticator> auth) {
    if (!auth) return;
    log_line(LogLevel::info, "auth.loaded",
             {{"tokens", std::to_string(auth->file().tokens.size())}});
    auth_ = std::move(auth);
}

asio::awaitable<http::Response> Service::admin_reload(http::Request&, const Caller&) {
    auto result = co_await reload();
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
