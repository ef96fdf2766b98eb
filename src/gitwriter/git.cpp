#include "gitwriter/git.hpp"

#include <fmt/format.h>

#include "gitwriter/format.hpp"

namespace netkeep::gitwriter {

namespace {

constexpr const char* k_branch = "refs/heads/main";
constexpr const char* k_name = "netkeep";
constexpr const char* k_email = "netkeep@localhost";

}  // namespace

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

Result<Repo> Repo::open_or_create(const std::string& path) {
    git_repository* raw = nullptr;
    int rc = git_repository_open_bare(&raw, path.c_str());
    if (rc == GIT_ENOTFOUND) {
        git_repository_init_options options = GIT_REPOSITORY_INIT_OPTIONS_INIT;
        options.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        options.initial_head = "main";
        rc = git_repository_init_ext(&raw, path.c_str(), &options);
        if (Status s = git_status(rc, fmt::format("creating {}", path)); !s) return s;
    } else if (Status s = git_status(rc, fmt::format("opening {}", path)); !s) {
        return s;
    }
    return Repo(repository_ptr(raw));
}

Result<std::optional<std::uint64_t>> Repo::last_seq_trailer() const {
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo_.get(), k_branch);
    if (rc == GIT_ENOTFOUND) return std::optional<std::uint64_t>();
    if (Status s = git_status(rc, "reading refs/heads/main"); !s) return s;
    git_commit* raw = nullptr;
    if (Status s = git_status(git_commit_lookup(&raw, repo_.get(), &oid), "reading main's commit");
        !s)
        return s;
    commit_ptr commit(raw);
    for (;;) {
        if (auto seq = parse_seq_trailer(git_commit_message(commit.get()))) return seq;
        if (git_commit_parentcount(commit.get()) == 0) return std::optional<std::uint64_t>();
        git_commit* parent = nullptr;
        if (Status s =
                git_status(git_commit_parent(&parent, commit.get(), 0), "reading a parent commit");
            !s)
            return s;
        commit.reset(parent);
    }
}

Result<odb_ptr> Repo::odb() {
    git_odb* odb_raw = nullptr;
    if (Status s = git_status(git_repository_odb(&odb_raw, repo_.get()), "opening the object database"); !s)
        return s;
    return odb_ptr(odb_raw);
}

Result<BlobWriter> Repo::blob_writer(std::uint64_t size) {
    auto odb = this->odb();
    if (!odb) return odb.status();
    git_odb_stream* stream = nullptr;
    if (Status s = git_status(git_odb_open_wstream(&stream, odb->get(), size, GIT_OBJECT_BLOB),
                              "opening a blob stream");
        !s)
        return s;
    return BlobWriter(odb_stream_ptr(stream));
}

Result<std::optional<std::string>> Repo::commit_file(const std::string& path, const git_oid& blob,
                                                     unix_time time, const std::string& message) {
    git_repository* repo = repo_.get();
    commit_ptr tip;
    tree_ptr baseline;
    git_oid tip_oid;
    int rc = git_reference_name_to_id(&tip_oid, repo, k_branch);
    if (rc != GIT_ENOTFOUND) {
        if (Status s = git_status(rc, "reading refs/heads/main"); !s) return s;
        git_commit* c = nullptr;
        if (Status s = git_status(git_commit_lookup(&c, repo, &tip_oid), "reading main's commit");
            !s)
            return s;
        tip.reset(c);
        git_tree* t = nullptr;
        if (Status s = git_status(git_commit_tree(&t, tip.get()), "reading main's tree"); !s)
            return s;
        baseline.reset(t);

        git_tree_entry* e = nullptr;
        rc = git_tree_entry_bypath(&e, baseline.get(), path.c_str());
        if (rc != GIT_ENOTFOUND) {
            if (Status s = git_status(rc, fmt::format("looking up {}", path)); !s) return s;
            tree_entry_ptr entry(e);
            if (git_oid_equal(git_tree_entry_id(entry.get()), &blob) &&
                git_tree_entry_filemode(entry.get()) == GIT_FILEMODE_BLOB)
                return std::optional<std::string>();  // same content: no commit
        }
    } else {
        // First commit: an empty baseline tree to update.
        git_treebuilder* b = nullptr;
        if (Status s = git_status(git_treebuilder_new(&b, repo, nullptr), "creating a tree"); !s)
            return s;
        treebuilder_ptr builder(b);
        git_oid empty;
        if (Status s =
                git_status(git_treebuilder_write(&empty, builder.get()), "writing the empty tree");
            !s)
            return s;
        git_tree* t = nullptr;
        if (Status s = git_status(git_tree_lookup(&t, repo, &empty), "reading the empty tree"); !s)
            return s;
        baseline.reset(t);
    }

    git_tree_update update{};
    update.action = GIT_TREE_UPDATE_UPSERT;
    update.id = blob;
    update.filemode = GIT_FILEMODE_BLOB;
    update.path = path.c_str();
    git_oid tree_oid;
    if (Status s = git_status(git_tree_create_updated(&tree_oid, repo, baseline.get(), 1, &update),
                              fmt::format("updating the tree at {}", path));
        !s)
        return s;
    git_tree* t = nullptr;
    if (Status s = git_status(git_tree_lookup(&t, repo, &tree_oid), "reading the new tree"); !s)
        return s;
    tree_ptr tree(t);

    git_signature* sig_raw = nullptr;
    if (Status s = git_status(
            git_signature_new(&sig_raw, k_name, k_email, static_cast<git_time_t>(time), 0),
            "making the signature");
        !s)
        return s;
    signature_ptr sig(sig_raw);
    const git_commit* parents[1] = {tip.get()};
    git_oid commit_oid;
    // Updating the branch names the expected parent: libgit2 refuses if main moved.
    if (Status s =
            git_status(git_commit_create(&commit_oid, repo, k_branch, sig.get(), sig.get(), nullptr,
                                         message.c_str(), tree.get(), tip ? 1 : 0, parents),
                       "committing");
        !s)
        return s;
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof hex, &commit_oid);
    return std::optional<std::string>(hex);
}

Status Repo::refresh() {
    auto odb = this->odb();
    if (!odb) return odb.status();
    return git_status(git_odb_refresh(odb->get()), "refreshing the object database");
}

}  // namespace netkeep::gitwriter
