#pragma once
// SSH to a device with libssh (the only file that includes it): connect, check the host
// key (against the keys the inventory pins for the device, else the worker's known-hosts
// file: pin on first use unless strict, refuse a changed key), and only then
// authenticate (public key, password, keyboard-interactive) and open a shell on a PTY.
// ~/.ssh/config and the system-wide known_hosts are ignored.

#include <chrono>
#include <memory>
#include <string>

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
};

// The error's message is the job's failure text (docs/worker.md#failures).
Result<std::unique_ptr<Transport>> open_ssh(const Lease& lease, const SshOptions& options,
                                            std::chrono::steady_clock::time_point deadline);

// Call once before any thread uses SSH.
void ssh_global_init();

}  // namespace netkeep::worker
