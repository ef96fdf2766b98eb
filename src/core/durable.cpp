#include "netkeep/durable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "util/posix.hpp"

namespace netkeep {

namespace {

Status sync_file(const std::string& path) {
    UniqueFd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.get() < 0) return errno_status(errno, "opening", path);
    if (::fsync(f.get()) != 0) return errno_status(errno, "syncing", path);
    return Status::ok();
}

std::string parent_of(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

}  // namespace

Status sync_directory(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status(errno, "opening directory", path);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status(err, "syncing directory", path);
    return Status::ok();
}

Status create_directories_durably(const std::string& path) {
    namespace fs = std::filesystem;
    if (path.empty()) return Status::invalid_argument("an empty directory path");
    // The missing components, deepest last.
    std::vector<fs::path> missing;
    fs::path p = fs::path(path).lexically_normal();
    if (p.has_filename() == false && p.has_parent_path()) p = p.parent_path();  // "a/b/" -> "a/b"
    for (fs::path at = p; !at.empty(); at = at.parent_path()) {
        struct stat st {};
        if (::stat(at.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return Status::io_error(
                    fmt::format("{} exists and is not a directory", at.string()));
            break;
        }
        if (errno != ENOENT) return errno_status(errno, "checking", at.string());
        missing.push_back(at);
        if (at == at.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST)
            return errno_status(errno, "creating", it->string());
        // The new entry lives in the parent: sync that (also when another process created
        // the directory meanwhile, as nothing says it synced it).
        fs::path parent = it->has_parent_path() ? it->parent_path() : fs::path(".");
        if (Status s = sync_directory(parent.string()); !s) return s;
    }
    return Status::ok();
}

Status sync_tree(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        bool dir = it->is_directory(ec);
        if (ec) break;
        if (Status s = dir ? sync_directory(it->path().string()) : sync_file(it->path().string());
            !s)
            return s;
    }
    if (ec) return Status::io_error(fmt::format("listing {}: {}", path, ec.message()));
    return sync_directory(path);
}

Status write_file_durably(const std::string& path, std::string_view content,
                          const DurableFileOptions& options) {
    std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
    auto fail = [&](std::string_view what, const std::string& name) {
        Status s = errno_status(errno, what, name);
        ::unlink(tmp.c_str());
        return s;
    };
    {
        UniqueFd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, options.mode)};
        if (f.get() < 0) return errno_status(errno, "creating", tmp);
        struct stat old {};
        if (options.keep_owner && ::geteuid() == 0 && ::stat(path.c_str(), &old) == 0 &&
            ::fchown(f.get(), old.st_uid, old.st_gid) != 0)
            return fail("keeping the owner of", path);
        while (!content.empty()) {
            ssize_t n = ::write(f.get(), content.data(), content.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail("writing", tmp);
            content.remove_prefix(std::size_t(n));
        }
        if (::fsync(f.get()) != 0) return fail("syncing", tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("renaming to", path);
    return sync_directory(parent_of(path));
}

}  // namespace netkeep
