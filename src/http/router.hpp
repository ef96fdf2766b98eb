#pragma once
// Maps (method, path) to a handler. Pure: matching is testable without a server.
//
// Patterns are absolute paths whose segments are literals or captures:
//   "/healthz", "/api/v1/tasks/{device}/{job}/run"
// A capture matches exactly one non-empty path segment; the request's path is split on
// '/' before percent-decoding, so "a%2Fb" is one segment whose value is "a/b". When
// several routes match, the one with a literal in the leftmost differing segment wins
// ("/tasks/summary" beats "/tasks/{device}"). HEAD is served by the GET route when there
// is no HEAD route (the server then sends no body).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "http/request.hpp"
#include "http/response.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

// Runs on the thread that runs the server's io_context. Request outlives the coroutine.
using Handler = std::function<asio::awaitable<Response>(Request&)>;

enum class BodyMode {
    buffered,   // the server collects the body (up to max_body), then runs the handler
    streaming,  // the handler runs right after the head and pulls the body with body().read()
};

struct RouteOptions {
    BodyMode body_mode = BodyMode::buffered;
    // Larger bodies are answered with 413: before the handler runs when Content-Length
    // says so, or as a too_large read error when a chunked body grows past it.
    std::uint64_t max_body = 1024 * 1024;
};

struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
    RouteOptions options;

    struct Segment {
        std::string text;  // literal text, or the capture's name
        bool capture = false;
    };
    std::vector<Segment> segments;
};

class Router {
public:
    // invalid_argument for a malformed pattern, conflict when (method, pattern shape) is
    // already taken.
    Status add(std::string method, std::string_view pattern, Handler handler,
               RouteOptions options = {});

    struct Match {
        enum class Kind { found, not_found, method_not_allowed };
        Kind kind = Kind::not_found;
        const Route* route = nullptr;  // found
        Captures captures;             // found
        std::string allow;             // method_not_allowed: "GET, HEAD, POST"
    };

    // `raw_path` is the path as sent (still percent-encoded), without the query.
    Match match(std::string_view method, std::string_view raw_path) const;

    const std::vector<Route>& routes() const { return routes_; }

private:
    std::vector<Route> routes_;
};

}  // namespace netkeep::http
