#pragma once
// HOST:PORT as the programs take it on their command lines (netkeepd --listen, the fake
// device's --ssh/--telnet): one parser, so that every program accepts the same forms.

#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep {

struct Endpoint {
    std::string host;  // as given, without [] around an IPv6 address
    std::uint16_t port = 0;
};

// "HOST:PORT" or "[V6]:PORT", port 0..65535 (0 asks for a free port). The error says
// what was wrong with `text`, for the caller to prefix with its option's name.
Result<Endpoint> parse_endpoint(std::string_view text);

// "HOST:PORT", with [] around an IPv6 host.
std::string format_endpoint(const Endpoint& endpoint);

}  // namespace netkeep
