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
    std::optional<std::string> key;     // private key file on the worker's machine
    std::optional<std::string> enable;  // the enable secret (contract §1: after pass/key)
    std::optional<PatternSpec> prompt;
};

// An expect rule: when the last received line matches `pattern`, the match is removed and
// `answer` is sent verbatim.
struct ExpectRule {
    PatternSpec pattern;
    std::string answer;
    friend bool operator==(const ExpectRule&, const ExpectRule&) = default;
};

// A platform's way to privileged mode (docs/worker.md#platforms).
struct EnableSpec {
    std::string command;
    std::optional<PatternSpec> password_prompt;  // absent: the telnet password prompt regex
    std::optional<PatternSpec> when_prompt;      // absent: only when credentials carry enable
};

// The element's "platform" object (docs/api.md#get-workernext): what the server resolved
// from the device's built-in platform; only the fields a worker uses.
struct PlatformLease {
    std::string name;
    bool exec = false;  // "channel": "exec" (else "shell")
    int pty_width = 511;
    int pty_height = 24;
    bool strip_ansi = false;
    std::optional<PatternSpec> prompt;
    std::optional<PatternSpec> pager;
    std::vector<ExpectRule> expect;
    std::optional<EnableSpec> enable;
    std::vector<std::string> setup;
    std::vector<std::string> commands;  // the job's command set
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
    std::vector<std::string> commands;  // {"inline": [...]}; empty when the job has none
    // {"platform": "SET"}: the set's name (its commands come in `platform`).
    std::optional<std::string> command_set;
    std::optional<std::vector<std::string>> setup;
    std::optional<std::vector<ExpectRule>> expect;
    std::optional<PatternSpec> prompt;
    std::optional<PatternSpec> pager;
    std::int64_t timeout = 300;  // seconds
    // the device's platform, when it has one
    std::optional<PlatformLease> platform;
    // occurrence
    std::int64_t timestamp = 0;
    std::int64_t expires = 0;
    std::int64_t attempt = 1;
};

// Parses a 200 answer's body. A body that is not the documented shape is an error
// (corruption) naming the element and field; nothing of it is used then.
Result<std::vector<Lease>> parse_leases(std::string_view body);

}  // namespace netkeep::worker
