#pragma once
// The spool: completion contents received from workers, waiting for the git writer.
// One file per completion under <data-dir>/spool. Large values do not belong in the
// event log (they would pass through RocksDB's WAL and memtable); the log records the
// file's name, size and SHA-256 instead.
//
// A file is written as ".incoming-*", hashed as it streams, then made durable under
// its final name (file fsync, rename, directory fsync) before the event that refers to
// it is appended. Incoming files left by a crash were never acknowledged: opening the
// spool removes them.

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/sha256.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

struct SpoolEntry {
    std::string name;  // relative to the spool dir
    std::uint64_t size = 0;
    std::string sha256;  // 32 raw bytes
};

// What the spool dir holds: every regular file, uploads in progress and the git writer's
// staging file included.
struct SpoolUsage {
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;  // apparent sizes
};

// A file being received. Not thread-safe; one per upload.
class SpoolFile {
public:
    SpoolFile(SpoolFile&&) noexcept;
    SpoolFile& operator=(SpoolFile&&) noexcept;
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;
    ~SpoolFile();  // removes the file unless commit() succeeded

    // Errors: no_space when the file system is full (ENOSPC, EDQUOT), else io_error.
    Status write(std::string_view chunk);
    std::uint64_t size() const { return size_; }

    // Durable under its final name when this returns. A failed sync is not retried: the
    // file is lost and the upload must be refused (no_space or io_error).
    Result<SpoolEntry> commit();

private:
    friend class Spool;
    SpoolFile(std::string dir, std::string name, int fd);
    void discard();

    std::string dir_;
    std::string name_;  // final name; the file is at ".incoming-" + name_ until commit
    int fd_ = -1;
    std::uint64_t size_ = 0;
    Sha256 hash_;
    bool committed_ = false;
};

class Spool {
public:
    // Creates the directory if needed (durably: its parent is synced) and removes incoming
    // files left by a crash.
    static Result<Spool> open(std::string dir);
    // The spool another part of the process opened, for a part that only reads and removes
    // its files (the git writer): creates nothing and removes nothing by itself.
    static Spool existing(std::string dir) { return Spool(std::move(dir)); }

    Result<SpoolFile> create();
    std::string path_of(std::string_view name) const;
    // Already gone is fine (a second attempt after a crash).
    Status remove(std::string_view name);
    // The names of the durable files (not ".incoming-*" or any other dot file) last
    // modified before `cutoff`: what a sweep may consider. One pass over the directory.
    Result<std::vector<std::string>> files_modified_before(timespec cutoff) const;
    // One pass over the directory: cost grows with the number of files, so callers run it
    // now and then on a blocking thread (netkeepd: every 30 s), never per request.
    Result<SpoolUsage> usage() const;
    const std::string& dir() const { return dir_; }

private:
    explicit Spool(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;
};

}  // namespace netkeep
