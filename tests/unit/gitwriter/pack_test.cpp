// The git writer's own pack writer (gitwriter/pack.hpp) against git itself: the packs it
// writes must pass `git verify-pack` and `git fsck --strict`, and read back byte for byte.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/pack.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using namespace netkeep::gitwriter;
using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Id = std::array<unsigned char, 20>;

Id object_id(std::string_view type, std::string_view data) {
    std::string object = fmt::format("{} {}", type, data.size());
    object += '\0';
    object += data;
    Id id{};
    unsigned int n = 0;
    REQUIRE(EVP_Digest(object.data(), object.size(), id.data(), &n, EVP_sha1(), nullptr) == 1);
    return id;
}

std::string hex(const Id& id) {
    std::string out;
    for (unsigned char c : id) out += fmt::format("{:02x}", c);
    return out;
}

// A tree of `count` files named f<i>, each the blob `blob`, except f<changed> -> `other`.
std::string tree_of(std::size_t count, const Id& blob, std::size_t changed, const Id& other) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) names.push_back(fmt::format("f{:05}", i));
    std::string tree;
    for (std::size_t i = 0; i < count; ++i) {
        tree += "100644 " + names[i];
        tree += '\0';
        const Id& id = i == changed ? other : blob;
        tree.append(reinterpret_cast<const char*>(id.data()), id.size());
    }
    return tree;
}

struct Repo {
    TempDir root = TempDir::create("gitwriter-pack").value();
    fs::path git_dir = root / "repo.git";

    Repo() { run({"init", "--quiet", "--bare", git_dir.string()}, false); }
    std::string run(std::vector<std::string> args, bool in_repo = true, int* code = nullptr) {
        if (in_repo) args.insert(args.begin(), {"--git-dir", git_dir.string()});
        args.insert(args.begin(), "/usr/bin/git");
        auto p = Process::spawn(args);
        REQUIRE(p.is_ok());
        auto status = p->wait(30s);
        REQUIRE(status.is_ok());
        if (code)
            *code = status->code;
        else
            CHECK_MESSAGE(status->code == 0, p->stderr_text());
        return p->stdout_text();
    }
    std::string pack_dir() const { return (git_dir / "objects" / "pack").string(); }
};

}  // namespace

TEST_CASE("prefix_suffix_delta: one copy, one insert, one copy") {
    const std::string base = "abcdefghij";
    std::string d = prefix_suffix_delta(base, "abcXYZhij");
    // sizes 10 and 9, copy 0+3, insert "XYZ", copy 7+3.
    CHECK(d == std::string("\x0a\x09\x90\x03\x03XYZ\x91\x07\x03", 11));
    // The same content: copies only.
    CHECK(prefix_suffix_delta(base, base) == std::string("\x0a\x0a\x90\x0a", 4));
}

TEST_CASE("PackWriter: blobs, trees and tree deltas that git reads back exactly") {
    Repo repo;
    const std::string blob_a = "hostname r1\n!\n", blob_b = std::string(300, 'x') + "\n";
    const Id a = object_id("blob", blob_a), b = object_id("blob", blob_b);
    // Large enough that the copies go past 64 KiB and the trees' deltas need several.
    const std::size_t files = 4000;
    std::vector<std::string> trees;
    // Successive versions of one tree, then one that differs over most of its length
    // (written whole), then a short one that is the long one's beginning.
    for (std::size_t changed : {2500, 2501, 2503, 10})
        trees.push_back(tree_of(files, a, changed, b));
    trees.push_back(tree_of(10, a, 99, b));

    PackWriter pack;
    pack.add(a.data(), PackType::blob, blob_a);
    pack.add(b.data(), PackType::blob, blob_b);
    std::size_t base = pack.add(object_id("tree", trees[0]).data(), PackType::tree, trees[0]);
    for (std::size_t i = 1; i < trees.size(); ++i)
        base = pack.add_delta(object_id("tree", trees[i]).data(), PackType::tree, trees[i], base,
                              trees[i - 1]);
    CHECK(pack.depth(3) == 1);
    CHECK(pack.depth(4) == 2);
    CHECK(pack.depth(5) == 0);  // the delta would not have been much smaller
    CHECK(pack.depth(6) == 1);
    auto name = pack.write(repo.pack_dir());
    REQUIRE(name.is_ok());

    const std::string idx = fmt::format("{}/pack-{}.idx", repo.pack_dir(), *name);
    std::string verify = repo.run({"verify-pack", "-v", idx});
    CHECK_MESSAGE(verify.find("chain length = 2: 1 object") != std::string::npos, verify);
    repo.run({"fsck", "--strict", "--no-dangling", "--no-progress"});
    CHECK(repo.run({"cat-file", "blob", hex(a)}) == blob_a);
    CHECK(repo.run({"cat-file", "blob", hex(b)}) == blob_b);
    for (const std::string& tree : trees) {
        const std::string id = hex(object_id("tree", tree));
        CHECK(repo.run({"cat-file", "tree", id}) == tree);
    }
    // Read-only, as git leaves its packs.
    CHECK((fs::status(idx).permissions() & fs::perms::owner_write) == fs::perms::none);
}

TEST_CASE("PackWriter: delta chains stop at k_max_depth") {
    Repo repo;
    const Id a = object_id("blob", "a"), b = object_id("blob", "b");
    PackWriter pack;
    pack.add(a.data(), PackType::blob, "a");
    pack.add(b.data(), PackType::blob, "b");
    std::string previous = tree_of(100, a, 0, b);
    std::size_t base = pack.add(object_id("tree", previous).data(), PackType::tree, previous);
    int deepest = 0;
    for (std::size_t i = 1; i < 80; ++i) {
        std::string tree = tree_of(100, a, i, b);
        base = pack.add_delta(object_id("tree", tree).data(), PackType::tree, tree, base, previous);
        deepest = std::max(deepest, pack.depth(base));
        previous = std::move(tree);
    }
    CHECK(deepest == PackWriter::k_max_depth);
    REQUIRE(pack.write(repo.pack_dir()).is_ok());
    repo.run({"fsck", "--strict", "--no-dangling", "--no-progress"});
}
