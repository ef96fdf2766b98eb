#pragma once
// Cookies (RFC 6265): reading one from a request's Cookie fields and writing Set-Cookie.
// Pure functions. netkeepd sets exactly one cookie, the web UI's session (api/session.hpp).

#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"

namespace netkeep::http {

// The value of cookie `name` in the request's Cookie fields ("a=1; b=2"), or nullopt.
// When the name repeats, the first wins (browsers send the most specific path first).
// At most k_max_cookie_pairs pairs are looked at: a hostile header costs bounded work.
inline constexpr std::size_t k_max_cookie_pairs = 64;
std::optional<std::string_view> cookie_value(const Headers& headers, std::string_view name);

struct CookieOptions {
    long max_age = -1;    // seconds; -1: a session cookie (no Max-Age), 0: delete it now
    bool secure = false;  // sent only over TLS
};

// "name=value; Path=/; Max-Age=N; HttpOnly; SameSite=Strict[; Secure]". HttpOnly and
// SameSite=Strict always: no script reads the cookie and no other site's page sends it.
// `value` must be cookie-octets (the caller's random hex).
std::string set_cookie(std::string_view name, std::string_view value, const CookieOptions& options);

}  // namespace netkeep::http
