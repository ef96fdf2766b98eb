#pragma once
// What the front ends count for /metrics: every route's answers and latency, requests
// answered without a route, refused connections and requests, and what the git writer
// reported applied. (The engine counts the events; the health monitor counts storage faults.)
//
// Threads: the io thread only, like the handlers that update it.

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/access.hpp"
#include "api/history.hpp"
#include "api/metrics.hpp"
#include "http/router.hpp"
#include "netkeep/log_budget.hpp"

namespace netkeep::api {

class RequestMetrics {
public:
    // `handler` timed into netkeep_http_request_duration_seconds under (pattern, method).
    // Call before the server runs.
    http::Handler instrument(std::string_view pattern, std::string method, http::Handler handler);

    // An answer the HTTP server gave without a handler (http::ServerOptions::on_unrouted):
    // counted under route "(unrouted)".
    void count_unrouted(std::string_view method, int status);

    // A connection the HTTP server closed at accept (http::ServerOptions::on_refused):
    // counted, and logged a few lines a second at most.
    void connection_refused(std::string_view reason, std::string_view client, unix_time now);

    // Records the git writer applied: commits and applied completions.
    void count_git_applied(const std::vector<HistoryEntry>& entries);

    Counters& counters() { return counters_; }
    const Counters& counters() const { return counters_; }
    const HttpMetrics& http() const { return http_; }

private:
    Counters counters_;
    HttpMetrics http_;
    std::unordered_map<std::string, HttpMetrics::Route*> unrouted_;  // by method
    LogBudget connection_log_;  // http.connection_refused lines
};

}  // namespace netkeep::api
