#include "http/router.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace netkeep::http {

namespace {

// "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}.
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    for (;;) {
        auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

bool valid_capture_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}

bool same_shape(const Route& a, const std::vector<Route::Segment>& b) {
    if (a.segments.size() != b.size()) return false;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (a.segments[i].capture != b[i].capture) return false;
        if (!b[i].capture && a.segments[i].text != b[i].text) return false;
    }
    return true;
}

// Literal segments of `route` that matched, leftmost first, or nullopt when it does not
// match. Fills `captures`.
std::optional<std::vector<bool>> match_route(const Route& route,
                                             const std::vector<std::string>& segments,
                                             Captures* captures) {
    if (route.segments.size() != segments.size()) return std::nullopt;
    std::vector<bool> literal(segments.size());
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const auto& seg = route.segments[i];
        if (seg.capture) {
            if (segments[i].empty()) return std::nullopt;
            if (captures != nullptr) captures->emplace_back(seg.text, segments[i]);
        } else {
            if (seg.text != segments[i]) return std::nullopt;
            literal[i] = true;
        }
    }
    return literal;
}

}  // namespace

Status Router::add(std::string method, std::string_view pattern, Handler handler,
                   RouteOptions options) {
    if (method.empty()) return Status::invalid_argument("route method is empty");
    if (pattern.empty() || pattern.front() != '/') {
        return Status::invalid_argument(
            fmt::format("route pattern '{}' does not start with '/'", pattern));
    }
    if (!handler)
        return Status::invalid_argument(fmt::format("route '{}' has no handler", pattern));
    std::vector<Route::Segment> segments;
    std::vector<std::string_view> names;
    for (auto part : split_path(pattern)) {
        Route::Segment seg;
        if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
            auto name = part.substr(1, part.size() - 2);
            if (!valid_capture_name(name)) {
                return Status::invalid_argument(
                    fmt::format("route '{}': bad capture '{}'", pattern, part));
            }
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                return Status::invalid_argument(
                    fmt::format("route '{}': capture '{}' repeats", pattern, part));
            }
            names.push_back(name);
            seg.text = std::string(name);
            seg.capture = true;
        } else if (part.find_first_of("{}") != std::string_view::npos) {
            return Status::invalid_argument(
                fmt::format("route '{}': bad segment '{}'", pattern, part));
        } else {
            seg.text = std::string(part);
        }
        segments.push_back(std::move(seg));
    }
    for (const auto& r : routes_) {
        if (r.method == method && same_shape(r, segments)) {
            return Status::conflict(fmt::format("route {} {} clashes with {} {}", method, pattern,
                                                r.method, r.pattern));
        }
    }
    routes_.push_back({std::move(method), std::string(pattern), std::move(handler), options,
                       std::move(segments)});
    return Status::ok();
}

Router::Match Router::match(std::string_view method, std::string_view raw_path) const {
    Match result;
    std::vector<std::string> segments;
    for (auto part : split_path(raw_path)) {
        auto decoded = percent_decode(part);
        if (!decoded) return result;  // not_found: no route can match a malformed segment
        segments.push_back(std::move(decoded.value()));
    }

    // Best route for the method, and the set of methods that would match the path.
    const Route* best = nullptr;
    const Route* best_get = nullptr;  // HEAD falls back to GET
    std::vector<bool> best_rank;
    std::vector<bool> best_get_rank;
    std::vector<std::string> allowed;
    for (const auto& route : routes_) {
        auto rank = match_route(route, segments, nullptr);
        if (!rank) continue;
        allowed.push_back(route.method);
        if (route.method == method && (best == nullptr || *rank > best_rank)) {
            best = &route;
            best_rank = *rank;
        }
        if (route.method == "GET" && (best_get == nullptr || *rank > best_get_rank)) {
            best_get = &route;
            best_get_rank = *rank;
        }
    }
    if (best == nullptr && method == "HEAD") best = best_get;
    if (best != nullptr) {
        result.kind = Match::Kind::found;
        result.route = best;
        (void)match_route(*best, segments, &result.captures);
        return result;
    }
    if (allowed.empty()) return result;

    if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end())
        allowed.emplace_back("HEAD");
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    result.kind = Match::Kind::method_not_allowed;
    for (const auto& m : allowed) {
        if (!result.allow.empty()) result.allow += ", ";
        result.allow += m;
    }
    return result;
}

}  // namespace netkeep::http
