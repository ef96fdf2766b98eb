#include "net.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace netkeep::fake_device {

Result<Listener> listen_tcp(const Endpoint& endpoint) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(endpoint.port);
    if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        return Status::invalid_argument(
            fmt::format("cannot resolve '{}': {}", endpoint.host, ::gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);

    std::string last_error = "no address";
    for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (fd.get() < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 512) != 0) {
            last_error = std::strerror(errno);
            continue;
        }
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
        std::uint16_t bound_port = endpoint.port;
        if (bound.ss_family == AF_INET)
            bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
        else if (bound.ss_family == AF_INET6)
            bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
        return Listener{std::move(fd), Endpoint{endpoint.host, bound_port}};
    }
    return Status::io_error(
        fmt::format("cannot listen on {}: {}", format_endpoint(endpoint), last_error));
}

bool wait_readable(int fd, int wake_fd, int timeout_ms) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0) return false;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return false;
    return (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace netkeep::fake_device
