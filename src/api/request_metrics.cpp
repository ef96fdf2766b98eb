#include "api/request_metrics.hpp"

#include <chrono>
#include <exception>
#include <memory>

#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

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

http::Handler RequestMetrics::instrument(std::string_view pattern, std::string method,
                                         http::Handler handler) {
    HttpMetrics::Route* route = &http_.route(std::string(pattern), std::move(method));
    auto shared = std::make_shared<const http::Handler>(std::move(handler));
    return [route, shared](http::Request& r) { return run_timed(route, shared.get(), r); };
}

void RequestMetrics::count_unrouted(std::string_view method, int status) {
    std::string key(method.empty() ? "-" : method);
    auto it = unrouted_.find(key);
    if (it == unrouted_.end()) it = unrouted_.emplace(key, &http_.route("(unrouted)", key)).first;
    it->second->observe(status, 0.0);
}

void RequestMetrics::connection_refused(std::string_view reason, std::string_view client,
                                        unix_time now) {
    if (reason == "per_client")
        counters_.connections_refused_per_client += 1;
    else
        counters_.connections_refused_total += 1;
    // A flood from one address is thousands of refusals a second: a few lines, with the count.
    if (connection_log_.admit(now))
        log_line(LogLevel::warn, "http.connection_refused",
                 {{"client", std::string(client)},
                  {"reason", std::string(reason)},
                  {"suppressed", std::to_string(connection_log_.take_suppressed())}});
}

void RequestMetrics::count_git_applied(const std::vector<HistoryEntry>& entries) {
    for (const HistoryEntry& e : entries) {
        counters_.git_records += 1;
        if (!e.version.commit.empty()) counters_.git_commits += 1;
    }
}

}  // namespace netkeep::api
