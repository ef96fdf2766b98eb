#pragma once
// The door every route goes through: each route is registered here with its role
// (api/access.hpp), timed for /metrics, and, unless open, answered 401/403 before its
// handler runs when the caller's token does not allow it (so no byte of a refused upload
// is read). Refusals are counted and logged a few lines a second at most.
//
// A caller presents its token in "Authorization: Bearer", or (the web UI) a session cookie
// (api/session.hpp); a state-changing request that a cookie authenticates must also carry
// the session's CSRF token. Worker routes take bearer tokens only.
//
// Threads: the io thread.

#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include <asio/awaitable.hpp>

#include "api/access.hpp"
#include "api/request_metrics.hpp"
#include "api/session.hpp"
#include "engine/engine.hpp"
#include "http/router.hpp"
#include "netkeep/log_budget.hpp"

namespace netkeep::api {

// A route's handler, given the authenticated caller.
using GuardedHandler =
    std::function<asio::awaitable<http::Response>(http::Request&, const Caller&)>;

class Gate {
public:
    Gate(const engine::Engine& engine, RequestMetrics& metrics, SessionStore& sessions)
        : engine_(engine), metrics_(metrics), sessions_(sessions) {}

    // Registers `handler` for (method, pattern) behind `access`. `wrap`, if given, wraps the
    // guarded handler (so what it adds applies to refusals too); the whole is timed.
    // Fails only for a malformed or duplicate pattern.
    Status add(http::Router& router, std::string method, std::string_view pattern, Access access,
               GuardedHandler handler, http::RouteOptions options = {},
               const std::function<http::Handler(http::Handler)>& wrap = {});

    // 403 with `message`, counted as a refusal: for the checks a handler makes itself
    // (a worker token's tags, the lease a completion answers).
    http::Response forbidden(std::string_view message);
    // 401 with `message` and the WWW-Authenticate `challenge`, counted and logged (with
    // `reason`, never the credential) as a refusal: also for the login form's bad token.
    http::Response unauthenticated(const http::Request& request, std::string_view reason,
                                   std::string_view message,
                                   std::string_view challenge = R"(Bearer realm="netkeep")");

private:
    // The caller of `request`, or the 401/403 answer.
    std::variant<Caller, http::Response> authenticate(const http::Request& request, Access access);
    std::variant<Caller, http::Response> authenticate_session(const http::Request& request,
                                                              Access access, std::string_view id);
    std::variant<Caller, http::Response> allow(const http::Request& request, Access access,
                                               const TokenEntry& entry);
    asio::awaitable<http::Response> guarded(Access access, const GuardedHandler* handler,
                                            http::Request& request);

    const engine::Engine& engine_;
    RequestMetrics& metrics_;
    SessionStore& sessions_;
    LogBudget refusal_log_;  // auth.unauthenticated / auth.forbidden lines
};

}  // namespace netkeep::api
