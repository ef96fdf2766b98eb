#pragma once
// Who may call netkeepd: the token file (`netkeepd --auth FILE`) and the checks made
// against it. Tokens are bearer secrets handed to workers and operators; only their
// SHA-256 is ever stored (in the file) or kept in memory. See docs/security.md.
//
// The file:
//   {"tokens": [
//     {"name": "worker-dc1", "role": "worker", "tags": ["dc1"], "sha256": "<64 hex>"},
//     {"name": "grafana", "role": "read", "sha256": "<64 hex>"}
//   ]}
// `name` is unique and uses [A-Za-z0-9._-] (it is written to the event log and git as the
// worker's name); `tags` is required for workers (["*"] = every tag) and refused for the
// other roles.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep {

enum class Role : std::uint8_t { worker, read, admin };

std::string_view role_name(Role role);  // "worker"
std::optional<Role> role_from_name(std::string_view name);

struct TokenEntry {
    std::string name;
    Role role = Role::read;
    std::vector<std::string> tags;          // workers only; "*" = every tag
    std::array<std::uint8_t, 32> sha256{};  // of the token's text
    friend bool operator==(const TokenEntry&, const TokenEntry&) = default;

    bool all_tags() const;
    bool has_tag(std::string_view tag) const;  // true for every tag when all_tags()
};

struct AuthFile {
    std::vector<TokenEntry> tokens;
    friend bool operator==(const AuthFile&, const AuthFile&) = default;
};

// Parses and validates the token file's content; errors name `file_name` and the JSON
// path (`tokens.json: /tokens/2/role: ...`).
Result<AuthFile> parse_auth_file(std::string_view json, std::string_view file_name);
// Reads and parses FILE. A missing file is not_found.
Result<AuthFile> load_auth_file(const std::string& path);
// The file's text, one token per line, stable for diffs.
std::string format_auth_file(const AuthFile& file);
// Writes a temp file beside `path` (mode 0600), fsyncs it, renames it over `path` and
// fsyncs the directory: readers see the old file or the new one, never a torn one.
Status write_auth_file(const std::string& path, const AuthFile& file);

// `prefix` + 64 hex digits of 256 random bits from the OS's CSPRNG: tokens ("nk_") and the
// web UI's session ids and CSRF tokens.
Result<std::string> random_secret(std::string_view prefix);
// A new token: random_secret("nk_").
Result<std::string> generate_token();
std::array<std::uint8_t, 32> token_sha256(std::string_view token);

// The tokens in force, looked up by the presented secret. Immutable once built, so the
// server swaps a whole Authenticator on reload.
class Authenticator {
public:
    explicit Authenticator(AuthFile file);

    // The entry whose hash matches `token`, or nullptr. Every entry is compared, each in
    // constant time, so the time taken does not depend on which entry (if any) matched
    // or on how many leading bytes agreed.
    const TokenEntry* find(std::string_view token) const;
    // The same by the token's SHA-256 (a web session keeps the hash, never the token).
    const TokenEntry* find_hash(const std::array<std::uint8_t, 32>& hash) const;
    const AuthFile& file() const { return file_; }

private:
    AuthFile file_;
};

// The token in an "Authorization: Bearer <token>" header value, or nullopt for another
// scheme or an empty token. The scheme is case-insensitive (RFC 7235).
std::optional<std::string_view> bearer_token(std::string_view authorization);

}  // namespace netkeep
