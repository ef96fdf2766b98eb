#include "http/url.hpp"

#include <fmt/format.h>

namespace netkeep::http {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

Result<std::string> percent_decode(std::string_view in, PlusMeans plus) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return Status::invalid_argument(
                    fmt::format("bad percent-encoding at offset {} in '{}'", i, in));
            }
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus == PlusMeans::space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

Result<QueryParams> parse_query(std::string_view query) {
    QueryParams params;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto piece = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (piece.empty()) continue;
        auto eq = piece.find('=');
        auto name = percent_decode(piece.substr(0, eq), PlusMeans::space);
        if (!name) return name.status();
        std::string value;
        if (eq != std::string_view::npos) {
            auto decoded = percent_decode(piece.substr(eq + 1), PlusMeans::space);
            if (!decoded) return decoded.status();
            value = std::move(decoded.value());
        }
        params.emplace_back(std::move(name.value()), std::move(value));
    }
    return params;
}

Result<Target> parse_target(std::string_view target) {
    if (auto hash = target.find('#'); hash != std::string_view::npos)
        target = target.substr(0, hash);
    Target out;
    if (target == "*") {
        out.raw_path = out.path = "*";
        return out;
    }
    if (target.empty() || target.front() != '/') {
        // absolute-form: scheme "://" authority path-abempty [ "?" query ]
        auto scheme_end = target.find("://");
        if (scheme_end == std::string_view::npos || scheme_end == 0) {
            return Status::invalid_argument(fmt::format("unsupported request target '{}'", target));
        }
        auto rest = target.substr(scheme_end + 3);
        auto path_start = rest.find_first_of("/?");
        target =
            path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
        if (target.empty() || target.front() == '?') {
            // "http://host" or "http://host?x" mean the path "/".
            out.raw_path = "/";
        }
    }
    auto question = target.find('?');
    if (out.raw_path.empty()) out.raw_path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
        out.raw_query = std::string(target.substr(question + 1));

    auto path = percent_decode(out.raw_path);
    if (!path) return path.status();
    out.path = std::move(path.value());
    auto query = parse_query(out.raw_query);
    if (!query) return query.status();
    out.query = std::move(query.value());
    return out;
}

}  // namespace netkeep::http
