#include "api/gate.hpp"

#include <memory>

#include <fmt/format.h>

#include "api/input_limits.hpp"
#include "http/cookie.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

// The worker's name without --auth: its X-Netkeep-Worker header, else its address.
std::string worker_of(const http::Request& request) {
    if (auto w = request.header("X-Netkeep-Worker"); w && !w->empty()) return std::string(*w);
    return request.remote().address().to_string();
}

}  // namespace

Status Gate::add(http::Router& router, std::string method, std::string_view pattern, Access access,
                 GuardedHandler handler, http::RouteOptions options,
                 const std::function<http::Handler(http::Handler)>& wrap) {
    // Owned by the route's closure, which the router keeps for the server's life; the
    // coroutine gets a plain pointer (see run_timed in request_metrics.cpp).
    auto shared = std::make_shared<const GuardedHandler>(std::move(handler));
    http::Handler guarded_handler = [this, access, shared](http::Request& r) {
        return guarded(access, shared.get(), r);
    };
    if (wrap) guarded_handler = wrap(std::move(guarded_handler));
    auto timed = metrics_.instrument(pattern, method, std::move(guarded_handler));
    return router.add(std::move(method), pattern, std::move(timed), options);
}

asio::awaitable<http::Response> Gate::guarded(Access access, const GuardedHandler* handler,
                                              http::Request& request) {
    // Open routes (/healthz, /readyz): probes carry no token, and the answers name no secret.
    // A named local, not a temporary: GCC 12 does not keep a temporary argument of a
    // co_await expression alive across the suspension.
    if (access == Access::open) {
        const Caller anonymous;
        co_return co_await (*handler)(request, anonymous);
    }
    auto caller = authenticate(request, access);
    if (auto* refusal = std::get_if<http::Response>(&caller)) co_return std::move(*refusal);
    // The name goes into events and log lines: bounded on every route, also where a token
    // names the worker instead, so a client learns at once rather than on its first lease.
    if (auto name = request.header("X-Netkeep-Worker"))
        if (auto problem = worker_name_problem(*name))
            co_return http::json_error(400, *problem, {{"header", "X-Netkeep-Worker"}});
    co_return co_await (*handler)(request, std::get<Caller>(caller));
}

std::variant<Caller, http::Response> Gate::authenticate(const http::Request& request,
                                                        Access access) {
    const auto& auth = engine_.auth();
    if (!auth) return Caller{std::nullopt, worker_of(request)};
    auto header = request.header("Authorization");
    if (!header && access != Access::worker)
        if (auto session = http::cookie_value(request.headers(), k_session_cookie))
            return authenticate_session(request, access, *session);
    std::optional<std::string_view> token = header ? bearer_token(*header) : std::nullopt;
    if (const TokenEntry* entry = token ? auth->find(*token) : nullptr)
        return allow(request, access, *entry);
    // The header's value is never logged: it may be a real token sent to the wrong server.
    return unauthenticated(request,
                           !header  ? "no Authorization header"
                           : !token ? "not a bearer token"
                                    : "unknown token",
                           !header  ? "a bearer token is required (Authorization: Bearer ...)"
                           : !token ? "the Authorization header must be 'Bearer <token>'"
                                    : "unknown or revoked token",
                           header && token ? R"(Bearer realm="netkeep", error="invalid_token")"
                                           : R"(Bearer realm="netkeep")");
}

std::variant<Caller, http::Response> Gate::authenticate_session(const http::Request& request,
                                                                Access access,
                                                                std::string_view id) {
    const Session* session = sessions_.find(id, engine_.now());
    // The session holds the token's hash: a token revoked since the login (and reloaded)
    // no longer matches, and its sessions end with it.
    const TokenEntry* entry = session ? engine_.auth()->find_hash(session->token_sha256) : nullptr;
    if (!entry) {
        if (session) sessions_.remove(id);
        return unauthenticated(request, session ? "session of a revoked token" : "unknown session",
                               "the session has ended; log in again", R"(Bearer realm="netkeep")");
    }
    // SameSite=Strict keeps other sites' pages from sending the cookie in modern browsers;
    // the CSRF token also covers older ones and same-site pages. GET and HEAD change nothing.
    const bool safe = request.method() == "GET" || request.method() == "HEAD";
    if (!safe) {
        auto presented = request.header(k_csrf_header);
        if (!presented || !csrf_matches(*session, *presented))
            return forbidden(fmt::format(
                "a request authenticated by the session cookie must carry the session's {} header",
                k_csrf_header));
    }
    return allow(request, access, *entry);
}

std::variant<Caller, http::Response> Gate::allow(const http::Request& request, Access access,
                                                 const TokenEntry& entry) {
    if (!role_allows(entry.role, access)) {
        const char* needed = access == Access::worker  ? "a worker"
                             : access == Access::admin ? "an admin"
                                                       : "a read or admin";
        if (refusal_log_.admit(engine_.now()))
            log_line(LogLevel::warn, "auth.forbidden",
                     {{"token", entry.name},
                      {"role", std::string(role_name(entry.role))},
                      {"path", std::string(request.path())},
                      {"suppressed", std::to_string(refusal_log_.take_suppressed())}});
        return forbidden(fmt::format("this route needs {} token; '{}' is a {} token", needed,
                                     entry.name, role_name(entry.role)));
    }
    return Caller{entry, entry.name};
}

http::Response Gate::unauthenticated(const http::Request& request, std::string_view reason,
                                     std::string_view message, std::string_view challenge) {
    metrics_.counters().auth_unauthenticated += 1;
    // A flood of refused requests writes a few lines a second, not one each.
    if (refusal_log_.admit(engine_.now()))
        log_line(LogLevel::warn, "auth.unauthenticated",
                 {{"client", request.remote().address().to_string()},
                  {"path", std::string(request.path())},
                  {"reason", std::string(reason)},
                  {"suppressed", std::to_string(refusal_log_.take_suppressed())}});
    http::Response r = http::json_error(401, message);
    r.headers.set("WWW-Authenticate", std::string(challenge));
    return r;
}

http::Response Gate::forbidden(std::string_view message) {
    metrics_.counters().auth_forbidden += 1;
    return http::json_error(403, message);
}

}  // namespace netkeep::api
