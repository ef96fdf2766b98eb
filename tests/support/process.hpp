#pragma once
// A child process for integration tests: spawned with posix_spawn, stdout and stderr
// captured in files (a pipe nobody reads could block the child), stopped with a signal,
// reaped with a timeout. The destructor kills (SIGKILL) and reaps a child still running,
// so a failing test never leaves a server behind.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netkeep/status.hpp"
#include "support/temp_dir.hpp"

namespace netkeep::testing {

struct SpawnOptions {
    // "NAME=value" entries added to (or replacing in) the parent's environment.
    std::vector<std::string> env;
    std::optional<std::filesystem::path> working_dir;
};

struct ExitStatus {
    int code = -1;   // exit code when the process exited
    int signal = 0;  // the signal that ended it, else 0
    bool exited() const { return signal == 0; }
};

class Process {
public:
    // argv[0] is the program's path (no PATH search).
    static Result<Process> spawn(std::vector<std::string> argv, SpawnOptions options = {});

    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    pid_t pid() const { return pid_; }

    // The next complete line the child wrote to stdout, without its '\n'. unavailable
    // after `timeout`; not_found once the child has exited and no line is left.
    Result<std::string> read_line(std::chrono::milliseconds timeout);
    // Everything the child wrote to stderr / stdout so far.
    std::string stderr_text() const;
    std::string stdout_text() const;

    Status send_signal(int sig);
    // Reaps the child; unavailable if it is still running after `timeout`.
    Result<ExitStatus> wait(std::chrono::milliseconds timeout);
    // SIGKILL and reap (no-op once reaped).
    void kill();

private:
    Process(pid_t pid, TempDir output) : pid_(pid), output_(std::move(output)) {}
    bool reaped() const { return pid_ <= 0; }
    bool poll_exit();

    pid_t pid_ = -1;
    TempDir output_;  // holds stdout and stderr files
    std::size_t stdout_offset_ = 0;
    std::optional<ExitStatus> exit_;
};

}  // namespace netkeep::testing
