#include "worker/net.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace netkeep::worker {

std::string host_port(const std::string& host, std::uint16_t port) {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

namespace {

using clock = std::chrono::steady_clock;

struct AddrinfoFree {
    void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};

// Connects one address; 0 on success, else the errno (ETIMEDOUT when `until` passed).
int connect_one(const addrinfo& a, clock::time_point until, UniqueFd& out) {
    UniqueFd fd(::socket(a.ai_family, a.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a.ai_protocol));
    if (fd.get() < 0) return errno;
    if (::connect(fd.get(), a.ai_addr, a.ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return errno;
        for (;;) {
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(until - clock::now()).count();
            if (left <= 0) return ETIMEDOUT;
            pollfd p{fd.get(), POLLOUT, 0};
            int n = ::poll(&p, 1, int(left));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return errno;
            if (n == 0) return ETIMEDOUT;
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
            if (err != 0) return err;
            break;
        }
    }
    // Blocking from here on: the transports wait with poll() or libssh's own timeouts.
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return errno;
    int one = 1;
    (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    out = std::move(fd);
    return 0;
}

}  // namespace

Result<UniqueFd> tcp_connect(const std::string& host, std::uint16_t port,
                             std::chrono::milliseconds timeout) {
    const auto until = clock::now() + timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* raw = nullptr;
    const std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
    if (rc != 0) {
        return Status::not_found(
            fmt::format("dns failure: cannot resolve '{}': {}", host,
                        rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, AddrinfoFree> list(raw);
    const std::string where = host_port(host, port);
    int last = 0;
    for (const addrinfo* a = list.get(); a; a = a->ai_next) {
        UniqueFd fd;
        last = connect_one(*a, until, fd);
        if (last == 0) return fd;
        if (last == ETIMEDOUT) break;  // the time is spent: do not try the next address
    }
    if (last == ECONNREFUSED) return Status::unavailable("connection refused: " + where);
    if (last == ETIMEDOUT) {
        return Status::unavailable(fmt::format(
            "connection timed out: {} did not answer within {} s", where,
            std::chrono::duration_cast<std::chrono::seconds>(timeout +
                                                             std::chrono::milliseconds(999))
                .count()));
    }
    return Status::io_error(fmt::format("connection failed: {}: {}", where, std::strerror(last)));
}

}  // namespace netkeep::worker
