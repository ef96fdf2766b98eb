#pragma once
// SSH to a device with libssh (the only file that includes it): connect, check the host
// key (against the keys the inventory pins for the device, else the worker's known-hosts
// file: pin on first use unless strict, refuse a changed key), and only then
// authenticate (public key, password, keyboard-interactive) and open a shell on a PTY, or
// run each command on an exec channel.
// ~/.ssh/config and the system-wide known_hosts are ignored.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netkeep/status.hpp"
#include "worker/lease.hpp"
#include "worker/transport.hpp"

namespace netkeep::worker {

struct SshOptions {
    std::string known_hosts;  // the file of pinned host keys
    // --strict-host-keys: a device whose key is pinned neither in the inventory nor in
    // the file is refused instead of pinned on first use.
    bool strict_host_keys = false;
    std::chrono::milliseconds connect_timeout{10000};
    // The shell channel's PTY: the platform's size, else wide lines so that devices do
    // not wrap long commands or output lines.
    int pty_width = 511;
    int pty_height = 24;
};

// An exec-channel job (a platform with "channel": "exec").
struct ExecJob {
    std::vector<std::string> setup;  // run first, output discarded
    std::vector<std::string> commands;
    bool strip_ansi = false;
    std::uint64_t max_output = UINT64_MAX;
};

// The error's message is the job's failure text (docs/worker.md#failures).
Result<std::unique_ptr<Transport>> open_ssh(const Lease& lease, const SshOptions& options,
                                            std::chrono::steady_clock::time_point deadline);

// Exec channel mode: connects and authenticates as open_ssh does, then runs each command
// on its own exec channel, its stdout to `sink`. nullopt on success, else the failure
// text: the connection's, "command failed: ..." for a non-zero exit status, "timed out"
// or "too large" as in a shell session.
std::optional<std::string> run_ssh_exec(const Lease& lease, const SshOptions& options,
                                        const Clocks& clocks, const ExecJob& job,
                                        const CliSession::Sink& sink);

// Call once before any thread uses SSH.
void ssh_global_init();

}  // namespace netkeep::worker
