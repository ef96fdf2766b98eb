#pragma once
// The server's application core: the projection, the resolved inventory, and the
// decisions that turn requests and time into events (leases, expiries, reloads).
//
// Every state change follows one path: decide events from the projection, reserve the
// tasks they concern, append the events durably, apply them to the projection, answer.
// Nothing is answered before its events are durable.
//
// Threads: everything here runs on the io_context thread that runs the HTTP server; the
// projection has no other owner. Log appends complete on the log's writer thread and
// are posted back here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include "api/access.hpp"
#include "api/history.hpp"
#include "api/metrics.hpp"
#include "api/readiness.hpp"
#include "http/router.hpp"
#include "netkeep/auth.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/projection.hpp"
#include "netkeep/spool.hpp"

namespace netkeep::api {

struct ServiceOptions {
    std::string inventory_dir;
    // The token file (netkeepd --auth); empty: no tokens, every client may do everything
    // (netkeepd then listens on loopback only). Re-read with the inventory on reload.
    std::string auth_file;
    // Where uploaded completions are spooled (<data-dir>/spool), and the largest one taken.
    std::string spool_dir;
    std::uint64_t max_upload = std::uint64_t(1) << 30;
    // How often leases are checked against their deadlines (deadlines are whole seconds).
    std::chrono::milliseconds expiry_tick{std::chrono::milliseconds(250)};
    // The clock; tests may not replace it (integration tests use the real binary), but
    // keeping it injectable keeps the time-dependent code in one place.
    std::function<unix_time()> now;
    // GET /readyz's thresholds.
    ReadinessLimits readiness = {};
};

class Service {
public:
    Service(asio::io_context& io, EventLog& log, ServiceOptions options);

    // Start-up, before the io_context runs: replays the log into the projection, loads
    // the inventory and appends it if it changed. A bad inventory is an error here.
    Status start();

    // Adds /worker/next, /worker/complete, /admin/reload, /metrics and the operator API
    // (/api/v1/...), each timed for the HTTP metrics.
    Status add_routes(http::Router& router);

    // `handler` timed into netkeep_http_request_duration_seconds under (pattern, method).
    // For routes registered outside the service (/healthz); call before the server runs.
    http::Handler instrument(std::string_view pattern, std::string method, http::Handler handler);

    // An answer the HTTP server gave without a handler (http::ServerOptions::on_unrouted):
    // counted under route "(unrouted)". On the io thread.
    void count_unrouted(std::string_view method, int status);

    // The git writer's progress for the git-lag metrics (any thread may own the value;
    // the function is called on the io thread). Unset: no git metrics (--no-git-writer).
    void set_git_progress(std::function<std::uint64_t()> applied_seq) {
        git_applied_seq_ = std::move(applied_seq);
    }
    // The git writer's health (GitWriter::health(): any thread, cheap) for the writer
    // metrics (errors, quarantine, repository state). Unset: none shown.
    void set_git_health(std::function<GitWriterHealth()> health) {
        git_health_ = std::move(health);
    }

    // Records the git writer applied (its on_applied observer, resolved and posted to the
    // io thread): new versions for the history index, commits for the metrics.
    void add_history(std::vector<HistoryEntry> entries);

    // A connection the HTTP server closed at accept (http::ServerOptions::on_refused):
    // counted for /metrics and logged, a few lines a second at most. On the io thread.
    void connection_refused(std::string_view reason, std::string_view client);

    // Starts the lease-expiry loop and the health loop (readiness samples, log probe,
    // spool scan) on the io_context.
    void run_background();
    void stop();

    // Re-reads the token file (with --auth) and the inventory (on the blocking pool, not the
    // io thread); refuses the reload if either is bad, keeping the last good ones of both. Returns
    // the sequence number of the InventoryApplied appended, or 0 when the inventory did not change.
    asio::awaitable<Result<std::uint64_t>> reload();

    const Projection& projection() const { return projection_; }

private:
    using Member = asio::awaitable<http::Response> (Service::*)(http::Request&, const Caller&);

    // Every route but /healthz runs through here: the caller is authenticated and its
    // role checked (401/403 before the handler, so no byte of a refused upload is read).
    asio::awaitable<http::Response> guarded(Access access, Member member, http::Request& request);
    // The caller of `request`, or the 401/403 answer.
    std::variant<Caller, http::Response> authenticate(const http::Request& request, Access access);
    http::Response forbidden(std::string_view message);

    asio::awaitable<http::Response> worker_next(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> admin_reload(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> worker_complete(http::Request& request, const Caller& caller);
    // Whether `caller` may post this completion of (device, job, job_timestamp): the
    // 403/404/409 answer if not. Asked before the file is read (so nothing of a refused
    // upload is spooled) and again after, as the lease may have changed meanwhile.
    // `decision` is decide_completion(projection_, completion).
    std::optional<http::Response> refuse_completion(const CompletionRecorded& completion,
                                                    const CompletionDecision& decision,
                                                    const Caller& caller);
    // The operator API and /metrics (operator_api.cpp).
    asio::awaitable<http::Response> api_tasks(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> api_task_run(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> api_events(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> api_device_history(http::Request& request,
                                                       const Caller& caller);
    asio::awaitable<http::Response> metrics(http::Request& request, const Caller& caller);
    // GET /readyz: open like /healthz (no token); see api/readiness.hpp.
    asio::awaitable<http::Response> readyz(http::Request& request);
    // Once a second: samples the git writer's progress, probes an idle log, scans the
    // spool every 30 s.
    asio::awaitable<void> health_loop();
    ReadinessInput readiness_input() const;
    // The answer for an upload or lease that storage refused: 507 for a full spool, 503
    // otherwise, with Retry-After; counted and remembered for readiness.
    http::Response storage_refusal(std::string_view message, const Status& error,
                                   std::optional<SpoolOp> spool_op);
    void load_history();
    asio::awaitable<void> expiry_loop();
    asio::awaitable<void> expire_due_leases();

    // Appends durably, then applies to the projection (catching up on events others
    // appended meanwhile). Runs on the io thread before and after the await.
    // `prepared`: the structural form of the InventoryApplied among `events`, parsed and
    // prepared by the caller off the io thread (Projection::apply(record, prepared));
    // without it the projection parses the event itself, here.
    asio::awaitable<Result<SeqRange>> append_and_apply(std::vector<Event> events,
                                                       PreparedInventory* prepared = nullptr);
    Status catch_up(std::uint64_t through);
    // The worker's name: its X-Netkeep-Worker header, else its address.
    static std::string worker_of(const http::Request& request);

    Result<Inventory> load_inventory() const;
    // The token file, parsed; nullopt without --auth.
    Result<std::optional<Authenticator>> load_auth() const;
    void use_auth(std::optional<Authenticator> auth);
    void use_resolved(Inventory inventory);
    // Freeing an inventory of 100,000 devices takes a while: it happens on the blocking pool.
    template <class T>
    void free_elsewhere(T value);

    asio::io_context& io_;
    EventLog& log_;
    ServiceOptions options_;
    Projection projection_;

    // The resolved inventory in force: its devices' and jobs' JSON as workers get it.
    // Always loaded from the files the projection last applied, so both list devices
    // and jobs in the same order.
    Inventory resolved_;
    // The tokens in force; nullopt without --auth.
    std::optional<Authenticator> auth_;
    LogBudget refusal_log_;     // auth.unauthenticated / auth.forbidden lines
    LogBudget connection_log_;  // http.connection_refused lines

    std::optional<Spool> spool_;  // opened by start()
    // Blocking file work (fsync of uploads) runs here, not on the io thread.
    // Several threads: concurrent uploads then sync in parallel and the filesystem
    // journal commits their syncs together, as the log does for events.
    asio::thread_pool blocking_{8};

    // Metrics, and the history index: io thread only.
    Counters counters_;
    HttpMetrics http_metrics_;
    std::unordered_map<std::string, HttpMetrics::Route*> unrouted_;  // by method
    HistoryIndex history_;
    unix_time started_at_ = 0;
    std::function<std::uint64_t()> git_applied_seq_;
    // Storage faults and readiness (io thread).
    StorageCounters storage_counters_;
    std::optional<SpoolUsage> spool_usage_;
    std::optional<ReadinessInput::SpoolFailure> spool_failure_;
    std::uint64_t git_applied_sample_ = 0;
    std::chrono::steady_clock::time_point git_applied_changed_{};
    std::optional<std::chrono::steady_clock::time_point> probe_at_;
    Status probe_;
    asio::steady_timer health_timer_;
    std::function<GitWriterHealth()> git_health_;

    asio::steady_timer expiry_timer_;
    bool stopping_ = false;
    bool reloading_ = false;
};

}  // namespace netkeep::api
