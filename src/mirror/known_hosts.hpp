#pragma once
// Host key checking for ssh mirrors against an OpenSSH known_hosts file: libgit2 1.5
// accepts any host key unless its certificate_check callback says no, so this is the
// check. Pure apart from HMAC-SHA1 (hashed host names) and base64: unit-tested.

#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep::mirror {

enum class HostKeyMatch {
    known,     // a line for this host has this key
    mismatch,  // lines for this host, none with this key: refused (a changed or spoofed host)
    unknown,   // no line for this host: refused
    revoked,   // an @revoked line has this key
};

// `key_blob` is the key as the server sent it (the SSH wire format, which is what the
// base64 field of a known_hosts line decodes to). Lines name the host as OpenSSH does:
// "host" for port 22, "[host]:port" otherwise; comma-separated patterns with * and ?,
// "!pattern" to exclude, and hashed names (|1|salt|hash, HashKnownHosts yes). Lines marked
// @cert-authority are ignored (certificates are not supported).
HostKeyMatch check_known_hosts(std::string_view known_hosts, std::string_view host,
                               std::uint16_t port, std::string_view key_blob);

// "SHA256:..." as ssh-keygen -l prints it, for the log line of a refused key.
std::string key_fingerprint(std::string_view key_blob);

}  // namespace netkeep::mirror
