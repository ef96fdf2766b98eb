#pragma once
// Plain POSIX sockets for the fake device's listeners and the telnet connections.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "netkeep/status.hpp"

namespace netkeep::fake_device {

// Owns a file descriptor.
class Unique_fd {
public:
    Unique_fd() = default;
    explicit Unique_fd(int fd) : fd_(fd) {}
    Unique_fd(Unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Unique_fd& operator=(Unique_fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    Unique_fd(const Unique_fd&) = delete;
    Unique_fd& operator=(const Unique_fd&) = delete;
    ~Unique_fd() { reset(); }

    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

struct Endpoint {
    std::string host;  // as given, without [] around an IPv6 address
    std::uint16_t port = 0;
};

// "HOST:PORT" or "[V6]:PORT"; port 0 asks for a free port.
Result<Endpoint> parse_endpoint(std::string_view text);

// "HOST:PORT", with [] around an IPv6 host.
std::string format_endpoint(const Endpoint& endpoint);

struct Listener {
    Unique_fd fd;
    Endpoint bound;  // the port actually bound
};

Result<Listener> listen_tcp(const Endpoint& endpoint);

// Waits until `fd` is readable (true) or `wake_fd` is readable or `timeout_ms` passed (false).
bool wait_readable(int fd, int wake_fd, int timeout_ms);

}  // namespace netkeep::fake_device
