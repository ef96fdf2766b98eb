#include "gitwriter/git.hpp"

#include <git2/sys/repository.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>

#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "gitwriter/format.hpp"
#include "gitwriter/pack.hpp"
#include "netkeep/durable.hpp"

namespace netkeep::gitwriter {

namespace {

constexpr const char* k_branch = "refs/heads/main";
constexpr const char* k_name = "netkeep";
constexpr const char* k_email = "netkeep@localhost";

}  // namespace

std::string hex_of(const git_oid& oid) {
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof hex, &oid);
    return hex;
}

Status git_status(int rc, std::string_view what) {
    if (rc >= 0) return Status::ok();
    const git_error* e = git_error_last();
    std::string message =
        fmt::format("git: {}: {}", what, e && e->message ? e->message : "unknown error");
    if (rc == GIT_ENOTFOUND) return Status::not_found(std::move(message));
    return Status::io_error(std::move(message));
}

Libgit2::Libgit2() {
    status_ = git_status(git_libgit2_init(), "init");
    initialized_ = status_.is_ok();
    if (status_)
        status_ = git_status(git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1), "enable fsync");
    // Keep parsed trees up to 4 MiB in libgit2's object cache (default: 4 KB). A commit
    // reads the tree its predecessor wrote; with 10,000 devices under the root that tree
    // is 350 KB, and parsing it again for every commit was a good part of a commit's CPU.
    if (status_)
        status_ = git_status(
            git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, std::size_t(4) << 20),
            "setting the tree cache limit");
}

Libgit2::~Libgit2() {
    if (initialized_) git_libgit2_shutdown();
}

Status BlobWriter::write(std::string_view data) {
    return git_status(git_odb_stream_write(stream_.get(), data.data(), data.size()),
                      "writing a blob");
}

Result<git_oid> BlobWriter::finish() {
    git_oid oid;
    if (Status s =
            git_status(git_odb_stream_finalize_write(&oid, stream_.get()), "finishing a blob");
        !s)
        return s;
    return oid;
}

namespace {

// A new repository appears complete or not at all: libgit2 builds it in a sibling
// temporary directory, every file and directory in it is fsync'd, then it is renamed into
// place and the parent fsync'd. (Made in place, a power cut shortly after the first start
// left HEAD and config empty: a repository git could no longer open.)
Status create_repository(const std::string& path) {
    std::string tmp = fmt::format("{}.creating-{}", path, ::getpid());
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);  // a leftover of an earlier crash at this step
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    git_repository_init_options options = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    options.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
    options.initial_head = "main";
    git_repository* raw = nullptr;
    Status s = git_status(git_repository_init_ext(&raw, tmp.c_str(), &options),
                          fmt::format("creating {}", path));
    repository_ptr(raw).reset();
    if (s) s = sync_tree(tmp);
    if (s && ::rename(tmp.c_str(), path.c_str()) != 0)
        s = Status::io_error(fmt::format("renaming {} to {}: {}", tmp, path, std::strerror(errno)));
    if (s) s = sync_directory(std::filesystem::path(path).parent_path().string());
    if (!s) std::filesystem::remove_all(tmp, ec);
    return s;
}

}  // namespace

// The packs, as libgit2's pack backend reads them, but rescanned only when the writer
// says so (Repo::refresh: after its own publish and after `git gc`). libgit2 rescans
// objects/pack whenever a lookup misses, and every new object is one (git_odb_write first
// looks for an existing copy): a directory read per object, growing with the packs
// between two gc runs, a tenth of the writer's CPU. Nothing else adds packs the writer
// must see: it owns the repository.
struct PackStore {
    git_odb_backend parent;  // first: libgit2 passes &parent, which is this
    git_odb_backend* inner = nullptr;
    bool allow_refresh = false;

    static PackStore* self(git_odb_backend* b) { return reinterpret_cast<PackStore*>(b); }
    static git_odb_backend* in(git_odb_backend* b) {
        PackStore* p = self(b);
        p->inner->odb = p->parent.odb;
        return p->inner;
    }
    static int read(void** data, size_t* len, git_object_t* type, git_odb_backend* b,
                    const git_oid* id) {
        return in(b)->read(data, len, type, in(b), id);
    }
    static int read_prefix(git_oid* out, void** data, size_t* len, git_object_t* type,
                           git_odb_backend* b, const git_oid* id, size_t n) {
        return in(b)->read_prefix(out, data, len, type, in(b), id, n);
    }
    static int read_header(size_t* len, git_object_t* type, git_odb_backend* b, const git_oid* id) {
        return in(b)->read_header(len, type, in(b), id);
    }
    static int exists(git_odb_backend* b, const git_oid* id) { return in(b)->exists(in(b), id); }
    static int exists_prefix(git_oid* out, git_odb_backend* b, const git_oid* id, size_t n) {
        return in(b)->exists_prefix(out, in(b), id, n);
    }
    static int freshen(git_odb_backend* b, const git_oid* id) { return in(b)->freshen(in(b), id); }
    static int foreach (git_odb_backend* b, git_odb_foreach_cb cb, void* payload) {
        return in(b)->foreach (in(b), cb, payload);
    }
    static int refresh(git_odb_backend* b) {
        return self(b)->allow_refresh ? in(b)->refresh(in(b)) : 0;
    }
    static void free(git_odb_backend* b) {
        // Made by open_writer_odb with make_unique and released to the odb, which frees
        // it through this.
        std::unique_ptr<PackStore> owned(self(b));
        owned->inner->free(owned->inner);
    }
};
static_assert(std::is_standard_layout_v<PackStore>);

namespace {

Status add_backend(git_odb* odb, git_odb_backend* backend, int priority, std::string_view what) {
    if (Status s = git_status(git_odb_add_backend(odb, backend, priority), what); !s) {
        backend->free(backend);
        return s;
    }
    return Status::ok();
}

}  // namespace

// The writer's object database: the batch in memory first (every write lands there),
// then the packs (PackStore), then loose objects (large blobs, and what git left).
Result<odb_ptr> Repo::open_writer_odb(const std::string& objects, git_odb_backend*& mempack,
                                      PackStore*& packs) {
    git_odb* raw = nullptr;
    if (Status s = git_status(git_odb_new(&raw), "creating an object database"); !s) return s;
    odb_ptr odb(raw);
    if (Status s = git_status(git_mempack_new(&mempack), "creating the in-memory batch"); !s)
        return s;
    if (Status s = add_backend(odb.get(), mempack, 999, "adding the in-memory batch"); !s) return s;
    git_odb_backend* pack = nullptr;
    if (Status s =
            git_status(git_odb_backend_pack(&pack, objects.c_str()), "opening the pack store");
        !s)
        return s;
    auto store = std::make_unique<PackStore>();
    if (Status s = git_status(git_odb_init_backend(&store->parent, GIT_ODB_BACKEND_VERSION),
                              "initializing the pack store");
        !s) {
        pack->free(pack);
        return s;
    }
    store->inner = pack;
    git_odb_backend& p = store->parent;
    p.read = &PackStore::read;
    p.read_prefix = &PackStore::read_prefix;
    p.read_header = &PackStore::read_header;
    p.exists = &PackStore::exists;
    p.exists_prefix = &PackStore::exists_prefix;
    p.freshen = &PackStore::freshen;
    p.foreach = &PackStore::foreach;
    p.refresh = &PackStore::refresh;
    p.free = &PackStore::free;
    packs = store.get();
    if (Status s = add_backend(odb.get(), &store.release()->parent, 2, "adding the pack store"); !s)
        return s;
    git_odb_backend* loose = nullptr;
    if (Status s = git_status(git_odb_backend_loose(&loose, objects.c_str(), -1, 1, 0, 0),
                              "opening the loose object store");
        !s)
        return s;
    if (Status s = add_backend(odb.get(), loose, 1, "adding the loose object store"); !s) return s;
    // The packs as they are now.
    packs->allow_refresh = true;
    Status s = git_status(git_odb_refresh(odb.get()), "reading the packs");
    packs->allow_refresh = false;
    if (!s) return s;
    return odb;
}

Result<Repo> Repo::open_or_create(const std::string& path) {
    git_repository* raw = nullptr;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) {
        if (Status s = create_repository(path); !s) return s;
    }
    int rc = git_repository_open_bare(&raw, path.c_str());
    if (Status s = git_status(rc, fmt::format("opening {}", path)); !s) {
        // Something is at path but it is not a repository: never created over (it may be
        // the operator's repository, half restored); not_found would read as "absent".
        return Status::io_error(s.message());
    }
    repository_ptr repo(raw);

    std::string objects = path + "/objects";
    git_odb_backend* mempack = nullptr;
    PackStore* packs = nullptr;
    auto odb = open_writer_odb(objects, mempack, packs);
    if (!odb) return odb.status();
    if (Status s = git_status(git_repository_set_odb(repo.get(), odb->get()),
                              "setting the object database");
        !s)
        return s;

    git_odb* loose_raw = nullptr;
    if (Status s = git_status(git_odb_new(&loose_raw), "creating an object database"); !s) return s;
    odb_ptr loose(loose_raw);
    git_odb_backend* loose_backend = nullptr;
    if (Status s = git_status(git_odb_backend_loose(&loose_backend, objects.c_str(), -1, 1, 0, 0),
                              "opening the loose object store");
        !s)
        return s;
    if (Status s = git_status(git_odb_add_backend(loose.get(), loose_backend, 1),
                              "adding the loose object store");
        !s) {
        loose_backend->free(loose_backend);
        return s;
    }

    Repo opened(std::move(repo), mempack, std::move(loose), path + "/objects/pack");
    opened.packs_ = packs;
    return opened;
}

Repo::Repo(repository_ptr repo, git_odb_backend* mempack, odb_ptr loose, std::string pack_dir)
    : repo_(std::move(repo)),
      mempack_(mempack),
      loose_(std::move(loose)),
      pack_dir_(std::move(pack_dir)) {}
Repo::Repo(Repo&&) noexcept = default;
Repo& Repo::operator=(Repo&&) noexcept = default;
Repo::~Repo() = default;

namespace {

Result<commit_ptr> lookup_commit(git_repository* repo, const git_oid& oid) {
    git_commit* raw = nullptr;
    if (Status s = git_status(git_commit_lookup(&raw, repo, &oid), "reading a commit"); !s)
        return s;
    return commit_ptr(raw);
}

Result<commit_ptr> parent_of(const git_commit* commit) {
    git_commit* raw = nullptr;
    if (Status s = git_status(git_commit_parent(&raw, commit, 0), "reading a parent commit"); !s)
        return s;
    return commit_ptr(raw);
}

// main's commit, or nullopt for an unborn branch.
Result<std::optional<git_oid>> main_tip(git_repository* repo) {
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo, k_branch);
    if (rc == GIT_ENOTFOUND) return std::optional<git_oid>();
    if (Status s = git_status(rc, "reading refs/heads/main"); !s) return s;
    return std::optional<git_oid>(oid);
}

}  // namespace

Result<std::optional<std::uint64_t>> Repo::last_position() const {
    auto tip = main_tip(repo_.get());
    if (!tip) return tip.status();
    if (!*tip) return std::optional<std::uint64_t>();
    auto commit = lookup_commit(repo_.get(), **tip);
    if (!commit) return commit.status();
    for (;;) {
        if (auto position = parse_position(git_commit_message(commit->get()))) return position;
        if (git_commit_parentcount(commit->get()) == 0) return std::optional<std::uint64_t>();
        commit = parent_of(commit->get());
        if (!commit) return commit.status();
    }
}

Result<std::vector<std::pair<std::uint64_t, std::string>>> Repo::commits_after(
    std::uint64_t after) const {
    std::vector<std::pair<std::uint64_t, std::string>> found;
    auto tip = main_tip(repo_.get());
    if (!tip) return tip.status();
    if (!*tip) return found;
    auto commit = lookup_commit(repo_.get(), **tip);
    if (!commit) return commit.status();
    for (;;) {
        const char* message = git_commit_message(commit->get());
        if (auto position = parse_position(message)) {
            if (*position <= after) return found;
            found.emplace_back(*parse_seq_trailer(message), hex_of(*git_commit_id(commit->get())));
        }
        if (git_commit_parentcount(commit->get()) == 0) return found;
        commit = parent_of(commit->get());
        if (!commit) return commit.status();
    }
}

Result<std::optional<std::string>> Repo::find_late_commit(std::uint64_t seq,
                                                          std::uint64_t after) const {
    auto tip = main_tip(repo_.get());
    if (!tip) return tip.status();
    if (!*tip) return std::optional<std::string>();
    auto commit = lookup_commit(repo_.get(), **tip);
    if (!commit) return commit.status();
    for (;;) {
        const char* message = git_commit_message(commit->get());
        if (auto position = parse_position(message)) {
            if (*position < after) return std::optional<std::string>();
            if (parse_seq_trailer(message) == seq &&
                parse_u64_trailer(message, k_retried_after_trailer))
                return std::optional<std::string>(hex_of(*git_commit_id(commit->get())));
        }
        if (git_commit_parentcount(commit->get()) == 0) return std::optional<std::string>();
        commit = parent_of(commit->get());
        if (!commit) return commit.status();
    }
}

Result<odb_ptr> Repo::odb() const {
    git_odb* odb_raw = nullptr;
    if (Status s =
            git_status(git_repository_odb(&odb_raw, repo_.get()), "opening the object database");
        !s)
        return s;
    return odb_ptr(odb_raw);
}

Result<BlobWriter> Repo::blob_writer(std::uint64_t size) {
    odb_ptr batched;
    git_odb* odb = loose_.get();
    if (size <= k_batched_blob_max) {
        auto o = this->odb();
        if (!o) return o.status();
        batched = std::move(*o);
        odb = batched.get();
        batch_bytes_ += size;
    }
    git_odb_stream* stream = nullptr;
    if (Status s = git_status(git_odb_open_wstream(&stream, odb, size, GIT_OBJECT_BLOB),
                              "opening a blob stream");
        !s)
        return s;
    return BlobWriter(odb_stream_ptr(stream));
}

Result<git_oid> Repo::blob_at(const std::string& commit, const std::string& path) const {
    git_oid oid;
    if (Status s = git_status(git_oid_fromstr(&oid, commit.c_str()), "parsing a commit id"); !s)
        return s;
    auto c = lookup_commit(repo_.get(), oid);
    if (!c) return c.status();
    git_tree* t = nullptr;
    if (Status s = git_status(git_commit_tree(&t, c->get()), "reading a commit's tree"); !s)
        return s;
    tree_ptr tree(t);
    git_tree_entry* e = nullptr;
    if (Status s = git_status(git_tree_entry_bypath(&e, tree.get(), path.c_str()),
                              fmt::format("looking up {}", path));
        !s)
        return s;
    tree_entry_ptr entry(e);
    return *git_tree_entry_id(entry.get());
}

namespace {

// The blob at path in commit's tree; nullopt when the tree has no file there.
Result<std::optional<git_oid>> file_in(const git_commit* commit, const std::string& path) {
    git_tree* t = nullptr;
    if (Status s = git_status(git_commit_tree(&t, commit), "reading a commit's tree"); !s) return s;
    tree_ptr tree(t);
    git_tree_entry* e = nullptr;
    int rc = git_tree_entry_bypath(&e, tree.get(), path.c_str());
    if (rc == GIT_ENOTFOUND) return std::optional<git_oid>();
    if (Status s = git_status(rc, fmt::format("looking up {}", path)); !s) return s;
    tree_entry_ptr entry(e);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::optional<git_oid>();
    return std::optional<git_oid>(*git_tree_entry_id(entry.get()));
}

}  // namespace

Result<std::optional<git_oid>> Repo::blob_at_tip(const std::string& path) const {
    auto tip_oid = tip();
    if (!tip_oid) return tip_oid.status();
    if (!*tip_oid) return std::optional<git_oid>();
    auto c = lookup_commit(repo_.get(), **tip_oid);
    if (!c) return c.status();
    return file_in(c->get(), path);
}

Result<std::optional<git_oid>> Repo::blob_before(std::uint64_t seq, const std::string& path) const {
    auto tip = main_tip(repo_.get());
    if (!tip) return tip.status();
    if (!*tip) return std::optional<git_oid>();
    auto commit = lookup_commit(repo_.get(), **tip);
    if (!commit) return commit.status();
    for (;;) {
        auto position = parse_position(git_commit_message(commit->get()));
        if (position && *position < seq) return file_in(commit->get(), path);
        if (git_commit_parentcount(commit->get()) == 0) return std::optional<git_oid>();
        commit = parent_of(commit->get());
        if (!commit) return commit.status();
    }
}

Status Repo::read_blob(const git_oid& id,
                       const std::function<void(std::string_view)>& visit) const {
    git_blob* raw = nullptr;
    if (Status s = git_status(git_blob_lookup(&raw, repo_.get(), &id),
                              fmt::format("reading blob {}", hex_of(id)));
        !s)
        return s;
    git_handle<git_blob, git_blob_free> blob(raw);
    std::string_view content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                             static_cast<std::size_t>(git_blob_rawsize(blob.get())));
    constexpr std::size_t k_piece = 1 << 16;
    while (!content.empty()) {
        visit(content.substr(0, k_piece));
        content.remove_prefix(std::min(content.size(), k_piece));
    }
    return Status::ok();
}

Result<std::optional<git_oid>> Repo::tip() const {
    if (batch_tip_) return batch_tip_;
    return main_tip(repo_.get());
}

namespace {

Result<tree_ptr> tree_of(const git_commit* commit) {
    git_tree* t = nullptr;
    if (Status s = git_status(git_commit_tree(&t, commit), "reading main's tree"); !s) return s;
    return tree_ptr(t);
}

// Whether tree has exactly `blob` at path, as a regular file.
Result<bool> holds_blob(const git_tree* tree, const std::string& path, const git_oid& blob) {
    git_tree_entry* e = nullptr;
    int rc = git_tree_entry_bypath(&e, tree, path.c_str());
    if (rc == GIT_ENOTFOUND) return false;
    if (Status s = git_status(rc, fmt::format("looking up {}", path)); !s) return s;
    tree_entry_ptr entry(e);
    return git_oid_equal(git_tree_entry_id(entry.get()), &blob) &&
           git_tree_entry_filemode(entry.get()) == GIT_FILEMODE_BLOB;
}

}  // namespace

Result<std::optional<std::string>> Repo::commit_file(const std::string& path, const git_oid& blob,
                                                     unix_time time, const std::string& message,
                                                     bool always) {
    if (!batch_open_) {
        auto base = main_tip(repo_.get());
        if (!base) return base.status();
        batch_base_ = *base;
        batch_open_ = true;
    }
    auto tip_oid = tip();
    if (!tip_oid) return tip_oid.status();
    commit_ptr tip;
    Result<tree_ptr> baseline = Status::unavailable("no tree");
    if (*tip_oid) {
        auto c = lookup_commit(repo_.get(), **tip_oid);
        if (!c) return c.status();
        tip = std::move(*c);
        baseline = tree_of(tip.get());
        if (!baseline) return baseline.status();
        auto same = holds_blob(baseline->get(), path, blob);
        if (!same) return same.status();
        if (!always && *same) return std::optional<std::string>();  // same content: no commit
    } else {
        baseline = empty_tree();  // the first commit
        if (!baseline) return baseline.status();
    }
    auto tree = updated_tree(baseline->get(), path, blob);
    if (!tree) return tree.status();
    auto commit = create_commit(tree->get(), tip.get(), time, message);
    if (!commit) return commit.status();
    batch_tip_ = *commit;
    ++batch_commits_;
    return std::optional<std::string>(hex_of(*commit));
}

Result<tree_ptr> Repo::empty_tree() {
    git_repository* repo = repo_.get();
    git_treebuilder* b = nullptr;
    if (Status s = git_status(git_treebuilder_new(&b, repo, nullptr), "creating a tree"); !s)
        return s;
    treebuilder_ptr builder(b);
    git_oid empty;
    if (Status s =
            git_status(git_treebuilder_write(&empty, builder.get()), "writing the empty tree");
        !s)
        return s;
    batch_objects_.push_back({empty, ""});
    git_tree* t = nullptr;
    if (Status s = git_status(git_tree_lookup(&t, repo, &empty), "reading the empty tree"); !s)
        return s;
    return tree_ptr(t);
}

Result<tree_ptr> Repo::updated_tree(git_tree* baseline, const std::string& path,
                                    const git_oid& blob) {
    git_repository* repo = repo_.get();
    git_tree_update update{};
    update.action = GIT_TREE_UPDATE_UPSERT;
    update.id = blob;
    update.filemode = GIT_FILEMODE_BLOB;
    update.path = path.c_str();
    git_oid tree_oid;
    if (Status s = git_status(git_tree_create_updated(&tree_oid, repo, baseline, 1, &update),
                              fmt::format("updating the tree at {}", path));
        !s)
        return s;
    git_tree* t = nullptr;
    if (Status s = git_status(git_tree_lookup(&t, repo, &tree_oid), "reading the new tree"); !s)
        return s;
    tree_ptr tree(t);
    // The objects this commit adds: the blob, and the trees along its path.
    batch_objects_.push_back({blob, path});
    batch_objects_.push_back({tree_oid, ""});
    for (auto slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        git_tree_entry* e = nullptr;
        if (Status s =
                git_status(git_tree_entry_bypath(&e, tree.get(), path.substr(0, slash).c_str()),
                           fmt::format("reading the new tree at {}", path.substr(0, slash)));
            !s)
            return s;
        tree_entry_ptr entry(e);
        batch_objects_.push_back({*git_tree_entry_id(entry.get()), path.substr(0, slash)});
    }
    return tree;
}

Result<git_oid> Repo::create_commit(const git_tree* tree, const git_commit* parent, unix_time time,
                                    const std::string& message) {
    git_signature* sig_raw = nullptr;
    if (Status s = git_status(
            git_signature_new(&sig_raw, k_name, k_email, static_cast<git_time_t>(time), 0),
            "making the signature");
        !s)
        return s;
    signature_ptr sig(sig_raw);
    const git_commit* parents[1] = {parent};
    git_oid commit_oid;
    // No ref update here: publish() moves main once for the whole batch.
    if (Status s =
            git_status(git_commit_create(&commit_oid, repo_.get(), nullptr, sig.get(), sig.get(),
                                         nullptr, message.c_str(), tree, parent ? 1 : 0, parents),
                       "committing");
        !s)
        return s;
    batch_objects_.push_back({commit_oid, ""});
    return commit_oid;
}

// The batch's objects as one pack (gitwriter/pack.hpp), in the order they were made, so a
// tree's earlier version in the batch comes first and serves as its delta base. Only
// what is in memory: large blobs are loose already, and an object found unchanged
// elsewhere in the repository need not be written twice. (libgit2's pack builder searched
// deltas between unrelated objects and its indexer inflated and hashed everything again:
// together most of netkeepd's CPU per completion, docs/git.md#performance.)
Status Repo::write_pack() {
    auto odb = this->odb();
    if (!odb) return odb.status();
    using odb_object_ptr = git_handle<git_odb_object, git_odb_object_free>;
    PackWriter pack;
    std::unordered_set<std::string> written;  // ids, raw
    // The newest version of each tree path in the pack: its position and its content.
    std::unordered_map<std::string, std::pair<std::size_t, odb_object_ptr>> trees;
    for (const auto& [oid, path] : batch_objects_) {
        std::string raw_id(reinterpret_cast<const char*>(oid.id), GIT_OID_RAWSZ);
        if (written.contains(raw_id) || mempack_->exists(mempack_, &oid) != 1) continue;
        written.insert(std::move(raw_id));
        git_odb_object* raw = nullptr;
        if (Status s = git_status(git_odb_read(&raw, odb->get(), &oid),
                                  fmt::format("reading object {}", hex_of(oid)));
            !s)
            return s;
        odb_object_ptr object(raw);
        std::string_view data(static_cast<const char*>(git_odb_object_data(object.get())),
                              git_odb_object_size(object.get()));
        const git_object_t type = git_odb_object_type(object.get());
        if (type != GIT_OBJECT_TREE) {
            pack.add(oid.id, PackType(type), data);
            continue;
        }
        auto previous = trees.find(path);
        if (previous == trees.end()) {
            trees.emplace(path,
                          std::pair(pack.add(oid.id, PackType::tree, data), std::move(object)));
            continue;
        }
        auto& [base, base_object] = previous->second;
        std::string_view base_data(static_cast<const char*>(git_odb_object_data(base_object.get())),
                                   git_odb_object_size(base_object.get()));
        base = pack.add_delta(oid.id, PackType::tree, data, base, base_data);
        base_object = std::move(object);
    }
    if (pack.size() == 0) return Status::ok();
    auto name = pack.write(pack_dir_, [&] {
        if (test_step_) test_step_("pack");
    });
    if (!name) return name.status();
    if (test_step_) test_step_("index");
    return Status::ok();
}

Status Repo::publish() {
    if (!batch_tip_) {
        discard();  // unchanged blobs only: nothing to keep
        return Status::ok();
    }
    Status s = [&]() -> Status {
        if (Status s = write_pack(); !s) return s;
        if (Status s = refresh(); !s) return s;
        // Compare-and-swap: refuses if main moved since the batch began.
        git_reference* ref = nullptr;
        int rc =
            batch_base_
                ? git_reference_create_matching(&ref, repo_.get(), k_branch, &*batch_tip_, 1,
                                                &*batch_base_, "netkeep")
                : git_reference_create(&ref, repo_.get(), k_branch, &*batch_tip_, 0, "netkeep");
        reference_ptr owned(ref);
        return git_status(rc, "moving main");
    }();
    discard();
    return s;
}

void Repo::discard() {
    git_mempack_reset(mempack_);
    batch_base_.reset();
    batch_tip_.reset();
    batch_open_ = false;
    batch_objects_.clear();
    batch_commits_ = 0;
    batch_bytes_ = 0;
}

Status Repo::refresh() {
    auto odb = this->odb();
    if (!odb) return odb.status();
    if (packs_) packs_->allow_refresh = true;
    Status s = git_status(git_odb_refresh(odb->get()), "refreshing the object database");
    if (packs_) packs_->allow_refresh = false;
    return s;
}

}  // namespace netkeep::gitwriter
