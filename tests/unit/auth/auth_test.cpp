#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "netkeep/auth.hpp"
#include "netkeep/sha256.hpp"

using namespace netkeep;

namespace {

std::string hash_hex(std::string_view token) { return sha256_hex(token); }

std::string one_worker(std::string_view extra = "") {
    return R"({"tokens": [{"name": "w1", "role": "worker", "tags": ["dc1"], "sha256": ")" +
           hash_hex("secret-1") + "\"" + std::string(extra) + "}]}";
}

void check_error(std::string_view json, std::string_view expected) {
    auto parsed = parse_auth_file(json, "tokens.json");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.status().message().find(expected) != std::string::npos);
    if (parsed.status().message().find(expected) == std::string::npos)
        MESSAGE(parsed.status().message());
}

}  // namespace

TEST_CASE("a token file parses into entries with roles, tags and hashes") {
    std::string json = R"({"tokens": [
        {"name": "w1", "role": "worker", "tags": ["dc1", "dc2"], "sha256": ")" +
                       hash_hex("a") + R"("},
        {"name": "all.workers", "role": "worker", "tags": ["*"], "sha256": ")" +
                       hash_hex("b") + R"("},
        {"name": "grafana", "role": "read", "sha256": ")" +
                       hash_hex("c") + R"("},
        {"name": "ops_1", "role": "admin", "sha256": ")" +
                       hash_hex("d") + R"("}]})";
    auto parsed = parse_auth_file(json, "tokens.json");
    REQUIRE(parsed);
    REQUIRE(parsed->tokens.size() == 4);
    CHECK(parsed->tokens[0].role == Role::worker);
    CHECK(parsed->tokens[0].has_tag("dc2"));
    CHECK_FALSE(parsed->tokens[0].has_tag("dc3"));
    CHECK(parsed->tokens[1].all_tags());
    CHECK(parsed->tokens[1].has_tag("anything"));
    CHECK(parsed->tokens[2].role == Role::read);
    CHECK(parsed->tokens[3].role == Role::admin);

    SUBCASE("format and parse round-trip") {
        auto again = parse_auth_file(format_auth_file(*parsed), "x");
        REQUIRE(again);
        CHECK(*again == *parsed);
    }
}

TEST_CASE("bad token files are refused with the file and JSON path") {
    check_error("[]", "tokens.json: /: must be a JSON object");
    check_error("{", "tokens.json: not valid JSON");
    check_error(R"({"tokens": [], "x": 1})", "/x: unknown field");
    check_error(R"({})", "missing field 'tokens'");
    check_error(
        R"({"tokens": [{"name": "a b", "role": "read", "sha256": ")" + hash_hex("x") + "\"}]}",
        "/tokens/0/name: may only use");
    check_error(
        R"({"tokens": [{"name": ".a", "role": "read", "sha256": ")" + hash_hex("x") + "\"}]}",
        "/tokens/0/name");
    check_error(
        R"({"tokens": [{"name": "a", "role": "root", "sha256": ")" + hash_hex("x") + "\"}]}",
        "/tokens/0/role: 'root' is not a role");
    check_error(R"({"tokens": [{"name": "a", "role": "read", "sha256": "abc"}]})",
                "/tokens/0/sha256: must be 64 hex digits");
    check_error(R"({"tokens": [{"name": "a", "role": "read", "sha256": ")" + hash_hex("x") +
                    "\", \"tags\": [\"t\"]}]}",
                "/tokens/0/tags: only worker tokens have tags");
    check_error(
        R"({"tokens": [{"name": "a", "role": "worker", "sha256": ")" + hash_hex("x") + "\"}]}",
        "/tokens/0/tags: a worker token needs its tags");
    check_error(R"({"tokens": [{"name": "a", "role": "worker", "tags": ["*", "x"], "sha256": ")" +
                    hash_hex("x") + "\"}]}",
                "must be the only tag");
    check_error(one_worker(R"(, "password": "x")"), "/tokens/0/password: unknown field");
    check_error(R"({"tokens": [{"name": "a", "role": "read", "sha256": ")" + hash_hex("x") +
                    R"("}, {"name": "a", "role": "read", "sha256": ")" + hash_hex("y") + "\"}]}",
                "/tokens/1/name: 'a' is used twice");
    check_error(R"({"tokens": [{"name": "a", "role": "read", "sha256": ")" + hash_hex("x") +
                    R"("}, {"name": "b", "role": "read", "sha256": ")" + hash_hex("x") + "\"}]}",
                "/tokens/1/sha256: the same token hash is listed twice");
}

TEST_CASE("the authenticator finds a token by its hash only") {
    auto parsed = parse_auth_file(one_worker(), "tokens.json");
    REQUIRE(parsed);
    Authenticator auth(std::move(*parsed));
    const TokenEntry* found = auth.find("secret-1");
    REQUIRE(found);
    CHECK(found->name == "w1");
    CHECK(auth.find("secret-2") == nullptr);
    CHECK(auth.find("") == nullptr);
    CHECK(auth.find("secret-1 ") == nullptr);
    // The hash itself is not a token.
    CHECK(auth.find(hash_hex("secret-1")) == nullptr);
}

TEST_CASE("bearer tokens are taken from the Authorization header") {
    CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("bearer abc") == std::optional<std::string_view>("abc"));
    CHECK(bearer_token("BEARER   abc  ") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearer_token("Basic abc"));
    CHECK_FALSE(bearer_token("Bearer"));
    CHECK_FALSE(bearer_token("Bearer "));
    CHECK_FALSE(bearer_token("Bearerabc"));
    CHECK_FALSE(bearer_token("Bearer a b"));
}

TEST_CASE("generated tokens are 256 random bits, never repeated") {
    auto a = generate_token();
    auto b = generate_token();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->size() == 3 + 64);
    CHECK(a->starts_with("nk_"));
    CHECK(*a != *b);
}

TEST_CASE("the token file is written atomically with mode 0600") {
    auto dir = std::filesystem::temp_directory_path() / ("auth_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "tokens.json").string();
    AuthFile file;
    file.tokens.push_back(TokenEntry{"w1", Role::worker, {"dc1"}, token_sha256("t1")});
    REQUIRE(write_auth_file(path, file));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto loaded = load_auth_file(path);
    REQUIRE(loaded);
    CHECK(*loaded == file);
    // Nothing but the file is left beside it.
    int entries = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++entries;
    CHECK(entries == 1);
    CHECK(load_auth_file((dir / "missing.json").string()).status().code() ==
          Status::Code::not_found);
    std::filesystem::remove_all(dir);
}

// `sudo netkeepctl token add` on the service user's file must leave it that user's
// (docs/security.md, token lifecycle). Needs root to chown; skipped (and listed so) without.
TEST_CASE("a rewrite as root keeps the token file's owner and group" *
          doctest::skip(::geteuid() != 0)) {
    auto dir =
        std::filesystem::temp_directory_path() / ("auth_owner." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "tokens.json").string();
    AuthFile file;
    file.tokens.push_back(TokenEntry{"w1", Role::worker, {"dc1"}, token_sha256("t1")});
    REQUIRE(write_auth_file(path, file));
    REQUIRE(::chown(path.c_str(), 4242, 4243) == 0);
    file.tokens.push_back(TokenEntry{"a1", Role::admin, {}, token_sha256("t2")});
    REQUIRE(write_auth_file(path, file));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_uid == 4242);
    CHECK(st.st_gid == 4243);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(load_auth_file(path).value() == file);
    std::filesystem::remove_all(dir);
}
