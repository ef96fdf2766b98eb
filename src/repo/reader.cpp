// The repository reader (netkeep/repo_reader.hpp): opening, the handle pool, blobs.

#include <fmt/format.h>

#include "repo/reader_impl.hpp"

namespace netkeep {

bool is_object_id(std::string_view s) {
    if (s.size() != GIT_OID_HEXSZ) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return true;
}

namespace repo {

HandlePool::Lease::~Lease() {
    if (pool_ && repo_) pool_->give_back(std::move(repo_), std::move(odb_));
}

Result<HandlePool::Lease> HandlePool::acquire() {
    {
        MutexLock lock(mutex_);
        if (!kept_.empty()) {
            Kept k = std::move(kept_.back());
            kept_.pop_back();
            return Lease(*this, std::move(k.repo), std::move(k.odb));
        }
    }
    // Opened outside the lock: opening reads the config and the pack indexes' list.
    git_repository* raw = nullptr;
    if (Status s = git_status(git_repository_open_bare(&raw, path_.c_str()), "opening " + path_);
        !s)
        return s;
    repository_ptr repo(raw);
    git_odb* odb = nullptr;
    if (Status s = git_status(git_repository_odb(&odb, repo.get()), "opening the object database");
        !s)
        return s;
    return Lease(*this, std::move(repo), odb_ptr(odb));
}

void HandlePool::give_back(repository_ptr repo, odb_ptr odb) {
    MutexLock lock(mutex_);
    if (kept_.size() < max_) kept_.push_back(Kept{std::move(repo), std::move(odb)});
}

Result<git_oid> parse_oid(std::string_view hex) {
    if (!is_object_id(hex)) return Status::invalid_argument("not an object id (40 hex digits)");
    git_oid oid;
    if (git_oid_fromstrn(&oid, hex.data(), hex.size()) < 0)
        return Status::invalid_argument("not an object id (40 hex digits)");
    return oid;
}

Status check_blob_header(git_odb* odb, const git_oid& id, std::uint64_t max_size) {
    std::size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    const std::string hex = gitwriter::hex_of(id);
    if (Status s = git_status(git_odb_read_header(&size, &type, odb, &id), "reading " + hex); !s)
        return s;
    if (type != GIT_OBJECT_BLOB) return Status::not_found(fmt::format("{}: not a blob", hex));
    if (size > max_size)
        return Status::too_large(
            fmt::format("blob {} has {} bytes, more than {}", hex, size, max_size));
    return Status::ok();
}

Result<odb_object_ptr> read_blob_object(git_odb* odb, const git_oid& id, std::uint64_t max_size) {
    if (Status s = check_blob_header(odb, id, max_size); !s) return s;
    git_odb_object* raw = nullptr;
    if (Status s = git_status(git_odb_read(&raw, odb, &id), "reading " + gitwriter::hex_of(id)); !s)
        return s;
    return odb_object_ptr(raw);
}

namespace {

// One attempt over the backends in priority order; GIT_ENOTFOUND when none has it.
int read_from_backends(git_odb* odb, const git_oid& id, std::uint64_t max_size, RawBlob& out,
                       std::size_t& size_seen) {
    git_oid copy = id;
    for (std::size_t i = 0; i < git_odb_num_backends(odb); ++i) {
        git_odb_backend* b = nullptr;
        if (git_odb_get_backend(&b, odb, i) < 0 || !b || !b->read) continue;
        std::size_t size = 0;
        git_object_t type = GIT_OBJECT_INVALID;
        if (b->read_header) {
            int rc = b->read_header(&size, &type, b, &copy);
            if (rc == GIT_ENOTFOUND || rc == GIT_PASSTHROUGH) continue;
            if (rc < 0) return rc;
            if (type != GIT_OBJECT_BLOB) return GIT_ENOTFOUND;
            if (size > max_size) {
                size_seen = size;
                return GIT_EBUFS;
            }
        }
        void* data = nullptr;
        int rc = b->read(&data, &size, &type, b, &copy);
        if (rc == GIT_ENOTFOUND || rc == GIT_PASSTHROUGH) continue;
        if (rc < 0) return rc;
        out.data = std::unique_ptr<void, RawBlob::Free>(data, RawBlob::Free{b});
        out.size = size;
        if (type != GIT_OBJECT_BLOB) return GIT_ENOTFOUND;
        if (size > max_size) {
            size_seen = size;
            return GIT_EBUFS;
        }
        return 0;
    }
    return GIT_ENOTFOUND;
}

}  // namespace

Result<RawBlob> read_blob_unverified(git_odb* odb, const git_oid& id, std::uint64_t max_size) {
    RawBlob blob;
    std::size_t size = 0;
    int rc = read_from_backends(odb, id, max_size, blob, size);
    // Published after this handle listed the packs: look again, as git_odb_read does.
    if (rc == GIT_ENOTFOUND && git_odb_refresh(odb) == 0)
        rc = read_from_backends(odb, id, max_size, blob, size);
    const std::string hex = gitwriter::hex_of(id);
    if (rc == GIT_EBUFS)
        return Status::too_large(
            fmt::format("blob {} has {} bytes, more than {}", hex, size, max_size));
    if (rc == GIT_ENOTFOUND) return Status::not_found(fmt::format("no blob {}", hex));
    if (Status s = git_status(rc, "reading " + hex); !s) return s;
    return blob;
}

namespace {

class LibgitReader final : public RepoReader {
public:
    LibgitReader(const std::string& path, std::size_t max_handles) : pool_(path, max_handles) {}

    Status check() { return pool_.acquire().status(); }

    Result<std::string> read_blob(std::string_view hex, std::uint64_t max_size) const override {
        auto oid = parse_oid(hex);
        if (!oid) return oid.status();
        return with_retry<std::string>(pool_, [&](HandlePool::Lease& lease) -> Result<std::string> {
            auto obj = read_blob_object(lease.odb(), *oid, max_size);
            if (!obj) return obj.status();
            return std::string(static_cast<const char*>(git_odb_object_data(obj->get())),
                               git_odb_object_size(obj->get()));
        });
    }

    Result<std::uint64_t> blob_size(std::string_view hex) const override {
        auto oid = parse_oid(hex);
        if (!oid) return oid.status();
        return with_retry<std::uint64_t>(
            pool_, [&](HandlePool::Lease& lease) -> Result<std::uint64_t> {
                std::size_t size = 0;
                git_object_t type = GIT_OBJECT_INVALID;
                if (Status s = git_status(git_odb_read_header(&size, &type, lease.odb(), &*oid),
                                          fmt::format("reading {}", hex));
                    !s)
                    return s;
                if (type != GIT_OBJECT_BLOB)
                    return Status::not_found(fmt::format("{}: not a blob", hex));
                return std::uint64_t(size);
            });
    }

    Result<BlobDiff> diff(std::string_view from, std::string_view to,
                          const DiffOptions& options) const override {
        return diff_blobs(pool_, from, to, options);
    }

    Result<SearchResult> search(std::span<const SearchTarget> targets, const Regex& regex,
                                const SearchOptions& options) const override {
        return search_blobs(pool_, targets, regex, options);
    }

private:
    // The pool changes under const calls: which handles are open is not the reader's state.
    mutable HandlePool pool_;
};

}  // namespace
}  // namespace repo

Result<std::unique_ptr<RepoReader>> RepoReader::open(const std::string& path,
                                                     std::size_t max_handles) {
    // libgit2 counts its initialisations; the git writer's Libgit2 object holds one too.
    static const gitwriter::Libgit2 libgit2;
    if (!libgit2.status()) return libgit2.status();
    auto reader = std::make_unique<repo::LibgitReader>(path, max_handles);
    if (Status s = reader->check(); !s) return s;
    return std::unique_ptr<RepoReader>(std::move(reader));
}

}  // namespace netkeep
