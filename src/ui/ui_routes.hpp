#pragma once
// The web UI's routes: GET / and /ui (redirects), the pages under /ui/ (all one HTML
// shell; its script picks the page from location.pathname) and the embedded files under
// /ui/assets/. They are open: the files hold no secret, and every datum the pages show
// comes from /api/v1 and /ui/session, which check the caller.
//
// Every answer carries a strict Content-Security-Policy (no inline script or style),
// nosniff, no-referrer, a strong ETag (If-None-Match -> 304), Cache-Control: no-cache
// (revalidate each use: a new build is seen at once, an unchanged file costs a 304), and
// the gzip variant when the request accepts it (Vary: Accept-Encoding).
//
// Threads: the io thread; the handlers only read the immutable asset table.

#include <optional>
#include <string_view>

#include "api/gate.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "netkeep/status.hpp"
#include "ui/ui_assets.hpp"

namespace netkeep::ui {

// The pages, each served as the shell index.html; {device} is a device's name.
inline constexpr std::string_view k_page_patterns[] = {
    "/ui/", "/ui/search", "/ui/audit", "/ui/status", "/ui/login", "/ui/devices/{device}",
};

inline constexpr std::string_view k_content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

// Whether an If-None-Match value names `etag` or is "*". Weak comparison (a W/ prefix is
// ignored), as RFC 9110 13.1.2 asks for If-None-Match.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// CSP, nosniff, no-referrer, no framing: on every UI answer, also redirects and 404s.
void add_security_headers(http::Headers& headers);

// The answer to a GET of `asset` (200 or 304), its build-time gzip variant when the client
// accepts gzip (http::accepts_gzip) and the file has one. The server's own compression
// (http/compress.hpp) leaves an answer with Content-Encoding alone.
http::Response serve_asset(const Asset& asset, bool client_accepts_gzip,
                           std::optional<std::string_view> if_none_match);

// The asset called `name`, or null.
const Asset* find_asset(std::string_view name);

class UiRoutes {
public:
    explicit UiRoutes(api::Gate& gate) : gate_(gate) {}

    // Registers the routes above, open. Fails for a clash with another route, or when
    // the build embedded no index.html.
    Status add_routes(http::Router& router);

private:
    api::Gate& gate_;
};

}  // namespace netkeep::ui
