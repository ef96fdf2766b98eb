#pragma once
// Internals of the repository reader (netkeep/repo_reader.hpp): the pool of libgit2
// repository handles and the helpers diff.cpp and search.cpp share. Includes <git2.h>
// through the git writer's wrapper (gitwriter/git.hpp: the handles and git_status).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <memory>

#include "gitwriter/git.hpp"
#include "netkeep/mutex.hpp"
#include "netkeep/repo_reader.hpp"

namespace netkeep::repo {

using gitwriter::git_status;
using gitwriter::odb_ptr;
using gitwriter::repository_ptr;
using odb_object_ptr = gitwriter::git_handle<git_odb_object, git_odb_object_free>;

// Repository handles kept open for reuse. A handle is used by one thread at a time: a
// Lease takes it out of the pool and puts it back when it ends (unless discarded, after an
// error that may have come from the handle's stale view of the packs).
class HandlePool {
public:
    HandlePool(std::string path, std::size_t max_kept) : path_(std::move(path)), max_(max_kept) {}

    class Lease {
    public:
        Lease(HandlePool& pool, repository_ptr repo, odb_ptr odb)
            : pool_(&pool), repo_(std::move(repo)), odb_(std::move(odb)) {}
        Lease(Lease&&) noexcept = default;
        Lease& operator=(Lease&&) noexcept = default;
        ~Lease();
        git_repository* repo() const { return repo_.get(); }
        git_odb* odb() const { return odb_.get(); }
        void discard() {
            odb_.reset();
            repo_.reset();
        }

    private:
        HandlePool* pool_;
        repository_ptr repo_;
        odb_ptr odb_;
    };

    Result<Lease> acquire() EXCLUDES(mutex_);

private:
    void give_back(repository_ptr repo, odb_ptr odb) EXCLUDES(mutex_);

    const std::string path_;
    const std::size_t max_;
    Mutex mutex_;
    struct Kept {
        repository_ptr repo;
        odb_ptr odb;
    };
    std::vector<Kept> kept_ GUARDED_BY(mutex_);
};

// `hex` as an oid; invalid_argument unless 40 hex digits.
Result<git_oid> parse_oid(std::string_view hex);

// The object's header says it is a blob of at most `max_size` bytes: checked before a
// blob is inflated, so an oversized one costs nothing.
Status check_blob_header(git_odb* odb, const git_oid& id, std::uint64_t max_size);
// The object `id` read whole, checked to be a blob of at most max_size bytes.
Result<odb_object_ptr> read_blob_object(git_odb* odb, const git_oid& id, std::uint64_t max_size);

// A blob's bytes as an odb backend returned them.
struct RawBlob {
    struct Free {
        git_odb_backend* backend;
        void operator()(void* data) const { git_odb_backend_data_free(backend, data); }
    };
    std::unique_ptr<void, Free> data{nullptr, Free{nullptr}};
    std::size_t size = 0;
    std::string_view text() const { return {static_cast<const char*>(data.get()), size}; }
};

// The blob `id` read straight from the odb's backends, without the hash check
// git_odb_read makes by default (libgit2's strict hash verification: a SHA-1 of every
// object read, which was 80% of a search's time; git grep does not check either). The
// check is a process-wide option that the git writer's reads keep, so the search does not
// turn it off but skips it here. too_large past max_size (from the header, before the
// blob is inflated); not_found when no backend has it, after one refresh.
Result<RawBlob> read_blob_unverified(git_odb* odb, const git_oid& id, std::uint64_t max_size);

// Runs `op(lease)`; when it fails with anything but not_found/invalid_argument/too_large,
// once more on a fresh handle (git gc may have replaced the packs the old one had open).
template <typename T, typename Op>
Result<T> with_retry(HandlePool& pool, Op op) {
    for (int attempt = 0;; ++attempt) {
        auto lease = pool.acquire();
        if (!lease) return lease.status();
        Result<T> r = op(*lease);
        if (r) return r;
        auto code = r.status().code();
        if (attempt > 0 || code == Status::Code::not_found ||
            code == Status::Code::invalid_argument || code == Status::Code::too_large)
            return r;
        lease->discard();
    }
}

Result<BlobDiff> diff_blobs(HandlePool& pool, std::string_view from, std::string_view to,
                            const DiffOptions& options);

Result<SearchResult> search_blobs(HandlePool& pool, std::span<const SearchTarget> targets,
                                  const Regex& regex, const SearchOptions& options);

}  // namespace netkeep::repo
