#include "netkeep/spool.hpp"

#include <dirent.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "netkeep/durable.hpp"
#include "util/posix.hpp"

namespace netkeep {

namespace {

constexpr std::string_view k_incoming = ".incoming-";

// Unique without coordination: time, process and a per-process counter and random seed.
std::string unique_name() {
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t seed = std::random_device{}();
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return fmt::format("{}-{}-{:x}-{}",
                       std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(),
                       ::getpid(), seed & 0xffffff, counter.fetch_add(1));
}

}  // namespace

SpoolFile::SpoolFile(std::string dir, std::string name, int fd)
    : dir_(std::move(dir)), name_(std::move(name)), fd_(fd) {}

SpoolFile::SpoolFile(SpoolFile&& other) noexcept
    : dir_(std::move(other.dir_)),
      name_(std::move(other.name_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      hash_(std::move(other.hash_)),
      committed_(std::exchange(other.committed_, true)) {}

SpoolFile& SpoolFile::operator=(SpoolFile&& other) noexcept {
    if (this != &other) {
        discard();
        dir_ = std::move(other.dir_);
        name_ = std::move(other.name_);
        fd_ = std::exchange(other.fd_, -1);
        size_ = other.size_;
        hash_ = std::move(other.hash_);
        committed_ = std::exchange(other.committed_, true);
    }
    return *this;
}

SpoolFile::~SpoolFile() { discard(); }

void SpoolFile::discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!committed_ && !name_.empty())
        ::unlink((dir_ + "/" + std::string(k_incoming) + name_).c_str());
    committed_ = true;
}

Status SpoolFile::write(std::string_view chunk) {
    if (fd_ < 0) return Status::unavailable("spool file is closed");
    hash_.update(chunk);
    size_ += chunk.size();
    while (!chunk.empty()) {
        ssize_t n = ::write(fd_, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_status(errno, "writing", dir_ + "/" + std::string(k_incoming) + name_);
        }
        chunk.remove_prefix(std::size_t(n));
    }
    return Status::ok();
}

Result<SpoolEntry> SpoolFile::commit() {
    if (fd_ < 0) return Status::unavailable("spool file is closed");
    std::string incoming = dir_ + "/" + std::string(k_incoming) + name_;
    std::string final_path = dir_ + "/" + name_;
    // A failed fdatasync is never retried on this descriptor: the kernel may already have
    // dropped the pages it could not write and would report success the second time. The
    // caller refuses the upload; the destructor closes and unlinks the file.
    if (::fdatasync(fd_) != 0) return errno_status(errno, "syncing", incoming);
    ::close(fd_);
    fd_ = -1;
    if (::rename(incoming.c_str(), final_path.c_str()) != 0)
        return errno_status(errno, "renaming", incoming);
    committed_ = true;
    // The rename is durable only with the directory. If this fails the file stays under
    // its final name, referred to by no event: the git writer sweeps it as an orphan.
    if (Status s = sync_directory(dir_); !s) return s;
    auto digest = hash_.finish();
    return SpoolEntry{name_, size_,
                      std::string(reinterpret_cast<const char*>(digest.data()), digest.size())};
}

Result<Spool> Spool::open(std::string dir) {
    // Durable before the first upload is acknowledged into it.
    if (Status s = create_directories_durably(dir); !s) return s;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
        if (entry.path().filename().string().starts_with(k_incoming))
            std::filesystem::remove(entry.path(), ec);
    if (ec) return Status::io_error(fmt::format("cleaning spool dir {}: {}", dir, ec.message()));
    return Spool(std::move(dir));
}

Result<SpoolFile> Spool::create() {
    std::string name = unique_name();
    std::string path = dir_ + "/" + std::string(k_incoming) + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno_status(errno, "creating", path);
    return SpoolFile(dir_, std::move(name), fd);
}

Result<SpoolUsage> Spool::usage() const {
    // readdir + fstatat: no std::filesystem object per entry, as the spool may hold many
    // thousands of files while the git writer is stopped.
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), &::closedir);
    if (!d) return errno_status(errno, "reading", dir_);
    SpoolUsage usage;
    const int dfd = ::dirfd(d.get());
    while (dirent* e = ::readdir(d.get())) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        usage.files += 1;
        usage.bytes += std::uint64_t(st.st_size);
    }
    return usage;
}

Result<std::vector<std::string>> Spool::files_modified_before(timespec cutoff) const {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), &::closedir);
    if (!d) return errno_status(errno, "reading", dir_);
    std::vector<std::string> names;
    const int dfd = ::dirfd(d.get());
    while (dirent* e = ::readdir(d.get())) {
        std::string_view name = e->d_name;
        if (name.empty() || name.front() == '.') continue;
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (st.st_mtim.tv_sec < cutoff.tv_sec ||
            (st.st_mtim.tv_sec == cutoff.tv_sec && st.st_mtim.tv_nsec < cutoff.tv_nsec))
            names.emplace_back(name);
    }
    return names;
}

std::string Spool::path_of(std::string_view name) const { return dir_ + "/" + std::string(name); }

Status Spool::remove(std::string_view name) {
    std::string path = path_of(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return errno_status(errno, "removing", path);
    return Status::ok();
}

}  // namespace netkeep
