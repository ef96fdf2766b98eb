#pragma once
// Plain POSIX sockets for the fake device's listeners and the telnet connections.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "netkeep/posix.hpp"
#include "netkeep/status.hpp"

namespace netkeep::fake_device {

struct Endpoint {
    std::string host;  // as given, without [] around an IPv6 address
    std::uint16_t port = 0;
};

// "HOST:PORT" or "[V6]:PORT"; port 0 asks for a free port.
Result<Endpoint> parse_endpoint(std::string_view text);

// "HOST:PORT", with [] around an IPv6 host.
std::string format_endpoint(const Endpoint& endpoint);

struct Listener {
    UniqueFd fd;
    Endpoint bound;  // the port actually bound
};

Result<Listener> listen_tcp(const Endpoint& endpoint);

// Waits until `fd` is readable (true) or `wake_fd` is readable or `timeout_ms` passed (false).
bool wait_readable(int fd, int wake_fd, int timeout_ms);

}  // namespace netkeep::fake_device
