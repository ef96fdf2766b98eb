#pragma once
// Read access to netkeep's git repository for the tools that check and copy it
// (netkeepctl verify and backup). The git writer's own repository code stays private to
// src/gitwriter; this is the read side, plus moving main in a backup's copy.
//
// No libgit2 type appears here: only src/gitwriter/ includes <git2.h>. Commit and blob
// ids are 40 hex digits.
//
// Threads: one object per thread (libgit2 repository handles are not shared).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep {

struct GitCommitInfo {
    std::string id;
    std::vector<std::string> parents;
    std::optional<std::uint64_t> seq;  // its Netkeep-Seq trailer (docs/git.md#commit-format)
    // Its place in the log: Netkeep-Retried-After for a late commit of a quarantined event
    // (docs/git.md#quarantine), else seq. Never decreases along main.
    std::optional<std::uint64_t> position;
    std::string subject;
};

class GitRepoReader {
public:
    virtual ~GitRepoReader() = default;

    // main's commit; nullopt while main is unborn (nothing committed yet).
    virtual Result<std::optional<std::string>> main_tip() const = 0;
    // Every commit reachable from main, newest first (topological order: a commit
    // before its parents).
    virtual Result<std::vector<GitCommitInfo>> main_history() const = 0;
    // Whether the repository holds a commit with this id (reachable or not).
    virtual Result<bool> has_commit(const std::string& id) const = 0;
    // The blob at path in commit; nullopt when the tree has no file there. NotFound when
    // the commit does not exist.
    virtual Result<std::optional<std::string>> blob_at(const std::string& commit,
                                                       const std::string& path) const = 0;
    // The files a commit adds, changes or deletes against its first parent (every file
    // for a root commit).
    virtual Result<std::vector<std::string>> changed_paths(const std::string& commit) const = 0;
    virtual Result<std::uint64_t> blob_size(const std::string& blob) const = 0;
    // The SHA-256 (32 raw bytes) of the blob's content. Reads the blob into memory.
    virtual Result<std::string> blob_sha256(const std::string& blob) const = 0;
    // Moves main to commit. Only for a copy (netkeepctl backup): never while a git
    // writer uses the repository.
    virtual Status set_main(const std::string& commit) = 0;
};

// Opens the bare repository at path. NotFound when there is none.
Result<std::unique_ptr<GitRepoReader>> open_git_repo_reader(const std::string& path);

}  // namespace netkeep
