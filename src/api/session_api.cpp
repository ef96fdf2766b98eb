// The web UI's login routes (api/session_api.hpp).

#include "api/session_api.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "http/cookie.hpp"
#include "netkeep/json.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

// The body of GET /ui/session and of a successful login.
std::string session_json(bool auth_required, const TokenEntry* entry, std::string_view csrf) {
    // Without --auth every client may do everything: the page shows the admin's buttons.
    if (!auth_required)
        return R"({"auth_required":false,"authenticated":false,"name":null,"role":"admin","csrf":null})";
    if (!entry)
        return R"({"auth_required":true,"authenticated":false,"name":null,"role":null,"csrf":null})";
    return fmt::format(
        R"({{"auth_required":true,"authenticated":true,"name":{},"role":"{}","csrf":{}}})",
        json_quote(entry->name), role_name(entry->role), json_quote(csrf));
}

http::Response no_login() {
    return http::json_error(404, "no login: netkeepd runs without --auth");
}

// A login must come from netkeepd's own page: a browser sends Origin on every POST, and a
// page of another site that posts a token (login CSRF) names itself there.
bool same_origin(const http::Request& request) {
    auto origin = request.header("Origin");
    if (!origin) return true;  // not a browser's cross-site request
    auto host = request.header("Host");
    if (!host) return false;
    const std::string_view scheme = request.tls() ? "https://" : "http://";
    return *origin == fmt::format("{}{}", scheme, *host);
}

}  // namespace

std::optional<std::string> login_token(std::string_view content_type, std::string_view body) {
    if (content_type.starts_with("application/json")) {
        simdjson::padded_string padded(body);
        simdjson::ondemand::parser parser;
        simdjson::ondemand::document doc;
        std::string_view token;
        if (parser.iterate(padded).get(doc) || doc["token"].get_string().get(token))
            return std::nullopt;
        return std::string(token);
    }
    auto params = http::parse_query(body);
    if (!params) return std::nullopt;
    for (const auto& [name, value] : *params)
        if (name == "token") return value;
    return std::nullopt;
}

Status SessionApi::add_routes(http::Router& router) {
    auto bind = [this](auto member) -> GuardedHandler {
        return [this, member](http::Request& r, const Caller& c) { return (this->*member)(r, c); };
    };
    const http::RouteOptions login_body{.body_mode = http::BodyMode::buffered,
                                        .max_body = k_max_login_body};
    const http::RouteOptions no_body{.body_mode = http::BodyMode::buffered, .max_body = 0};
    Status s = gate_.add(router, "GET", "/ui/session", Access::open, bind(&SessionApi::session));
    if (s)
        s = gate_.add(router, "POST", "/ui/login", Access::open, bind(&SessionApi::login),
                      login_body);
    if (s)
        s = gate_.add(router, "POST", "/ui/logout", Access::open, bind(&SessionApi::logout),
                      no_body);
    return s;
}

asio::awaitable<http::Response> SessionApi::session(http::Request& request, const Caller&) {
    const auto& auth = engine_.auth();
    const TokenEntry* entry = nullptr;
    const Session* found = nullptr;
    if (auth)
        if (auto id = http::cookie_value(request.headers(), k_session_cookie))
            if ((found = sessions_.find(*id, engine_.now()))) {
                entry = auth->find_hash(found->token_sha256);
                if (!entry) sessions_.remove(*id);  // its token was revoked
            }
    http::Response r =
        http::json_response(200, session_json(auth.has_value(), entry, entry ? found->csrf : ""));
    r.headers.set("Cache-Control", "no-store");
    co_return r;
}

asio::awaitable<http::Response> SessionApi::login(http::Request& request, const Caller&) {
    const auto& auth = engine_.auth();
    if (!auth) co_return no_login();
    if (!same_origin(request))
        co_return gate_.forbidden("a login must come from netkeepd's own page (Origin differs)");
    const std::string_view content_type = request.header("Content-Type").value_or("");
    auto token = login_token(content_type, request.body().text());
    if (!token || token->empty())
        co_return http::json_error(
            400, "the body must hold the token: {\"token\": \"...\"} or token=...");
    const TokenEntry* entry = auth->find(*token);
    if (!entry)
        co_return gate_.unauthenticated(request, "login with an unknown token",
                                        "unknown or revoked token");
    if (entry->role == Role::worker)
        co_return gate_.forbidden(fmt::format(
            "'{}' is a worker token; the web UI takes a read or admin token", entry->name));
    auto issued = sessions_.create(*entry, engine_.now());
    if (!issued) co_return http::error_response(issued.status());
    log_line(LogLevel::info, "ui.login",
             {{"token", entry->name}, {"client", request.remote().address().to_string()}});
    http::Response r = http::json_response(200, session_json(true, entry, issued->csrf));
    r.headers.set("Set-Cookie", http::set_cookie(k_session_cookie, issued->id,
                                                 {.max_age = long(sessions_.limits().lifetime),
                                                  .secure = request.tls().has_value()}));
    r.headers.set("Cache-Control", "no-store");
    co_return r;
}

asio::awaitable<http::Response> SessionApi::logout(http::Request& request, const Caller&) {
    if (!engine_.auth()) co_return no_login();
    auto id = http::cookie_value(request.headers(), k_session_cookie);
    const Session* session = id ? sessions_.find(*id, engine_.now()) : nullptr;
    if (session) {
        auto presented = request.header(k_csrf_header);
        if (!presented || !csrf_matches(*session, *presented))
            co_return gate_.forbidden(
                fmt::format("logging out needs the session's {} header", k_csrf_header));
        sessions_.remove(*id);
    }
    // Logged out either way: a browser whose session already ended gets its cookie cleared.
    http::Response r = http::empty_response(204);
    r.headers.set("Set-Cookie",
                  http::set_cookie(k_session_cookie, "",
                                   {.max_age = 0, .secure = request.tls().has_value()}));
    co_return r;
}

}  // namespace netkeep::api
