#pragma once
// The thin libgit2 layer of the git writer: RAII handles, the one place where libgit2's
// int + git_error_last() becomes a Status, and the few repository operations the writer
// needs. Internal to src/gitwriter (the only part that includes <git2.h>).

#include <git2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// The only conversion of libgit2 errors: rc < 0 becomes a Status naming `what` and
// libgit2's message; GIT_ENOTFOUND becomes not_found so callers can tell it apart.
Status git_status(int rc, std::string_view what);

template <typename T, void (*Free)(T*)>
struct git_deleter {
    void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using git_handle = std::unique_ptr<T, git_deleter<T, Free>>;

using repository_ptr = git_handle<git_repository, git_repository_free>;
using odb_ptr = git_handle<git_odb, git_odb_free>;
using odb_stream_ptr = git_handle<git_odb_stream, git_odb_stream_free>;
using commit_ptr = git_handle<git_commit, git_commit_free>;
using tree_ptr = git_handle<git_tree, git_tree_free>;
using tree_entry_ptr = git_handle<git_tree_entry, git_tree_entry_free>;
using treebuilder_ptr = git_handle<git_treebuilder, git_treebuilder_free>;
using signature_ptr = git_handle<git_signature, git_signature_free>;

// git_libgit2_init() for as long as one exists (libgit2 counts), with fsync of
// everything written into a git dir turned on: a commit the cursor has passed must
// survive power loss.
class Libgit2 {
public:
    Libgit2();
    ~Libgit2();
    Libgit2(const Libgit2&) = delete;
    Libgit2& operator=(const Libgit2&) = delete;
    const Status& status() const { return status_; }

private:
    Status status_;
    bool initialized_ = false;
};

// A blob written as it is read: libgit2 deflates it into a loose object without holding
// it in memory. The size is declared up front, as a git object header needs it.
class BlobWriter {
public:
    Status write(std::string_view data);
    Result<git_oid> finish();

private:
    friend class Repo;
    explicit BlobWriter(odb_stream_ptr stream) : stream_(std::move(stream)) {}
    odb_stream_ptr stream_;
};

class Repo {
public:
    // Opens the bare repository at path, or creates it with HEAD -> refs/heads/main.
    static Result<Repo> open_or_create(const std::string& path);

    // The Netkeep-Seq of the newest commit on main that has one (a hand-made commit on
    // top is passed over); nullopt for an unborn branch or no such commit.
    Result<std::optional<std::uint64_t>> last_seq_trailer() const;

    Result<BlobWriter> blob_writer(std::uint64_t size);

    // Commits `blob` at `path` on refs/heads/main, author and committer netkeep at
    // `time` (UTC), unless main's tree already has exactly that blob there. The commit
    // id, or nullopt when nothing changed. Only the trees along `path` are rewritten
    // (git_tree_create_updated), so the cost does not grow with the number of files.
    Result<std::optional<std::string>> commit_file(const std::string& path, const git_oid& blob,
                                                   unix_time time, const std::string& message);

    // Rereads the object database after `git gc` repacked it behind libgit2's back.
    Status refresh();

private:
    explicit Repo(repository_ptr repo) : repo_(std::move(repo)) {}
    Result<odb_ptr> odb();
    repository_ptr repo_;
};

}  // namespace netkeep::gitwriter
