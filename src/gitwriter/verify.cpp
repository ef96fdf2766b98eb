// The read side of the repository for netkeepctl (include/netkeep/git_verify.hpp).

#include <fmt/format.h>

#include "gitwriter/format.hpp"
#include "gitwriter/git.hpp"
#include "netkeep/git_verify.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep {

namespace {

using namespace gitwriter;
using revwalk_ptr = git_handle<git_revwalk, git_revwalk_free>;
using blob_ptr = git_handle<git_blob, git_blob_free>;
using diff_ptr = git_handle<git_diff, git_diff_free>;

constexpr const char* k_main = "refs/heads/main";

Result<git_oid> oid_of(const std::string& hex) {
    git_oid oid;
    if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex.c_str()) != 0)
        return Status::invalid_argument(fmt::format("'{}' is not a git object id", hex));
    return oid;
}

class RepoReader final : public GitRepoReader {
public:
    RepoReader(std::unique_ptr<Libgit2> lib, repository_ptr repo)
        : lib_(std::move(lib)), repo_(std::move(repo)) {}

    Result<std::optional<std::string>> main_tip() const override {
        git_oid oid;
        int rc = git_reference_name_to_id(&oid, repo_.get(), k_main);
        if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
        if (Status s = git_status(rc, "reading refs/heads/main"); !s) return s;
        return std::optional<std::string>(hex_of(oid));
    }

    Result<std::vector<GitCommitInfo>> main_history() const override {
        std::vector<GitCommitInfo> out;
        auto tip = main_tip();
        if (!tip) return tip.status();
        if (!*tip) return out;
        git_revwalk* raw = nullptr;
        if (Status s = git_status(git_revwalk_new(&raw, repo_.get()), "starting a history walk");
            !s)
            return s;
        revwalk_ptr walk(raw);
        if (Status s = git_status(
                git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME), "sorting");
            !s)
            return s;
        if (Status s = git_status(git_revwalk_push_ref(walk.get(), k_main), "walking main"); !s)
            return s;
        git_oid oid;
        int rc = 0;
        while ((rc = git_revwalk_next(&oid, walk.get())) == 0) {
            auto commit = lookup(oid);
            if (!commit) return commit.status();
            GitCommitInfo info;
            info.id = hex_of(oid);
            for (unsigned i = 0; i < git_commit_parentcount(commit->get()); ++i)
                info.parents.push_back(hex_of(*git_commit_parent_id(commit->get(), i)));
            const char* message = git_commit_message(commit->get());
            if (message) {
                info.seq = parse_seq_trailer(message);
                info.position = parse_position(message);
            }
            const char* summary = git_commit_summary(commit->get());
            info.subject = summary ? summary : "";
            out.push_back(std::move(info));
        }
        if (rc != GIT_ITEROVER) return git_status(rc, "walking main");
        return out;
    }

    Result<bool> has_commit(const std::string& id) const override {
        auto oid = oid_of(id);
        if (!oid) return oid.status();
        git_commit* raw = nullptr;
        int rc = git_commit_lookup(&raw, repo_.get(), &*oid);
        if (rc == GIT_ENOTFOUND) return false;
        if (Status s = git_status(rc, fmt::format("reading commit {}", id)); !s) return s;
        commit_ptr(raw).reset();
        return true;
    }

    Result<std::optional<std::string>> blob_at(const std::string& commit,
                                               const std::string& path) const override {
        auto tree = tree_of(commit);
        if (!tree) return tree.status();
        git_tree_entry* e = nullptr;
        int rc = git_tree_entry_bypath(&e, tree->get(), path.c_str());
        if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
        if (Status s = git_status(rc, fmt::format("looking up {} in {}", path, commit)); !s)
            return s;
        tree_entry_ptr entry(e);
        if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB)
            return std::optional<std::string>();
        return std::optional<std::string>(hex_of(*git_tree_entry_id(entry.get())));
    }

    Result<std::vector<std::string>> changed_paths(const std::string& commit) const override {
        auto tree = tree_of(commit);
        if (!tree) return tree.status();
        auto c = lookup(*oid_of(commit));
        if (!c) return c.status();
        tree_ptr parent_tree;
        if (git_commit_parentcount(c->get()) > 0) {
            auto parent = tree_of(hex_of(*git_commit_parent_id(c->get(), 0)));
            if (!parent) return parent.status();
            parent_tree = std::move(*parent);
        }
        git_diff* raw = nullptr;
        if (Status s = git_status(
                git_diff_tree_to_tree(&raw, repo_.get(), parent_tree.get(), tree->get(), nullptr),
                fmt::format("diffing {}", commit));
            !s)
            return s;
        diff_ptr diff(raw);
        std::vector<std::string> paths;
        for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
            const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
            paths.emplace_back(d->new_file.path ? d->new_file.path : d->old_file.path);
        }
        return paths;
    }

    Result<std::uint64_t> blob_size(const std::string& blob) const override {
        auto oid = oid_of(blob);
        if (!oid) return oid.status();
        git_odb* odb_raw = nullptr;
        if (Status s = git_status(git_repository_odb(&odb_raw, repo_.get()),
                                  "opening the object database");
            !s)
            return s;
        odb_ptr odb(odb_raw);
        std::size_t size = 0;
        git_object_t type{};
        if (Status s = git_status(git_odb_read_header(&size, &type, odb.get(), &*oid),
                                  fmt::format("reading blob {}", blob));
            !s)
            return s;
        return std::uint64_t(size);
    }

    Result<std::string> blob_sha256(const std::string& blob) const override {
        auto oid = oid_of(blob);
        if (!oid) return oid.status();
        git_blob* raw = nullptr;
        if (Status s = git_status(git_blob_lookup(&raw, repo_.get(), &*oid),
                                  fmt::format("reading blob {}", blob));
            !s)
            return s;
        blob_ptr b(raw);
        Sha256 hash;
        hash.update(std::string_view(static_cast<const char*>(git_blob_rawcontent(b.get())),
                                     static_cast<std::size_t>(git_blob_rawsize(b.get()))));
        auto digest = hash.finish();
        return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
    }

    Status set_main(const std::string& commit) override {
        auto oid = oid_of(commit);
        if (!oid) return oid.status();
        git_reference* raw = nullptr;
        Status s = git_status(
            git_reference_create(&raw, repo_.get(), k_main, &*oid, 1, "netkeepctl backup"),
            fmt::format("moving main to {}", commit));
        reference_ptr(raw).reset();
        return s;
    }

private:
    Result<commit_ptr> lookup(const git_oid& oid) const {
        git_commit* raw = nullptr;
        if (Status s = git_status(git_commit_lookup(&raw, repo_.get(), &oid),
                                  fmt::format("reading commit {}", hex_of(oid)));
            !s)
            return s;
        return commit_ptr(raw);
    }

    Result<tree_ptr> tree_of(const std::string& commit) const {
        auto oid = oid_of(commit);
        if (!oid) return oid.status();
        auto c = lookup(*oid);
        if (!c) return c.status();
        git_tree* t = nullptr;
        if (Status s = git_status(git_commit_tree(&t, c->get()),
                                  fmt::format("reading the tree of {}", commit));
            !s)
            return s;
        return tree_ptr(t);
    }

    std::unique_ptr<Libgit2> lib_;  // outlives repo_ (declared first, destroyed last)
    repository_ptr repo_;
};

}  // namespace

Result<std::unique_ptr<GitRepoReader>> open_git_repo_reader(const std::string& path) {
    auto lib = std::make_unique<Libgit2>();
    if (!lib->status()) return lib->status();
    git_repository* raw = nullptr;
    int rc = git_repository_open_bare(&raw, path.c_str());
    if (rc == GIT_ENOTFOUND) return Status::not_found(fmt::format("no git repository at {}", path));
    if (Status s = git_status(rc, fmt::format("opening {}", path)); !s) return s;
    return std::unique_ptr<GitRepoReader>(
        std::make_unique<RepoReader>(std::move(lib), repository_ptr(raw)));
}

}  // namespace netkeep
