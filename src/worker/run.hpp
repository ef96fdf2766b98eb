#pragma once
// Running one leased job against its device: connect (SSH or telnet), log in, run the
// commands, collect the output. Blocking; one call per job, any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "worker/lease.hpp"
#include "worker/output.hpp"
#include "worker/session.hpp"

namespace netkeep::worker {

struct RunOptions {
    std::string known_hosts;
    // --strict-host-keys: only devices whose SSH host key is pinned (inventory or
    // known-hosts file) get credentials; telnet devices are refused (docs/worker.md).
    bool strict_host_keys = false;
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds idle_timeout{30000};
    std::chrono::milliseconds quiet{200};
    // --max-output: a job whose output grows past this fails "too large" and its session
    // is closed. The default is netkeepd's default --max-upload: more would be refused.
    std::uint64_t max_output = std::uint64_t(1) << 30;
};

// Runs the job; its output goes to `out`. nullopt on success, else the failure text
// (docs/worker.md#failures); on failure `out` may hold partial output, never to be
// posted as a success. `server_now_ms`: the server's clock now (ServerClock), against
// which the lease's expiry is measured.
std::optional<std::string> run_job(const Lease& lease, const RunOptions& options, OutputBuffer& out,
                                   std::int64_t server_now_ms);

// Builds the session a job runs (its prompt, pager, commands), or the failure text.
Result<SessionOptions> session_options(const Lease& lease);

}  // namespace netkeep::worker
