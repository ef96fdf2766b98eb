#include "worker/telnet_transport.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "worker/net.hpp"
#include "worker/telnet.hpp"

namespace netkeep::worker {

namespace {

class TelnetTransport final : public Transport {
public:
    explicit TelnetTransport(UniqueFd fd) : fd_(std::move(fd)) {}

    Result<ReadResult> read(char* buffer, std::size_t size,
                            std::chrono::milliseconds timeout) override {
        if (!pending_.empty()) return take(buffer, size);
        pollfd p{fd_.get(), POLLIN, 0};
        const int ms = int(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 1, 600000));
        int n = ::poll(&p, 1, ms);
        if (n < 0 && errno != EINTR)
            return Status::io_error(fmt::format("telnet: {}", std::strerror(errno)));
        if (n <= 0) return ReadResult{};
        raw_.resize(size);
        ssize_t got = ::recv(fd_.get(), raw_.data(), raw_.size(), 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) return ReadResult{};
        if (got < 0) return Status::io_error(fmt::format("telnet: {}", std::strerror(errno)));
        if (got == 0) return ReadResult{0, true};
        std::string reply;
        filter_.feed(std::string_view(raw_.data(), std::size_t(got)), pending_, reply);
        if (!reply.empty()) {
            if (auto s = send_all(reply); !s) return s;
        }
        return take(buffer, size);
    }

    Status write(std::string_view bytes) override {
        return send_all(telnet::Filter::escape(bytes));
    }

private:
    ReadResult take(char* buffer, std::size_t size) {
        const std::size_t n = std::min(size, pending_.size());
        std::memcpy(buffer, pending_.data(), n);
        pending_.erase(0, n);
        return ReadResult{n, false};
    }

    Status send_all(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return Status::io_error(fmt::format("telnet: {}", std::strerror(errno)));
            bytes.remove_prefix(std::size_t(n));
        }
        return Status::ok();
    }

    UniqueFd fd_;
    telnet::Filter filter_;
    std::string raw_;
    std::string pending_;  // data decoded but not handed out yet
};

}  // namespace

Result<std::unique_ptr<Transport>> open_telnet(const Lease& lease,
                                               std::chrono::milliseconds connect_timeout) {
    auto fd = tcp_connect(lease.host, lease.port, connect_timeout);
    if (!fd) return fd.status();
    return std::unique_ptr<Transport>(std::make_unique<TelnetTransport>(std::move(fd.value())));
}

}  // namespace netkeep::worker
