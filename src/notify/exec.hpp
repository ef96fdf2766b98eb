#pragma once
// Running an exec target's program: the notification's JSON on its stdin, a timeout, and
// its output read but bounded. The program gets a small fixed environment, not netkeepd's
// (which may hold {"env": ...} device passwords), and no descriptor of the server.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::notify {

struct ExecRequest {
    std::vector<std::string> argv;  // argv[0]: an absolute path
    std::vector<std::string> env;   // "NAME=value", the whole environment
    std::string input;              // written to stdin, which is then closed
    std::chrono::milliseconds timeout{10000};
    std::uint64_t max_output = 64 << 10;  // stdout and stderr together; the rest is discarded
    // When set and it becomes true, the program is killed within about 100 ms
    // ("cancelled"): a stopping netkeepd does not wait out the timeout.
    const std::atomic<bool>* cancel = nullptr;
};

struct ExecResult {
    std::string output;              // at most max_output bytes of stdout and stderr
    std::uint64_t output_bytes = 0;  // everything it wrote
};

// Ok when the program exits 0 within the timeout. Otherwise unavailable: "exited with N",
// "killed by signal N", "timed out after N ms" (then it is killed), "cannot start: why".
Result<ExecResult> run_exec(const ExecRequest& request);

}  // namespace netkeep::notify
