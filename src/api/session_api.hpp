#pragma once
// The web UI's login routes (docs/api.md#web-ui-sessions):
//   GET  /ui/session  who the browser is: whether a login is needed, name, role, CSRF token
//   POST /ui/login    an operator token (read or admin) for a session cookie
//   POST /ui/logout   ends the session (needs the CSRF token)
// All three are open routes: they read the cookie themselves. Without --auth there is no
// login: every client may do everything (netkeepd then listens on loopback only).
//
// Threads: the io thread.

#include <asio/awaitable.hpp>

#include "api/gate.hpp"
#include "api/session.hpp"
#include "engine/engine.hpp"
#include "http/router.hpp"

namespace netkeep::api {

// A login form's body: small, read whole.
inline constexpr std::uint64_t k_max_login_body = 4096;

class SessionApi {
public:
    SessionApi(const engine::Engine& engine, Gate& gate, SessionStore& sessions)
        : engine_(engine), gate_(gate), sessions_(sessions) {}

    Status add_routes(http::Router& router);

private:
    asio::awaitable<http::Response> session(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> login(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> logout(http::Request& request, const Caller& caller);

    const engine::Engine& engine_;
    Gate& gate_;
    SessionStore& sessions_;
};

// The token in a login body: JSON {"token": "..."} (Content-Type application/json) or a
// form (token=...). nullopt when there is none. Pure: unit-tested.
std::optional<std::string> login_token(std::string_view content_type, std::string_view body);

}  // namespace netkeep::api
