#pragma once
// One element of a GET /worker/next answer (docs/api.md#get-workernext): the device, the
// job and the occurrence, as the worker needs them. Fields the worker does not use
// (schedule, tags, max_attempts...) are not kept; unknown fields are ignored, so a newer
// server does not break an older worker.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/host_key.hpp"
#include "netkeep/status.hpp"
#include "worker/pattern.hpp"

namespace netkeep::worker {

struct Credentials {
    std::string user;
    std::optional<std::string> pass;
    std::optional<std::string> key;  // private key file on the worker's machine
    std::optional<PatternSpec> prompt;
};

struct Lease {
    // device
    std::string device;
    std::string host;
    std::string protocol;  // "ssh" or "telnet"
    std::uint16_t port = 22;
    // protocol.ssh.host_key: the keys pinned in the inventory, any one of which the device
    // must present; empty: the worker's known-hosts file decides (docs/worker.md#host-keys).
    std::vector<HostKey> host_keys;
    Credentials credentials;
    // job
    std::string job;
    std::vector<std::string> commands;
    std::optional<PatternSpec> prompt;
    std::optional<PatternSpec> pager;
    std::int64_t timeout = 300;  // seconds
    // occurrence
    std::int64_t timestamp = 0;
    std::int64_t expires = 0;
    std::int64_t attempt = 1;
};

// Parses a 200 answer's body. A body that is not the documented shape is an error
// (corruption) naming the element and field; nothing of it is used then.
Result<std::vector<Lease>> parse_leases(std::string_view body);

}  // namespace netkeep::worker
