#include "gitwriter/durable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace netkeep::gitwriter {

namespace {

Status errno_status(std::string_view what, const std::string& path) {
    return Status::io_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

struct fd_closer {
    int fd = -1;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

Status fsync_path(const std::string& path, bool directory) {
    fd_closer f{::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC)};
    if (f.fd < 0) return errno_status("opening", path);
    if (::fsync(f.fd) != 0) return errno_status("fsync of", path);
    return Status::ok();
}

std::string parent_of(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

}  // namespace

Status fsync_dir(const std::string& path) { return fsync_path(path, true); }

Status fsync_tree(const std::string& path) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        bool dir = it->is_directory(ec);
        if (ec) break;
        if (Status s = fsync_path(it->path().string(), dir); !s) return s;
    }
    if (ec) return Status::io_error(fmt::format("listing {}: {}", path, ec.message()));
    return fsync_dir(path);
}

Status write_file_durably(const std::string& path, std::string_view content) {
    std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
    {
        fd_closer f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)};
        if (f.fd < 0) return errno_status("creating", tmp);
        while (!content.empty()) {
            ssize_t n = ::write(f.fd, content.data(), content.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                Status s = errno_status("writing", tmp);
                ::unlink(tmp.c_str());
                return s;
            }
            content.remove_prefix(std::size_t(n));
        }
        if (::fsync(f.fd) != 0) {
            Status s = errno_status("fsync of", tmp);
            ::unlink(tmp.c_str());
            return s;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        Status s = errno_status("renaming to", path);
        ::unlink(tmp.c_str());
        return s;
    }
    return fsync_dir(parent_of(path));
}

Status make_dirs_durably(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return Status::ok();
        return Status::io_error(fmt::format("{} exists and is not a directory", path));
    }
    std::string parent = parent_of(path);
    if (parent != path)
        if (Status s = make_dirs_durably(parent); !s) return s;
    if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) return errno_status("creating", path);
    if (Status s = fsync_dir(path); !s) return s;
    return fsync_dir(parent);
}

}  // namespace netkeep::gitwriter
