#include "ui/ui_routes.hpp"

#include <algorithm>
#include <string>

#include "http/compress.hpp"

namespace netkeep::ui {

namespace {

http::Response with_security_headers(http::Response response) {
    add_security_headers(response.headers);
    return response;
}

http::Response redirect_to_ui() {
    http::Response r = http::empty_response(302);
    r.headers.set("Location", "/ui/");
    r.headers.set("Cache-Control", "no-cache");
    return with_security_headers(std::move(r));
}

}  // namespace

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    std::string_view rest = if_none_match;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        auto tag = http::trim_ows(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (tag == "*") return true;
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        if (tag == etag) return true;
    }
    return false;
}

void add_security_headers(http::Headers& headers) {
    headers.set("Content-Security-Policy", std::string(k_content_security_policy));
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("Referrer-Policy", "no-referrer");
    headers.set("X-Frame-Options", "DENY");
}

http::Response serve_asset(const Asset& asset, bool client_accepts_gzip,
                           std::optional<std::string_view> if_none_match) {
    const bool gzip = !asset.gzip.empty() && client_accepts_gzip;
    const std::string_view etag = gzip ? asset.gzip_etag : asset.etag;
    http::Response r;
    // A 304 answers for either representation: the client holds the one it names.
    if (if_none_match && (etag_matches(*if_none_match, asset.etag) ||
                          (!asset.gzip.empty() && etag_matches(*if_none_match, asset.gzip_etag)))) {
        r.status = 304;
    } else {
        r.status = 200;
        r.content_type = std::string(asset.content_type);
        r.body = std::string(gzip ? asset.gzip : asset.body);
        if (gzip) r.headers.set("Content-Encoding", "gzip");
    }
    r.headers.set("ETag", std::string(etag));
    r.headers.set("Cache-Control", "no-cache");
    if (!asset.gzip.empty()) r.headers.set("Vary", "Accept-Encoding");
    return with_security_headers(std::move(r));
}

const Asset* find_asset(std::string_view name) {
    auto table = assets();
    auto it = std::lower_bound(table.begin(), table.end(), name,
                               [](const Asset& a, std::string_view n) { return a.name < n; });
    return it != table.end() && it->name == name ? &*it : nullptr;
}

Status UiRoutes::add_routes(http::Router& router) {
    const Asset* shell = find_asset("index.html");
    if (shell == nullptr) return Status::invalid_argument("the UI was built without index.html");
    auto redirect = [](http::Request&, const api::Caller&) -> asio::awaitable<http::Response> {
        co_return redirect_to_ui();
    };
    // The shell is served for every page. Looked up per request (a binary search over a
    // few names) so the coroutine lambda captures nothing.
    auto page = [](http::Request& request, const api::Caller&) -> asio::awaitable<http::Response> {
        co_return serve_asset(*find_asset("index.html"), http::accepts_gzip(request.headers()),
                              request.header("If-None-Match"));
    };
    auto file = [](http::Request& request, const api::Caller&) -> asio::awaitable<http::Response> {
        const Asset* asset = find_asset(request.capture("file"));
        if (asset == nullptr) {
            co_return with_security_headers(http::json_error(
                404, "no such UI asset", {{"asset", std::string(request.capture("file"))}}));
        }
        co_return serve_asset(*asset, http::accepts_gzip(request.headers()),
                              request.header("If-None-Match"));
    };
    Status added = gate_.add(router, "GET", "/", api::Access::open, redirect);
    if (added) added = gate_.add(router, "GET", "/ui", api::Access::open, redirect);
    for (std::string_view pattern : k_page_patterns) {
        if (added) added = gate_.add(router, "GET", pattern, api::Access::open, page);
    }
    if (added) added = gate_.add(router, "GET", "/ui/assets/{file}", api::Access::open, file);
    return added;
}

}  // namespace netkeep::ui
