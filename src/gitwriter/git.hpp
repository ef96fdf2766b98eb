#pragma once
// The thin libgit2 layer of the git writer: RAII handles, the one place where libgit2's
// int + git_error_last() becomes a Status, and the few repository operations the writer
// needs. Internal to src/gitwriter (the only part that includes <git2.h>).

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// The only conversion of libgit2 errors: rc < 0 becomes a Status naming `what` and
// libgit2's message; GIT_ENOTFOUND becomes not_found so callers can tell it apart.
Status git_status(int rc, std::string_view what);

// 40 hex digits.
std::string hex_of(const git_oid& oid);

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
using packbuilder_ptr = git_handle<git_packbuilder, git_packbuilder_free>;
using reference_ptr = git_handle<git_reference, git_reference_free>;

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

class Repo;
struct PackStore;

// A blob written as it is read, its size declared up front (a git object header needs
// it). Small blobs go to the batch in memory; large ones are deflated into a loose
// object on disk as they stream, never held in memory.
class BlobWriter {
public:
    Status write(std::string_view data);
    Result<git_oid> finish();

private:
    friend class Repo;
    explicit BlobWriter(odb_stream_ptr stream) : stream_(std::move(stream)) {}
    odb_stream_ptr stream_;
};

// The repository as the git writer uses it: commits are made in batches. Objects of a
// batch collect in memory (a libgit2 mempack) and publish() writes them as one pack (its
// own writer, gitwriter/pack.hpp), then moves main once. One pack and one ref update per batch
// instead of a loose file per object and a ref update per commit: file creation and fsync, not
// deflating, are what a commit costs (measured: tools/bench-complete, docs/git.md#performance).
//
// Not thread-safe: the git writer's thread owns it.
class Repo {
public:
    // Blobs up to this size are kept in the batch; larger ones go loose at once.
    static constexpr std::uint64_t k_batched_blob_max = 1 << 20;

    // Opens the bare repository at path, or creates it with HEAD -> refs/heads/main when
    // nothing is at path (durably: built aside, fsync'd, renamed into place). Something at
    // path that does not open is an io_error, never created over.
    static Result<Repo> open_or_create(const std::string& path);

    Repo(Repo&&) noexcept;
    Repo& operator=(Repo&&) noexcept;
    ~Repo();

    // The position (parse_position in netkeep/git_records.hpp: Netkeep-Retried-After, else
    // Netkeep-Seq) of the newest commit on main that has one (a hand-made commit on top is
    // passed over); nullopt for an unborn branch or no such commit.
    Result<std::optional<std::uint64_t>> last_position() const;

    // The commits on main whose position is greater than `after`: Netkeep-Seq and commit
    // id, newest first (a walk from main's tip that stops at the first position <= after).
    Result<std::vector<std::pair<std::uint64_t, std::string>>> commits_after(
        std::uint64_t after) const;

    // The late commit (one with Netkeep-Retried-After) of event `seq` among the commits
    // of position >= after; nullopt when there is none. Makes a late apply idempotent.
    Result<std::optional<std::string>> find_late_commit(std::uint64_t seq,
                                                        std::uint64_t after) const;

    Result<BlobWriter> blob_writer(std::uint64_t size);

    // The blob at `path` in commit `commit` (hex).
    Result<git_oid> blob_at(const std::string& commit, const std::string& path) const;

    // The blob at `path` where the next commit builds (the batch's tip, else main's);
    // nullopt when there is none (an unborn branch, or no such file).
    Result<std::optional<git_oid>> blob_at_tip(const std::string& path) const;

    // The blob at `path` in the newest commit on main whose position is below `seq`
    // (main as the writer saw it when it applied event `seq`); nullopt when none.
    Result<std::optional<git_oid>> blob_before(std::uint64_t seq, const std::string& path) const;

    // Feeds the content of blob `id` to `visit`, in pieces. The blob is one the writer
    // committed, so it is no larger than what it wrote there (libgit2 holds it whole).
    Status read_blob(const git_oid& id, const std::function<void(std::string_view)>& visit) const;

    // Commits `blob` at `path` on top of the batch (main's tip when the batch is empty),
    // author and committer netkeep at `time` (UTC), unless the tree already has exactly
    // that blob there and `always` is false. The commit id, or nullopt when nothing
    // changed. Only the trees along `path` are rewritten (git_tree_create_updated), so the
    // cost does not grow with the number of files. main does not move until publish().
    Result<std::optional<std::string>> commit_file(const std::string& path, const git_oid& blob,
                                                   unix_time time, const std::string& message,
                                                   bool always);

    // Commits made since the last publish(), and the bytes of the objects they hold in memory.
    std::size_t pending_commits() const { return batch_commits_; }
    std::uint64_t pending_bytes() const { return batch_bytes_; }

    // Writes the batch's objects as one pack (PackWriter: .pack then .idx, each fsync'd),
    // then moves main to the batch's last commit, compare-and-swap on the
    // tip the batch started from. Nothing to do for an empty batch. On failure the batch
    // is discarded: main has not moved, and the caller applies its events again.
    Status publish();
    // Drops the batch's commits and objects; main stays where it is.
    void discard();

    // Rereads the object database after `git gc` repacked it behind libgit2's back.
    Status refresh();

    // Tests only (GitWriterOptions::test_publish_step).
    void set_test_step(std::function<void(std::string_view)> step) { test_step_ = std::move(step); }

private:
    Repo(repository_ptr repo, git_odb_backend* mempack, odb_ptr loose, std::string pack_dir);
    static Result<odb_ptr> open_writer_odb(const std::string& objects, git_odb_backend*& mempack,
                                           PackStore*& packs);
    Result<odb_ptr> odb() const;
    // The tip the next commit builds on: the batch's last commit, else main's.
    Result<std::optional<git_oid>> tip() const;
    // The steps of commit_file(); each adds the objects it writes to batch_objects_.
    // An empty tree to build the first commit on.
    Result<tree_ptr> empty_tree();
    // baseline with blob at path: only the trees along path are rewritten.
    Result<tree_ptr> updated_tree(git_tree* baseline, const std::string& path, const git_oid& blob);
    // A commit of tree on parent (none: a root commit), by netkeep at `time`; no ref moves.
    // The batch's objects as one pack file and its index in pack_dir_, durably.
    Status write_pack();
    Result<git_oid> create_commit(const git_tree* tree, const git_commit* parent, unix_time time,
                                  const std::string& message);

    repository_ptr repo_;
    git_odb_backend* mempack_ = nullptr;  // owned by the repository's odb
    PackStore* packs_ = nullptr;          // owned by the repository's odb
    odb_ptr loose_;                       // the same objects dir, loose backend only: large blobs
    std::string pack_dir_;
    std::optional<git_oid> batch_base_;  // main when the batch began (nullopt: unborn)
    std::optional<git_oid> batch_tip_;   // the batch's last commit
    bool batch_open_ = false;
    struct BatchObject {
        git_oid id;
        std::string path;  // where in the tree ("" for the root tree and commits)
    };
    std::vector<BatchObject> batch_objects_;  // what the batch's commits added
    std::function<void(std::string_view)> test_step_;
    std::size_t batch_commits_ = 0;
    std::uint64_t batch_bytes_ = 0;
};

}  // namespace netkeep::gitwriter
