#pragma once
// Small helpers for code that calls POSIX directly (files, sockets): one owner per file
// descriptor, and one mapping from errno to Status, so that a full disk reads as
// no_space (HTTP 507, docs/security.md "Faults: storage") wherever it is met.

#include <string_view>
#include <utility>

#include <unistd.h>

#include "netkeep/status.hpp"

namespace netkeep {

// Owns a file descriptor; -1 is none.
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
    // Closes the one held, if any, and holds `fd` instead.
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// "<what> <path>: <strerror(err)>" as not_found (ENOENT), no_space (ENOSPC, EDQUOT) or
// io_error (anything else).
Status errno_status(int err, std::string_view what, std::string_view path);

}  // namespace netkeep
