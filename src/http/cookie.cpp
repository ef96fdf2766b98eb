#include "http/cookie.hpp"

#include <fmt/format.h>

namespace netkeep::http {

std::optional<std::string_view> cookie_value(const Headers& headers, std::string_view name) {
    std::size_t pairs = 0;
    for (std::string_view field : headers.get_all("Cookie")) {
        while (!field.empty()) {
            if (++pairs > k_max_cookie_pairs) return std::nullopt;
            const std::size_t end = field.find(';');
            std::string_view pair = field.substr(0, end);
            field = end == std::string_view::npos ? std::string_view{} : field.substr(end + 1);
            const std::size_t eq = pair.find('=');
            if (eq == std::string_view::npos) continue;
            if (trim_ows(pair.substr(0, eq)) != name) continue;
            std::string_view value = trim_ows(pair.substr(eq + 1));
            // RFC 6265 allows the value in double quotes.
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.substr(1, value.size() - 2);
            return value;
        }
    }
    return std::nullopt;
}

std::string set_cookie(std::string_view name, std::string_view value,
                       const CookieOptions& options) {
    std::string out = fmt::format("{}={}; Path=/", name, value);
    if (options.max_age >= 0) out += fmt::format("; Max-Age={}", options.max_age);
    out += "; HttpOnly; SameSite=Strict";
    if (options.secure) out += "; Secure";
    return out;
}

}  // namespace netkeep::http
