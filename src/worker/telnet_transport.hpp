#pragma once
// Telnet to a device: TCP plus the telnet filter (worker/telnet.hpp).

#include <chrono>
#include <memory>

#include "netkeep/status.hpp"
#include "worker/lease.hpp"
#include "worker/transport.hpp"

namespace netkeep::worker {

// The error's message is the job's failure text.
Result<std::unique_ptr<Transport>> open_telnet(const Lease& lease,
                                               std::chrono::milliseconds connect_timeout);

}  // namespace netkeep::worker
