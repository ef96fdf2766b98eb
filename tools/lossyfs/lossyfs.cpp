// lossyfs: a FUSE file system that forgets what was not fsync'd, for power-loss tests
// (the technique of LazyFS). It passes every call through to a backing directory, but
//
// - file data (writes, truncates, fallocate) stays in memory, in an Overlay per inode,
//   until fsync/fdatasync of that file writes it to the backing file. Reads see it
//   (read-your-writes); close does not persist it, as a disk cache would not;
// - namespace changes (create, mkdir, link, symlink, unlink, rmdir, rename) are made in
//   the backing directory at once, so that every caller sees them, and journalled with
//   what undoes them. In the default `strict` mode a change becomes durable only when a
//   directory it touched is fsync'd (POSIX: "fsync of the directory is needed to make the
//   entry durable"); `journal` makes every fsync of anything commit all earlier changes
//   (roughly ext4 data=ordered); `immediate` makes them durable at once (LazyFS's model);
// - writing `drop` to the control file /.lossyfs-ctl is the power cut: every overlay is
//   discarded and the journalled namespace changes are undone, newest first, so that the
//   backing directory holds exactly what was synced. `sync` makes everything durable.
//   Reading the control file gives counters. Every dropped file and undone change is
//   logged on stderr, so a test can say which file a program forgot to sync.
// - Unmounting is a power cut too: lossyfs drops at exit.
//
// Not modelled: chmod, chown and utimens are durable at once; fsync of the backing files
// is not done (the host does not lose power, the simulated disk does); xattrs and locks
// are the kernel's (no FUSE lock calls: local locking). Runs single-threaded (-s), so the
// overlays and the journal need no locks.
//
// Usage: lossyfs [--ignore-fsync] [--namespace strict|journal|immediate] [--debug]
//                BACKING_DIR MOUNTPOINT
// --ignore-fsync turns fsync, fdatasync and directory fsync into no-ops: everything is lost
// at a cut, which shows that a power-loss test can fail.

#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "overlay.hpp"
#include "util/posix.hpp"

namespace lossyfs {
namespace {

constexpr std::string_view k_ctl = "/.lossyfs-ctl";
constexpr std::string_view k_trash = ".lossyfs-trash";  // in the backing root, hidden
constexpr std::uint64_t k_ctl_handle = UINT64_MAX;

enum class NamespaceMode { strict, journal, immediate };

std::string_view mode_name(NamespaceMode m) {
    switch (m) {
        case NamespaceMode::strict:
            return "strict";
        case NamespaceMode::journal:
            return "journal";
        case NamespaceMode::immediate:
            return "immediate";
    }
    return "?";
}

struct Options {
    std::string backing;
    std::string mountpoint;
    bool ignore_fsync = false;
    bool debug = false;
    NamespaceMode namespace_mode = NamespaceMode::strict;
};

// The unsynced state of one inode, with a descriptor of its own (read-write) so that it
// can be flushed whatever handle asks, or none (the control file's `sync`).
struct Cached {
    Overlay overlay;
    netkeep::UniqueFd fd;
    std::string path;  // the name it was last written through, for the drop log
};

// An open file or directory. Calls on it may come without a path (nullpath_ok), so the
// handle keeps what they need.
struct Handle {
    netkeep::UniqueFd fd;
    ino_t ino = 0;
    std::string path;  // the name it was opened by
};

// One journalled namespace change and how to undo it.
struct NamespaceOp {
    enum class Kind { created, made_dir, removed, renamed } kind;
    std::vector<ino_t> dirs;  // the directories whose fsync makes it durable
    std::string path;         // relative to the backing root: the name made, removed, renamed to
    std::string from;         // renamed: the old name
    std::string trash;  // removed: the entry, parked; renamed: the entry it replaced ("": none)
};

std::string_view kind_name(NamespaceOp::Kind k) {
    switch (k) {
        case NamespaceOp::Kind::created:
            return "create";
        case NamespaceOp::Kind::made_dir:
            return "mkdir";
        case NamespaceOp::Kind::removed:
            return "remove";
        case NamespaceOp::Kind::renamed:
            return "rename";
    }
    return "?";
}

struct Counters {
    std::uint64_t fsyncs = 0;
    std::uint64_t dir_fsyncs = 0;
    std::uint64_t drops = 0;
    std::uint64_t dropped_files = 0;
    std::uint64_t dropped_bytes = 0;
    std::uint64_t undone_ops = 0;
    std::uint64_t undo_failures = 0;
};

// "/a/b" -> "a/b"; "/" -> "." (paths relative to the backing root's descriptor).
std::string rel(const char* path) {
    if (path == nullptr || path[0] == '\0' || (path[0] == '/' && path[1] == '\0')) return ".";
    return path[0] == '/' ? std::string(path + 1) : std::string(path);
}

std::string parent_of(const std::string& relative) {
    auto slash = relative.rfind('/');
    return slash == std::string::npos ? "." : relative.substr(0, slash);
}

bool is_ctl(const char* path) { return path != nullptr && k_ctl == path; }

bool is_hidden(const char* path) {
    if (path == nullptr || path[0] != '/') return false;
    std::string_view p(path + 1);
    return p.starts_with(k_trash) && (p.size() == k_trash.size() || p[k_trash.size()] == '/');
}

int open_flags_for_backing(int flags) {
    // O_APPEND: the kernel passes the offset (the end as it knows it); O_TRUNC: done in
    // the overlay; O_DIRECT: meaningless over an overlay. A write-only handle still needs
    // to read pages it only partly overwrites.
    flags &= ~(O_APPEND | O_TRUNC | O_CREAT | O_EXCL | O_DIRECT);
    if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    return flags | O_CLOEXEC;
}

class LossyFs {
public:
    explicit LossyFs(Options options) : options_(std::move(options)) {}

    int start() {
        ::umask(0);
        root_ =
            netkeep::UniqueFd(::open(options_.backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (root_.get() < 0) return -errno;
        root_ino_ = dir_ino(".");
        // Leftovers of a run that was killed: removals whose undo never ran. Gone.
        std::error_code ec;
        std::filesystem::remove_all(backing_path(std::string(k_trash)), ec);
        if (::mkdirat(root_.get(), std::string(k_trash).c_str(), 0700) != 0 && errno != EEXIST)
            return -errno;
        return 0;
    }

    const Options& options() const { return options_; }

    // --- attributes ---------------------------------------------------------------------

    int getattr(const char* path, struct stat* st, fuse_file_info* fi) {
        if (is_ctl(path)) {
            *st = {};
            st->st_mode = S_IFREG | 0600;
            st->st_nlink = 1;
            st->st_ino = 1;
            return 0;
        }
        if (is_hidden(path)) return -ENOENT;
        int rc = 0;
        if (fi != nullptr && fi->fh != k_ctl_handle && handles_.contains(fi->fh))
            rc = ::fstat(handles_.at(fi->fh).fd.get(), st);
        else if (path != nullptr)
            rc = ::fstatat(root_.get(), rel(path).c_str(), st, AT_SYMLINK_NOFOLLOW);
        else
            return -ENOENT;
        if (rc != 0) return -errno;
        if (S_ISREG(st->st_mode)) {
            if (auto it = cache_.find(st->st_ino); it != cache_.end()) {
                st->st_size = static_cast<off_t>(it->second.overlay.size());
                st->st_blocks = (st->st_size + 511) / 512;
            }
        }
        return 0;
    }

    int chmod(const char* path, mode_t mode, fuse_file_info* fi) {
        if (is_ctl(path) || is_hidden(path)) return -EPERM;
        int rc = fi != nullptr && handles_.contains(fi->fh)
                     ? ::fchmod(handles_.at(fi->fh).fd.get(), mode)
                     : ::fchmodat(root_.get(), rel(path).c_str(), mode, 0);
        return rc == 0 ? 0 : -errno;
    }

    int chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
        if (is_ctl(path) || is_hidden(path)) return -EPERM;
        int rc = fi != nullptr && handles_.contains(fi->fh)
                     ? ::fchown(handles_.at(fi->fh).fd.get(), uid, gid)
                     : ::fchownat(root_.get(), rel(path).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
        return rc == 0 ? 0 : -errno;
    }

    int utimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
        if (is_ctl(path)) return 0;
        if (is_hidden(path)) return -ENOENT;
        int rc = fi != nullptr && handles_.contains(fi->fh)
                     ? ::futimens(handles_.at(fi->fh).fd.get(), tv)
                     : ::utimensat(root_.get(), rel(path).c_str(), tv, AT_SYMLINK_NOFOLLOW);
        return rc == 0 ? 0 : -errno;
    }

    int access(const char* path, int mask) {
        if (is_ctl(path)) return 0;
        if (is_hidden(path)) return -ENOENT;
        return ::faccessat(root_.get(), rel(path).c_str(), mask, 0) == 0 ? 0 : -errno;
    }

    int readlink(const char* path, char* buf, size_t size) {
        if (is_hidden(path) || size == 0) return -ENOENT;
        ssize_t n = ::readlinkat(root_.get(), rel(path).c_str(), buf, size - 1);
        if (n < 0) return -errno;
        buf[n] = '\0';
        return 0;
    }

    int statfs(struct statvfs* st) { return ::fstatvfs(root_.get(), st) == 0 ? 0 : -errno; }

    // --- directories --------------------------------------------------------------------

    int opendir(const char* path, fuse_file_info* fi) {
        if (is_hidden(path)) return -ENOENT;
        if (is_ctl(path)) return -ENOTDIR;
        netkeep::UniqueFd fd(
            ::openat(root_.get(), rel(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.get() < 0) return -errno;
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return -errno;
        std::uint64_t id = next_handle_++;
        handles_.emplace(id, Handle{std::move(fd), st.st_ino, path});
        fi->fh = id;
        return 0;
    }

    int readdir(fuse_file_info* fi, void* buf, fuse_fill_dir_t filler) {
        auto h = handles_.find(fi->fh);
        if (h == handles_.end()) return -EBADF;
        // A descriptor of its own: closedir closes it, and reading starts at the beginning.
        int fd = ::openat(h->second.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return -errno;
        DIR* dir = ::fdopendir(fd);
        if (dir == nullptr) {
            int e = errno;
            ::close(fd);
            return -e;
        }
        bool root = h->second.ino == root_ino_;
        while (dirent* entry = ::readdir(dir)) {
            if (root && k_trash == entry->d_name) continue;
            struct stat st {};
            st.st_ino = entry->d_ino;
            st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
            if (filler(buf, entry->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
        }
        ::closedir(dir);
        return 0;
    }

    int mkdir(const char* path, mode_t mode) {
        if (is_ctl(path) || is_hidden(path)) return -EEXIST;
        std::string r = rel(path);
        if (::mkdirat(root_.get(), r.c_str(), mode) != 0) return -errno;
        journal({NamespaceOp::Kind::made_dir, {dir_ino(parent_of(r))}, r, {}, {}});
        return 0;
    }

    int rmdir(const char* path) {
        if (is_ctl(path)) return -ENOTDIR;
        if (is_hidden(path)) return -ENOENT;
        std::string r = rel(path);
        if (options_.namespace_mode == NamespaceMode::immediate)
            return ::unlinkat(root_.get(), r.c_str(), AT_REMOVEDIR) == 0 ? 0 : -errno;
        struct stat st {};
        if (::fstatat(root_.get(), r.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
        if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
        if (int rc = check_empty(r); rc != 0) return rc;
        return park(r);
    }

    int fsyncdir(fuse_file_info* fi) {
        ++counters_.dir_fsyncs;
        if (options_.ignore_fsync) return 0;
        auto h = handles_.find(fi->fh);
        if (h == handles_.end()) return -EBADF;
        const ino_t dir = h->second.ino;
        if (options_.namespace_mode == NamespaceMode::journal) {
            persist_all_ops();
            return 0;
        }
        std::vector<NamespaceOp> keep;
        for (auto& op : pending_) {
            if (std::find(op.dirs.begin(), op.dirs.end(), dir) != op.dirs.end())
                persist(op);
            else
                keep.push_back(std::move(op));
        }
        pending_ = std::move(keep);
        return 0;
    }

    // --- names --------------------------------------------------------------------------

    int unlink(const char* path) {
        if (is_ctl(path)) return -EPERM;
        if (is_hidden(path)) return -ENOENT;
        std::string r = rel(path);
        if (options_.namespace_mode == NamespaceMode::immediate)
            return ::unlinkat(root_.get(), r.c_str(), 0) == 0 ? 0 : -errno;
        struct stat st {};
        if (::fstatat(root_.get(), r.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
        if (S_ISDIR(st.st_mode)) return -EISDIR;
        return park(r);
    }

    int symlink(const char* target, const char* path) {
        if (is_ctl(path) || is_hidden(path)) return -EEXIST;
        std::string r = rel(path);
        if (::symlinkat(target, root_.get(), r.c_str()) != 0) return -errno;
        journal({NamespaceOp::Kind::created, {dir_ino(parent_of(r))}, r, {}, {}});
        return 0;
    }

    int link(const char* from, const char* to) {
        if (is_ctl(from) || is_ctl(to) || is_hidden(from) || is_hidden(to)) return -EPERM;
        std::string r = rel(to);
        if (::linkat(root_.get(), rel(from).c_str(), root_.get(), r.c_str(), 0) != 0) return -errno;
        journal({NamespaceOp::Kind::created, {dir_ino(parent_of(r))}, r, {}, {}});
        return 0;
    }

    int mknod(const char* path, mode_t mode, dev_t dev) {
        if (is_ctl(path) || is_hidden(path)) return -EEXIST;
        std::string r = rel(path);
        if (S_ISREG(mode)) {
            netkeep::UniqueFd fd(::openat(root_.get(), r.c_str(),
                                          O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 07777));
            if (fd.get() < 0) return -errno;
            forget_inode(fd.get());
        } else if (::mknodat(root_.get(), r.c_str(), mode, dev) != 0) {
            return -errno;
        }
        journal({NamespaceOp::Kind::created, {dir_ino(parent_of(r))}, r, {}, {}});
        return 0;
    }

    int rename(const char* from, const char* to, unsigned int flags) {
        if (is_ctl(from) || is_ctl(to) || is_hidden(from) || is_hidden(to)) return -EPERM;
        if ((flags & ~RENAME_NOREPLACE) != 0) return -EINVAL;  // RENAME_EXCHANGE: not needed yet
        std::string f = rel(from);
        std::string t = rel(to);
        if (options_.namespace_mode == NamespaceMode::immediate)
            return ::renameat2(root_.get(), f.c_str(), root_.get(), t.c_str(), flags) == 0 ? 0
                                                                                           : -errno;
        struct stat from_st {};
        if (::fstatat(root_.get(), f.c_str(), &from_st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
        struct stat to_st {};
        bool replaces = ::fstatat(root_.get(), t.c_str(), &to_st, AT_SYMLINK_NOFOLLOW) == 0;
        if (replaces && (flags & RENAME_NOREPLACE) != 0) return -EEXIST;
        if (replaces && to_st.st_ino == from_st.st_ino) return 0;  // two links to one file: no-op
        // Keep what the rename replaces, to put it back if the rename is undone: a hard
        // link to a file, an empty directory in place of an (empty) directory.
        std::string trash;
        if (replaces) {
            trash = next_trash();
            int rc = S_ISDIR(to_st.st_mode)
                         ? ::mkdirat(root_.get(), trash.c_str(), to_st.st_mode & 07777)
                         : ::linkat(root_.get(), t.c_str(), root_.get(), trash.c_str(), 0);
            if (rc != 0) return -errno;
        }
        if (::renameat(root_.get(), f.c_str(), root_.get(), t.c_str()) != 0) {
            int e = errno;
            if (!trash.empty()) remove_backing(trash);
            return -e;
        }
        std::vector<ino_t> dirs{dir_ino(parent_of(f))};
        if (ino_t d = dir_ino(parent_of(t)); d != dirs.front()) dirs.push_back(d);
        journal({NamespaceOp::Kind::renamed, std::move(dirs), t, f, trash});
        return 0;
    }

    // --- files --------------------------------------------------------------------------

    int create(const char* path, mode_t mode, fuse_file_info* fi) {
        if (is_ctl(path) || is_hidden(path)) return -EEXIST;
        std::string r = rel(path);
        int flags = open_flags_for_backing(fi->flags);
        netkeep::UniqueFd fd(
            ::openat(root_.get(), r.c_str(), flags | O_CREAT | O_EXCL, mode & 07777));
        bool created = fd.get() >= 0;
        if (!created) {
            if (errno != EEXIST || (fi->flags & O_EXCL) != 0) return -errno;
            fd = netkeep::UniqueFd(
                ::openat(root_.get(), r.c_str(), flags));  // raced with another creator
            if (fd.get() < 0) return -errno;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return -errno;
        if (created) {
            // A new inode may reuse the number of a deleted one: start clean.
            cache_.erase(st.st_ino);
            journal({NamespaceOp::Kind::created, {dir_ino(parent_of(r))}, r, {}, {}});
        }
        return add_handle(std::move(fd), st.st_ino, path, fi);
    }

    int open(const char* path, fuse_file_info* fi) {
        if (is_ctl(path)) {
            fi->fh = k_ctl_handle;
            fi->direct_io = 1;
            return 0;
        }
        if (is_hidden(path)) return -ENOENT;
        netkeep::UniqueFd fd(
            ::openat(root_.get(), rel(path).c_str(), open_flags_for_backing(fi->flags)));
        if (fd.get() < 0) return -errno;
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return -errno;
        return add_handle(std::move(fd), st.st_ino, path, fi);
    }

    int read(char* buf, size_t size, off_t offset, fuse_file_info* fi) {
        if (fi->fh == k_ctl_handle) {
            std::string text = stats();
            if (static_cast<std::size_t>(offset) >= text.size()) return 0;
            std::size_t n = std::min(size, text.size() - static_cast<std::size_t>(offset));
            std::memcpy(buf, text.data() + offset, n);
            return static_cast<int>(n);
        }
        auto h = handles_.find(fi->fh);
        if (h == handles_.end()) return -EBADF;
        if (auto it = cache_.find(h->second.ino); it != cache_.end())
            return static_cast<int>(it->second.overlay.read(it->second.fd.get(), buf, size,
                                                            static_cast<std::uint64_t>(offset)));
        ssize_t n = ::pread(h->second.fd.get(), buf, size, offset);
        return n < 0 ? -errno : static_cast<int>(n);
    }

    int write(const char* path, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
        if (fi->fh == k_ctl_handle) return control(std::string_view(buf, size));
        auto h = handles_.find(fi->fh);
        if (h == handles_.end()) return -EBADF;
        Cached* c = cached(h->second.ino, h->second.fd.get(),
                           path != nullptr ? path : h->second.path.c_str());
        if (c == nullptr) return -errno;
        return static_cast<int>(
            c->overlay.write(c->fd.get(), buf, size, static_cast<std::uint64_t>(offset)));
    }

    int truncate(const char* path, off_t size, fuse_file_info* fi) {
        if (is_ctl(path) || (fi != nullptr && fi->fh == k_ctl_handle)) return 0;
        if (is_hidden(path)) return -ENOENT;
        netkeep::UniqueFd own;
        int fd = -1;
        ino_t ino = 0;
        if (fi != nullptr && handles_.contains(fi->fh)) {
            fd = handles_.at(fi->fh).fd.get();
            ino = handles_.at(fi->fh).ino;
            if (path == nullptr) path = handles_.at(fi->fh).path.c_str();
        } else {
            own = netkeep::UniqueFd(::openat(root_.get(), rel(path).c_str(), O_RDWR | O_CLOEXEC));
            if (own.get() < 0) return -errno;
            struct stat st {};
            if (::fstat(own.get(), &st) != 0) return -errno;
            fd = own.get();
            ino = st.st_ino;
        }
        Cached* c = cached(ino, fd, path);
        if (c == nullptr) return -errno;
        c->overlay.truncate(static_cast<std::uint64_t>(size));
        return 0;
    }

    int fallocate(const char* path, int mode, off_t offset, off_t length, fuse_file_info* fi) {
        if ((mode & ~FALLOC_FL_KEEP_SIZE) != 0) return -EOPNOTSUPP;
        // Reserving blocks is invisible in this model; growing the file is a truncate.
        if ((mode & FALLOC_FL_KEEP_SIZE) != 0) return 0;
        if (fi == nullptr || !handles_.contains(fi->fh)) return -EBADF;
        const Handle& h = handles_.at(fi->fh);
        Cached* c = cached(h.ino, h.fd.get(), path != nullptr ? path : h.path.c_str());
        if (c == nullptr) return -errno;
        auto end = static_cast<std::uint64_t>(offset + length);
        if (end > c->overlay.size()) c->overlay.truncate(end);
        return 0;
    }

    int fsync(fuse_file_info* fi) {
        if (fi->fh == k_ctl_handle) return 0;
        ++counters_.fsyncs;
        if (options_.ignore_fsync) return 0;
        auto h = handles_.find(fi->fh);
        if (h == handles_.end()) return -EBADF;
        if (int rc = flush_inode(h->second.ino); rc != 0) return rc;
        if (options_.namespace_mode == NamespaceMode::journal) persist_all_ops();
        return 0;
    }

    int release(fuse_file_info* fi) {
        handles_.erase(fi->fh);  // the overlay stays: close does not make data durable
        return 0;
    }

    // --- the power cut ------------------------------------------------------------------

    // Forgets everything not synced: overlays first, then namespace changes newest first.
    void drop() {
        ++counters_.drops;
        if (cache_.empty() && pending_.empty()) return;
        for (const auto& [ino, c] : cache_) {
            if (!c.overlay.changed()) continue;
            ++counters_.dropped_files;
            counters_.dropped_bytes += c.overlay.dirty_bytes();
            struct stat st {};
            off_t backing = ::fstat(c.fd.get(), &st) == 0 ? st.st_size : -1;
            log("drop: data of {} (ino {}): {} bytes written since the last fsync are lost; "
                "size {} -> {}",
                c.path, ino, c.overlay.dirty_bytes(), c.overlay.size(), backing);
        }
        cache_.clear();
        for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) undo(*it);
        pending_.clear();
        std::error_code ec;
        for (const auto& entry :
             std::filesystem::directory_iterator(backing_path(std::string(k_trash)), ec))
            std::filesystem::remove_all(entry.path(), ec);
        log("drop: done ({} files, {} bytes, {} namespace changes undone so far)",
            counters_.dropped_files, counters_.dropped_bytes, counters_.undone_ops);
    }

private:
    template <typename... Args>
    void log(fmt::format_string<Args...> format, Args&&... args) {
        fmt::print(stderr, "lossyfs: {}\n", fmt::format(format, std::forward<Args>(args)...));
        std::fflush(stderr);
    }

    std::string backing_path(const std::string& relative) const {
        return options_.backing + "/" + relative;
    }

    ino_t dir_ino(const std::string& relative) const {
        struct stat st {};
        return ::fstatat(root_.get(), relative.c_str(), &st, 0) == 0 ? st.st_ino : 0;
    }

    int check_empty(const std::string& relative) const {
        int fd = ::openat(root_.get(), relative.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return -errno;
        DIR* dir = ::fdopendir(fd);
        if (dir == nullptr) {
            ::close(fd);
            return -EIO;
        }
        int rc = 0;
        while (dirent* entry = ::readdir(dir)) {
            std::string_view name(entry->d_name);
            if (name != "." && name != "..") {
                rc = -ENOTEMPTY;
                break;
            }
        }
        ::closedir(dir);
        return rc;
    }

    std::string next_trash() { return fmt::format("{}/{}", k_trash, next_trash_++); }

    void remove_backing(const std::string& relative) {
        std::error_code ec;
        std::filesystem::remove_all(backing_path(relative), ec);
    }

    // unlink and rmdir: the entry is moved aside (same inode, so open handles and
    // overlays follow it) and really removed when the removal becomes durable.
    int park(const std::string& relative) {
        std::string trash = next_trash();
        if (::renameat(root_.get(), relative.c_str(), root_.get(), trash.c_str()) != 0)
            return -errno;
        journal({NamespaceOp::Kind::removed, {dir_ino(parent_of(relative))}, relative, {}, trash});
        return 0;
    }

    void journal(NamespaceOp op) {
        if (options_.namespace_mode == NamespaceMode::immediate)
            persist(op);
        else
            pending_.push_back(std::move(op));
    }

    void persist(const NamespaceOp& op) {
        if (!op.trash.empty()) remove_backing(op.trash);
    }

    void persist_all_ops() {
        for (const auto& op : pending_) persist(op);
        pending_.clear();
    }

    void undo(const NamespaceOp& op) {
        ++counters_.undone_ops;
        int rc = 0;
        switch (op.kind) {
            case NamespaceOp::Kind::created:
                rc = ::unlinkat(root_.get(), op.path.c_str(), 0);
                break;
            case NamespaceOp::Kind::made_dir: {
                std::error_code ec;
                std::filesystem::remove_all(backing_path(op.path), ec);
                rc = ec ? -1 : 0;
                break;
            }
            case NamespaceOp::Kind::removed:
                rc = ::renameat(root_.get(), op.trash.c_str(), root_.get(), op.path.c_str());
                break;
            case NamespaceOp::Kind::renamed:
                rc = ::renameat(root_.get(), op.path.c_str(), root_.get(), op.from.c_str());
                if (rc == 0 && !op.trash.empty())
                    rc = ::renameat(root_.get(), op.trash.c_str(), root_.get(), op.path.c_str());
                break;
        }
        if (op.kind == NamespaceOp::Kind::renamed)
            log("drop: undo rename {} -> {} (no fsync of its directory){}", op.from, op.path,
                rc == 0 ? "" : " FAILED");
        else
            log("drop: undo {} {} (no fsync of its directory){}", kind_name(op.kind), op.path,
                rc == 0 ? "" : " FAILED");
        if (rc != 0) ++counters_.undo_failures;
    }

    // The overlay of `ino`, made on first use with a descriptor of its own (a dup of `fd`).
    Cached* cached(ino_t ino, int fd, const char* path) {
        auto it = cache_.find(ino);
        if (it == cache_.end()) {
            struct stat st {};
            if (::fstat(fd, &st) != 0) return nullptr;
            netkeep::UniqueFd own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
            if (own.get() < 0) return nullptr;
            it = cache_
                     .emplace(ino, Cached{Overlay(static_cast<std::uint64_t>(st.st_size)),
                                          std::move(own),
                                          {}})
                     .first;
        }
        if (path != nullptr) it->second.path = path;
        return &it->second;
    }

    // Called with a freshly created file's descriptor: no overlay may survive for its inode.
    void forget_inode(int fd) {
        struct stat st {};
        if (::fstat(fd, &st) == 0) cache_.erase(st.st_ino);
    }

    int add_handle(netkeep::UniqueFd fd, ino_t ino, const char* path, fuse_file_info* fi) {
        if ((fi->flags & O_TRUNC) != 0 && (fi->flags & O_ACCMODE) != O_RDONLY) {
            Cached* c = cached(ino, fd.get(), path);
            if (c == nullptr) return -errno;
            c->overlay.truncate(0);
        }
        std::uint64_t id = next_handle_++;
        handles_.emplace(id, Handle{std::move(fd), ino, path != nullptr ? path : ""});
        fi->fh = id;
        fi->keep_cache = 0;  // the page cache must not outlive a drop
        return 0;
    }

    int flush_inode(ino_t ino) {
        auto it = cache_.find(ino);
        if (it == cache_.end()) return 0;
        int rc = it->second.overlay.flush_to(it->second.fd.get());
        cache_.erase(it);
        return rc;
    }

    // Control file: `drop`, `sync`, `stats` (a no-op: read the file for counters).
    int control(std::string_view text) {
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto end = text.find_first_of(" \t\r\n", pos);
            if (end == std::string_view::npos) end = text.size();
            std::string_view word = text.substr(pos, end - pos);
            pos = end + 1;
            if (word.empty() || word == "stats") continue;
            if (word == "drop") {
                drop();
            } else if (word == "sync") {
                for (auto& [ino, c] : cache_) c.overlay.flush_to(c.fd.get());
                cache_.clear();
                persist_all_ops();
                log("sync: everything is durable");
            } else {
                log("control: unknown command '{}' (drop, sync, stats)", word);
                return -EINVAL;
            }
        }
        return static_cast<int>(text.size());
    }

    std::string stats() const {
        std::uint64_t files = 0;
        std::uint64_t bytes = 0;
        for (const auto& [ino, c] : cache_) {
            if (!c.overlay.changed()) continue;
            ++files;
            bytes += c.overlay.dirty_bytes();
        }
        return fmt::format(
            "namespace {}\nignore_fsync {}\nunsynced_files {}\nunsynced_bytes {}\n"
            "pending_namespace_ops {}\nfsyncs {}\ndir_fsyncs {}\ndrops {}\ndropped_files {}\n"
            "dropped_bytes {}\nundone_namespace_ops {}\nundo_failures {}\n",
            mode_name(options_.namespace_mode), options_.ignore_fsync ? 1 : 0, files, bytes,
            pending_.size(), counters_.fsyncs, counters_.dir_fsyncs, counters_.drops,
            counters_.dropped_files, counters_.dropped_bytes, counters_.undone_ops,
            counters_.undo_failures);
    }

    Options options_;
    netkeep::UniqueFd root_;
    ino_t root_ino_ = 0;
    std::unordered_map<ino_t, Cached> cache_;
    std::unordered_map<std::uint64_t, Handle> handles_;
    std::uint64_t next_handle_ = 1;
    std::vector<NamespaceOp> pending_;
    std::uint64_t next_trash_ = 0;
    Counters counters_;
};

// --- FUSE glue: each callback forwards to the LossyFs given to fuse_main --------------------

LossyFs& fs() { return *static_cast<LossyFs*>(fuse_get_context()->private_data); }

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
    cfg->use_ino = 1;
    // No attribute or name caching in the kernel: after a drop it would be stale.
    cfg->attr_timeout = 0;
    cfg->entry_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    // Unlink an open file for real (no .fuse_hidden files); calls on it then come
    // with a null path and a handle.
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    // Writes must reach lossyfs when they are made, not when the kernel flushes.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    return fuse_get_context()->private_data;
}

const fuse_operations k_operations = [] {
    fuse_operations ops{};
    ops.init = op_init;
    ops.getattr = [](const char* p, struct stat* st, fuse_file_info* fi) {
        return fs().getattr(p, st, fi);
    };
    ops.readlink = [](const char* p, char* b, size_t n) { return fs().readlink(p, b, n); };
    ops.mknod = [](const char* p, mode_t m, dev_t d) { return fs().mknod(p, m, d); };
    ops.mkdir = [](const char* p, mode_t m) { return fs().mkdir(p, m); };
    ops.unlink = [](const char* p) { return fs().unlink(p); };
    ops.rmdir = [](const char* p) { return fs().rmdir(p); };
    ops.symlink = [](const char* t, const char* p) { return fs().symlink(t, p); };
    ops.rename = [](const char* f, const char* t, unsigned int fl) {
        return fs().rename(f, t, fl);
    };
    ops.link = [](const char* f, const char* t) { return fs().link(f, t); };
    ops.chmod = [](const char* p, mode_t m, fuse_file_info* fi) { return fs().chmod(p, m, fi); };
    ops.chown = [](const char* p, uid_t u, gid_t g, fuse_file_info* fi) {
        return fs().chown(p, u, g, fi);
    };
    ops.truncate = [](const char* p, off_t s, fuse_file_info* fi) {
        return fs().truncate(p, s, fi);
    };
    ops.open = [](const char* p, fuse_file_info* fi) { return fs().open(p, fi); };
    ops.read = [](const char*, char* b, size_t n, off_t o, fuse_file_info* fi) {
        return fs().read(b, n, o, fi);
    };
    ops.write = [](const char* p, const char* b, size_t n, off_t o, fuse_file_info* fi) {
        return fs().write(p, b, n, o, fi);
    };
    ops.statfs = [](const char*, struct statvfs* st) { return fs().statfs(st); };
    ops.flush = [](const char*, fuse_file_info*) { return 0; };
    ops.release = [](const char*, fuse_file_info* fi) { return fs().release(fi); };
    ops.fsync = [](const char*, int, fuse_file_info* fi) { return fs().fsync(fi); };
    ops.opendir = [](const char* p, fuse_file_info* fi) { return fs().opendir(p, fi); };
    ops.readdir = [](const char*, void* b, fuse_fill_dir_t f, off_t, fuse_file_info* fi,
                     fuse_readdir_flags) { return fs().readdir(fi, b, f); };
    ops.releasedir = [](const char*, fuse_file_info* fi) { return fs().release(fi); };
    ops.fsyncdir = [](const char*, int, fuse_file_info* fi) { return fs().fsyncdir(fi); };
    ops.access = [](const char* p, int m) { return fs().access(p, m); };
    ops.create = [](const char* p, mode_t m, fuse_file_info* fi) { return fs().create(p, m, fi); };
    ops.utimens = [](const char* p, const timespec tv[2], fuse_file_info* fi) {
        return fs().utimens(p, tv, fi);
    };
    ops.fallocate = [](const char* p, int m, off_t o, off_t l, fuse_file_info* fi) {
        return fs().fallocate(p, m, o, l, fi);
    };
    return ops;
}();

int usage() {
    std::fputs(
        "usage: lossyfs [--ignore-fsync] [--namespace strict|journal|immediate] [--debug]\n"
        "               BACKING_DIR MOUNTPOINT\n"
        "Passes through to BACKING_DIR but keeps unsynced data in memory; write `drop` to\n"
        "MOUNTPOINT/.lossyfs-ctl to lose it (a power cut), `sync` to persist it, read it for\n"
        "counters. Runs in the foreground; unmount (fusermount3 -u) to stop (a cut too).\n",
        stderr);
    return 2;
}

}  // namespace
}  // namespace lossyfs

int main(int argc, char** argv) {
    using namespace lossyfs;
    Options options;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg(argv[i]);
        if (arg == "--ignore-fsync") {
            options.ignore_fsync = true;
        } else if (arg == "--debug") {
            options.debug = true;
        } else if (arg == "--namespace" && i + 1 < argc) {
            std::string_view m(argv[++i]);
            if (m == "strict")
                options.namespace_mode = NamespaceMode::strict;
            else if (m == "journal")
                options.namespace_mode = NamespaceMode::journal;
            else if (m == "immediate")
                options.namespace_mode = NamespaceMode::immediate;
            else
                return usage();
        } else if (arg.starts_with("-")) {
            return usage();
        } else {
            positional.emplace_back(arg);
        }
    }
    if (positional.size() != 2) return usage();
    options.backing = std::filesystem::absolute(positional[0]).string();
    options.mountpoint = positional[1];

    LossyFs fs(options);
    if (int rc = fs.start(); rc != 0) {
        fmt::print(stderr, "lossyfs: cannot use {}: {}\n", options.backing, std::strerror(-rc));
        return 1;
    }
    std::string fsname = "fsname=lossyfs:" + options.backing + ",subtype=lossyfs";
    std::vector<std::string> args{argv[0], "-f", "-s", "-o", fsname, options.mountpoint};
    if (options.debug) args.emplace_back("-d");
    std::vector<char*> fuse_argv;
    for (auto& a : args) fuse_argv.push_back(a.data());
    fmt::print(stderr, "lossyfs: {} on {} (namespace {}, fsync {})\n", options.backing,
               options.mountpoint, mode_name(options.namespace_mode),
               options.ignore_fsync ? "IGNORED" : "honoured");
    std::fflush(stderr);
    int rc = fuse_main(static_cast<int>(fuse_argv.size()), fuse_argv.data(), &k_operations, &fs);
    // Unmounted: whatever was not synced is lost, as at a power cut.
    fs.drop();
    return rc;
}
