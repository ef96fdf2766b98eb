#pragma once
// TCP connections to devices, with failures sorted into the texts jobs report
// (docs/worker.md#failures): the Status message of an error is that text.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "netkeep/status.hpp"

namespace netkeep::worker {

// Owns a file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset();

private:
    int fd_ = -1;
};

// "[::1]:22" or "host:22".
std::string host_port(const std::string& host, std::uint16_t port);

// Resolves `host` and connects to the first address that accepts within `timeout`
// (a blocking socket is returned). Failure texts:
//   "dns failure: cannot resolve 'HOST': ..."
//   "connection refused: HOST:PORT"
//   "connection timed out: HOST:PORT did not answer within N s"
//   "connection failed: HOST:PORT: <errno text>"
Result<UniqueFd> tcp_connect(const std::string& host, std::uint16_t port,
                             std::chrono::milliseconds timeout);

}  // namespace netkeep::worker
