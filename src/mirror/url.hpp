#pragma once
// A mirror's URL taken apart, for the checks at start (no password in it, a token only
// over https), for the host and port a known_hosts line names, and for a default mirror
// name. Pure: unit-tested.

#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep::mirror {

struct MirrorUrl {
    enum class Scheme { file, ssh, https, http };
    Scheme scheme = Scheme::file;
    std::string user;        // ssh only: from "user@"; https userinfo is refused
    std::string host;        // without brackets for an IPv6 literal
    std::uint16_t port = 0;  // 0: the scheme's default
    std::string path;
};

// file:///abs, /abs, ssh://[user@]host[:port]/path, [user@]host:path (scp-like),
// https://host[:port]/path, http://. Refused: a password in the URL ("user:pass@"), any
// userinfo in http(s) (the token belongs in token_file), spaces and control characters,
// more than 2048 bytes, a relative local path.
Result<MirrorUrl> parse_mirror_url(std::string_view url);

// The port ssh connects to (22 unless given).
inline std::uint16_t ssh_port(const MirrorUrl& u) { return u.port ? u.port : 22; }

// A mirror name from the URL: host and path with every other character made '-',
// ".git" dropped, at most 64 characters ("git.example.net-netops-configs").
std::string default_mirror_name(const MirrorUrl& url);

// [A-Za-z0-9][A-Za-z0-9._-]{0,63}
bool valid_mirror_name(std::string_view name);

}  // namespace netkeep::mirror
