#pragma once
// SSH host keys in OpenSSH's known_hosts line format, as an operator pins them in the
// inventory (`protocol.ssh.host_key`, docs/devices.md#host-keys) and as the worker
// receives them in /worker/next. Pure: the inventory validates with it at load time
// (no libssh there); the worker turns the result into a libssh key.

#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep {

struct HostKey {
    std::string type;    // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
    std::string base64;  // the public key blob, standard base64 with padding

    // "TYPE BASE64": the canonical form, without host field or comment.
    std::string line() const { return type + " " + base64; }
    friend bool operator==(const HostKey&, const HostKey&) = default;
};

// Parses "[HOST]:PORT TYPE BASE64 [COMMENT]", "HOST TYPE BASE64 [COMMENT]" or
// "TYPE BASE64 [COMMENT]" (as `ssh-keyscan` and `*.pub` files write them). The host field
// is not kept: the pin belongs to the device it is written on. The blob is checked to be
// a key of the named type (the type repeated inside it, and the fields that type has),
// so a truncated or mixed-up paste is refused here rather than at the first connection.
// Marker lines (@cert-authority, @revoked) and certificates are not supported. The
// error's message says what is wrong, without a file or JSON path.
Result<HostKey> parse_host_key_line(std::string_view line);

// The key types parse_host_key_line accepts, for messages: "ssh-ed25519, ...".
std::string_view supported_host_key_types();

}  // namespace netkeep
