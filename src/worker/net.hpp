#pragma once
// TCP connections to devices, with failures sorted into the texts jobs report
// (docs/worker.md#failures): the Status message of an error is that text.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "netkeep/status.hpp"
#include "util/posix.hpp"

namespace netkeep::worker {

// "[::1]:22" or "host:22".
std::string host_port(const std::string& host, std::uint16_t port);

// Resolves `host` and connects to the first address that accepts within `timeout`
// (a blocking socket is returned). Failure texts:
//   "dns failure: cannot resolve 'HOST': ..."
//   "connection refused: HOST:PORT"
//   "connection timed out: HOST:PORT did not answer within N s"
//   "connection failed: HOST:PORT: <errno text>"
Result<UniqueFd> tcp_connect(const std::string& host, std::uint16_t port,
                             std::chrono::milliseconds timeout);

}  // namespace netkeep::worker
