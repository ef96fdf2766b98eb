#pragma once
// Plain POSIX sockets for the fake device's listeners and the telnet connections.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "netkeep/status.hpp"
#include "util/endpoint.hpp"
#include "util/posix.hpp"

namespace netkeep::fake_device {

struct Listener {
    UniqueFd fd;
    Endpoint bound;  // the port actually bound
};

Result<Listener> listen_tcp(const Endpoint& endpoint);

// Waits until `fd` is readable (true) or `wake_fd` is readable or `timeout_ms` passed (false).
bool wait_readable(int fd, int wake_fd, int timeout_ms);

}  // namespace netkeep::fake_device
