#pragma once
// The operators' routes: the read API (/api/v1/tasks, /api/v1/events, /api/v1/status,
// /api/v1/quarantine, /api/v1/devices/<device>/history), run-now (POST
// /api/v1/tasks/<device>/<job>/run), POST /admin/reload, GET /metrics and GET /readyz. Route
// handlers only: state changes go through the engine; pure parts (query parsing, JSON, the
// exposition format) are in operator_query.cpp and metrics.cpp.
//
// Threads: the io thread. Reading the log (/api/v1/events, /api/v1/quarantine, the git
// lag of /metrics and /api/v1/status) runs on the blocking pool.

#include <functional>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "api/gate.hpp"
#include "api/history.hpp"
#include "api/operator_query.hpp"
#include "api/readiness_monitor.hpp"
#include "api/request_metrics.hpp"
#include "api/workers_seen.hpp"
#include "engine/engine.hpp"
#include "http/router.hpp"
#include "netkeep/event_log.hpp"

namespace netkeep::api {

class OperatorApi {
public:
    OperatorApi(engine::Engine& engine, Gate& gate, const RequestMetrics& metrics,
                const ReadinessMonitor& readiness, const HistoryIndex& history, const EventLog& log,
                const WorkersSeen& workers, asio::thread_pool& blocking)
        : engine_(engine),
          gate_(gate),
          metrics_(metrics),
          readiness_(readiness),
          history_(history),
          log_(log),
          workers_(workers),
          blocking_(blocking) {}

    Status add_routes(http::Router& router);
    // More families for GET /metrics, appended after netkeepd's own (the syslog
    // listener's, issue 14): each returns complete text-format lines. On the io thread.
    void add_metrics_text(std::function<std::string()> provider) {
        metrics_text_.push_back(std::move(provider));
    }

private:
    asio::awaitable<http::Response> tasks(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> task_run(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> events(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> status(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> quarantine(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> device_history(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> reload(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> metrics(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> readyz(http::Request& request, const Caller& caller);
    // The workers seen, with the leases each holds now, as JSON (an array).
    std::string workers_json() const;
    // The git writer's progress for /metrics and /api/v1/status: the age of its first event not
    // applied is one read of the log, off the io thread.
    asio::awaitable<std::optional<GitProgress>> git_progress(unix_time now);

    engine::Engine& engine_;
    Gate& gate_;
    const RequestMetrics& metrics_;
    const ReadinessMonitor& readiness_;
    const HistoryIndex& history_;
    const EventLog& log_;
    const WorkersSeen& workers_;
    asio::thread_pool& blocking_;
    // The order of the inventory's names for /api/v1/tasks, rebuilt after a reload.
    std::shared_ptr<const NameRanks> name_ranks_;
    std::vector<std::function<std::string()>> metrics_text_;
};

}  // namespace netkeep::api
