#include "util/endpoint.hpp"

#include <fmt/format.h>

namespace netkeep {

Result<Endpoint> parse_endpoint(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
        return Status::invalid_argument(fmt::format("wants HOST:PORT, got '{}'", text));
    auto host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    for (char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9' || port > 65535)
            return Status::invalid_argument(fmt::format("bad port in '{}'", text));
        port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port > 65535) return Status::invalid_argument(fmt::format("bad port in '{}'", text));
    return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string format_endpoint(const Endpoint& endpoint) {
    if (endpoint.host.find(':') != std::string::npos)
        return fmt::format("[{}]:{}", endpoint.host, endpoint.port);
    return fmt::format("{}:{}", endpoint.host, endpoint.port);
}

}  // namespace netkeep
