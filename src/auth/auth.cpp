// The token file and the checks against it. Parsing uses simdjson, like the inventory:
// both are operator-written JSON files with strict validation and errors by JSON path.

#include "netkeep/auth.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include "netkeep/durable.hpp"
#include "netkeep/json.hpp"
#include "netkeep/sha256.hpp"
#include "util/posix.hpp"

namespace netkeep {

namespace {

namespace dom = simdjson::dom;

// Bounds on a file an operator writes by hand or with netkeepctl: far above any real
// deployment, low enough that a wrong --auth path (a log file, a device) fails fast.
constexpr std::size_t k_max_file_bytes = 4 * 1024 * 1024;
constexpr std::size_t k_max_tokens = 10000;
constexpr std::size_t k_max_name = 64;

bool name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

std::optional<std::array<std::uint8_t, 32>> parse_hex32(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    std::array<std::uint8_t, 32> out{};
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < 32; ++i) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = std::uint8_t(hi << 4 | lo);
    }
    return out;
}

std::string hex_of(const std::array<std::uint8_t, 32>& bytes) {
    return to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

class parser_ctx {
public:
    explicit parser_ctx(std::string_view file_name) : file_(file_name) {}

    Status fail(std::string_view path, std::string_view message) const {
        return Status::invalid_argument(
            fmt::format("{}: {}: {}", file_, path.empty() ? "/" : path, message));
    }

    Result<AuthFile> parse(std::string_view json) {
        if (json.size() > k_max_file_bytes)
            return Status::invalid_argument(
                fmt::format("{}: larger than {} bytes", file_, k_max_file_bytes));
        dom::parser parser;
        dom::element root;
        simdjson::padded_string padded(json);
        if (auto err = parser.parse(padded).get(root))
            return Status::invalid_argument(
                fmt::format("{}: not valid JSON: {}", file_, simdjson::error_message(err)));
        dom::object top;
        if (root.get_object().get(top)) return fail("", "must be a JSON object");
        dom::array tokens;
        bool have_tokens = false;
        for (auto [key, value] : top) {
            if (key != "tokens") return fail(fmt::format("/{}", json_escape(key)), "unknown field");
            if (have_tokens) return fail("/tokens", "appears twice");
            if (value.get_array().get(tokens)) return fail("/tokens", "must be an array");
            have_tokens = true;
        }
        if (!have_tokens) return fail("", "missing field 'tokens'");
        AuthFile out;
        std::set<std::string, std::less<>> names;
        std::set<std::array<std::uint8_t, 32>> hashes;
        std::size_t i = 0;
        for (dom::element item : tokens) {
            if (i == k_max_tokens)
                return fail("/tokens", fmt::format("more than {} tokens", k_max_tokens));
            auto entry = parse_entry(item, fmt::format("/tokens/{}", i));
            if (!entry) return entry.status();
            if (!names.insert(entry->name).second)
                return fail(fmt::format("/tokens/{}/name", i),
                            fmt::format("'{}' is used twice", entry->name));
            if (!hashes.insert(entry->sha256).second)
                return fail(fmt::format("/tokens/{}/sha256", i),
                            "the same token hash is listed twice");
            out.tokens.push_back(std::move(*entry));
            ++i;
        }
        return out;
    }

private:
    Result<TokenEntry> parse_entry(dom::element item, const std::string& path) const {
        dom::object obj;
        if (item.get_object().get(obj)) return fail(path, "must be an object");
        TokenEntry entry;
        bool have_name = false, have_role = false, have_hash = false, have_tags = false;
        for (auto [key, value] : obj) {
            const std::string at = fmt::format("{}/{}", path, json_escape(key));
            std::string_view text;
            if (key == "name" || key == "role" || key == "sha256") {
                if (value.get_string().get(text)) return fail(at, "must be a string");
            }
            if (key == "name") {
                if (have_name) return fail(at, "appears twice");
                if (text.empty() || text.size() > k_max_name)
                    return fail(at, fmt::format("must be 1 to {} characters", k_max_name));
                if (text.front() == '.' || !std::all_of(text.begin(), text.end(), name_char))
                    return fail(at, "may only use A-Z a-z 0-9 . _ - and must not start with '.'");
                entry.name = std::string(text);
                have_name = true;
            } else if (key == "role") {
                if (have_role) return fail(at, "appears twice");
                auto role = role_from_name(text);
                if (!role)
                    return fail(at, fmt::format("'{}' is not a role (worker, read, admin)",
                                                json_escape(text)));
                entry.role = *role;
                have_role = true;
            } else if (key == "sha256") {
                if (have_hash) return fail(at, "appears twice");
                auto hash = parse_hex32(text);
                if (!hash) return fail(at, "must be 64 hex digits (the SHA-256 of the token)");
                entry.sha256 = *hash;
                have_hash = true;
            } else if (key == "tags") {
                if (have_tags) return fail(at, "appears twice");
                dom::array arr;
                if (value.get_array().get(arr)) return fail(at, "must be an array of strings");
                std::size_t j = 0;
                for (dom::element tag : arr) {
                    std::string_view t;
                    if (tag.get_string().get(t) || t.empty())
                        return fail(fmt::format("{}/{}", at, j), "must be a non-empty string");
                    entry.tags.emplace_back(t);
                    ++j;
                }
                have_tags = true;
            } else {
                return fail(at, fmt::format("unknown field '{}'", json_escape(key)));
            }
        }
        if (!have_name) return fail(path, "missing field 'name'");
        if (!have_role) return fail(path, "missing field 'role'");
        if (!have_hash) return fail(path, "missing field 'sha256'");
        if (entry.role == Role::worker) {
            if (!have_tags || entry.tags.empty())
                return fail(path + "/tags",
                            "a worker token needs its tags (use [\"*\"] for every tag)");
            if (entry.all_tags() && entry.tags.size() > 1)
                return fail(path + "/tags", "\"*\" (every tag) must be the only tag");
        } else if (have_tags) {
            return fail(path + "/tags", "only worker tokens have tags");
        }
        return entry;
    }

    std::string_view file_;
};

}  // namespace

std::string_view role_name(Role role) {
    switch (role) {
        case Role::worker:
            return "worker";
        case Role::read:
            return "read";
        case Role::admin:
            return "admin";
    }
    return "?";
}

std::optional<Role> role_from_name(std::string_view name) {
    if (name == "worker") return Role::worker;
    if (name == "read") return Role::read;
    if (name == "admin") return Role::admin;
    return std::nullopt;
}

bool TokenEntry::all_tags() const { return std::find(tags.begin(), tags.end(), "*") != tags.end(); }

bool TokenEntry::has_tag(std::string_view tag) const {
    return all_tags() || std::find(tags.begin(), tags.end(), tag) != tags.end();
}

Result<AuthFile> parse_auth_file(std::string_view json, std::string_view file_name) {
    return parser_ctx(file_name).parse(json);
}

Result<AuthFile> load_auth_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return Status::not_found(fmt::format("{}: no such file", path));
    if (!std::filesystem::is_regular_file(path, ec))
        return Status::invalid_argument(fmt::format("{}: not a regular file", path));
    if (std::filesystem::file_size(path, ec) > k_max_file_bytes)
        return Status::invalid_argument(
            fmt::format("{}: larger than {} bytes", path, k_max_file_bytes));
    std::ifstream in(path, std::ios::binary);
    if (!in) return errno_status(errno, "cannot read", path);
    std::ostringstream content;
    content << in.rdbuf();
    return parse_auth_file(content.str(), path);
}

std::string format_auth_file(const AuthFile& file) {
    std::string out = "{\"tokens\": [";
    for (std::size_t i = 0; i < file.tokens.size(); ++i) {
        const TokenEntry& t = file.tokens[i];
        out += i ? ",\n  " : "\n  ";
        out += fmt::format(R"({{"name": {}, "role": "{}")", json_quote(t.name), role_name(t.role));
        if (t.role == Role::worker) {
            out += ", \"tags\": [";
            for (std::size_t j = 0; j < t.tags.size(); ++j)
                out += (j ? ", " : "") + json_quote(t.tags[j]);
            out += "]";
        }
        out += fmt::format(R"(, "sha256": "{}"}})", hex_of(t.sha256));
    }
    out += file.tokens.empty() ? "]}\n" : "\n]}\n";
    return out;
}

Status write_auth_file(const std::string& path, const AuthFile& file) {
    // Mode 0600 and, under sudo, the old owner (docs/security.md, token lifecycle):
    // netkeepd warns about a token file that others can read.
    return write_file_durably(path, format_auth_file(file), {.mode = 0600, .keep_owner = true});
}

Result<std::string> random_secret(std::string_view prefix) {
    std::array<std::uint8_t, 32> random{};
    if (RAND_bytes(random.data(), int(random.size())) != 1)
        return Status::unavailable("the system's random number generator failed");
    std::string secret = std::string(prefix) + hex_of(random);
    OPENSSL_cleanse(random.data(), random.size());
    return secret;
}

Result<std::string> generate_token() { return random_secret("nk_"); }

std::array<std::uint8_t, 32> token_sha256(std::string_view token) {
    Sha256 h;
    h.update(token);
    return h.finish();
}

Authenticator::Authenticator(AuthFile file) : file_(std::move(file)) {}

const TokenEntry* Authenticator::find(std::string_view token) const {
    return find_hash(token_sha256(token));
}

const TokenEntry* Authenticator::find_hash(const std::array<std::uint8_t, 32>& hash) const {
    const TokenEntry* found = nullptr;
    for (const TokenEntry& entry : file_.tokens) {
        // No early exit: each comparison takes the same time whatever the bytes are.
        const bool equal = CRYPTO_memcmp(entry.sha256.data(), hash.data(), hash.size()) == 0;
        if (equal) found = &entry;
    }
    return found;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view k_scheme = "bearer";
    if (authorization.size() <= k_scheme.size() + 1) return std::nullopt;
    for (std::size_t i = 0; i < k_scheme.size(); ++i) {
        char c = authorization[i];
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c != k_scheme[i]) return std::nullopt;
    }
    std::string_view rest = authorization.substr(k_scheme.size());
    if (rest.front() != ' ') return std::nullopt;
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
    if (rest.empty() || rest.find(' ') != std::string_view::npos) return std::nullopt;
    return rest;
}

}  // namespace netkeep
