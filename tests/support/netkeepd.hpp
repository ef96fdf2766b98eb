#pragma once
// Starting the real netkeepd for a test: the binary's path comes from the environment
// variable NETKEEPD (set by tests/integration/meson.build).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "netkeep/status.hpp"
#include "support/process.hpp"

namespace netkeep::testing {

Result<std::filesystem::path> netkeepd_path();

struct RunningServer {
    Process process;
    std::string host;
    std::uint16_t port = 0;
};

// Runs netkeepd with `args` and waits for its "listening on HOST:PORT" line. Fails with
// the server's stderr in the message when it exits or stays silent instead.
Result<RunningServer> start_netkeepd(std::vector<std::string> args, SpawnOptions spawn = {},
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace netkeep::testing
