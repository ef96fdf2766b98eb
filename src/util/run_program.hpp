#pragma once
// Running a helper program (git gc, git clone for backups) and waiting for it: one place
// for posix_spawn, EINTR and the exit status, so every caller reports failures alike.

#include <string>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep {

struct RunProgramOptions {
    // Close every descriptor above stderr in the child: the server's sockets and RocksDB
    // files are not a helper's business.
    bool close_other_fds = true;
    // The child's stdout goes to /dev/null (its stderr stays ours, for the operator).
    bool discard_stdout = false;
};

// Runs argv[0] (an absolute path, no PATH search) with argv, the current environment, and
// waits. ok when it exits 0; otherwise io_error "<argv[0]> exited with N", "... killed by
// signal N" or "starting <argv[0]>: <why>", for the caller to prefix with what it was doing.
Status run_program(const std::vector<std::string>& argv, const RunProgramOptions& options = {});

}  // namespace netkeep
