#include "worker/output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "util/posix.hpp"

namespace netkeep::worker {

namespace {
constexpr std::size_t k_piece = 64 * 1024;
constexpr std::string_view k_temp_file = "the output's temp file";
}  // namespace

OutputBuffer::OutputBuffer(std::size_t memory_limit) : memory_limit_(memory_limit) {}

OutputBuffer::~OutputBuffer() { clear(); }

void OutputBuffer::clear() {
    fd_.reset();
    memory_.clear();
    memory_.shrink_to_fit();
    size_ = 0;
}

Status OutputBuffer::spill() {
    const char* dir = std::getenv("TMPDIR");
    std::string path = fmt::format("{}/netkeep-worker-XXXXXX", dir && *dir ? dir : "/tmp");
    std::vector<char> name(path.begin(), path.end());
    name.push_back('\0');
    int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return errno_status(errno, "cannot create a temp file in", path);
    ::unlink(name.data());  // nameless from now on: gone when closed, even after kill -9
    fd_.reset(fd);
    return flush();
}

Status OutputBuffer::flush() {
    std::string_view rest = memory_;
    while (!rest.empty()) {
        ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_status(errno, "cannot write", k_temp_file);
        rest.remove_prefix(std::size_t(n));
    }
    memory_.clear();
    return Status::ok();
}

Status OutputBuffer::write(std::string_view bytes) {
    memory_.append(bytes);
    size_ += bytes.size();
    if (!spilled()) {
        if (memory_.size() <= memory_limit_) return Status::ok();
        return spill();
    }
    if (memory_.size() >= k_piece) return flush();
    return Status::ok();
}

Status OutputBuffer::read_all(const std::function<Status(std::string_view)>& piece) const {
    if (!spilled()) {
        for (std::size_t at = 0; at < memory_.size(); at += k_piece) {
            auto s = piece(std::string_view(memory_).substr(at, k_piece));
            if (!s) return s;
        }
        return Status::ok();
    }
    std::string buffer(k_piece, '\0');
    const std::uint64_t on_disk = size_ - memory_.size();
    for (std::uint64_t at = 0; at < on_disk;) {
        const std::size_t want = std::size_t(std::min<std::uint64_t>(k_piece, on_disk - at));
        ssize_t n = ::pread(fd_.get(), buffer.data(), want, off_t(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_status(errno, "cannot read", k_temp_file);
        auto s = piece(std::string_view(buffer.data(), std::size_t(n)));
        if (!s) return s;
        at += std::uint64_t(n);
    }
    for (std::size_t at = 0; at < memory_.size(); at += k_piece) {
        auto s = piece(std::string_view(memory_).substr(at, k_piece));
        if (!s) return s;
    }
    return Status::ok();
}

}  // namespace netkeep::worker
