#include "util/run_program.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace netkeep {

namespace {
// posix_spawn_file_actions_t with its destroy.
class SpawnActions {
public:
    SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
    ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};
}  // namespace

Status run_program(const std::vector<std::string>& argv, const RunProgramOptions& options) {
    if (argv.empty()) return Status::invalid_argument("run_program: no program");
    const std::string& name = argv[0];
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    SpawnActions actions;
    if (options.discard_stdout)
        ::posix_spawn_file_actions_addopen(actions.get(), 1, "/dev/null", O_WRONLY, 0);
    if (options.close_other_fds) ::posix_spawn_file_actions_addclosefrom_np(actions.get(), 3);
    pid_t pid = 0;
    if (int rc =
            ::posix_spawn(&pid, argv[0].c_str(), actions.get(), nullptr, cargv.data(), environ);
        rc != 0)
        return Status::io_error(fmt::format("starting {}: {}", name, std::strerror(rc)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return Status::io_error(fmt::format("waiting for {}: {}", name, std::strerror(errno)));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
    if (WIFEXITED(status))
        return Status::io_error(fmt::format("{} exited with {}", name, WEXITSTATUS(status)));
    return Status::io_error(fmt::format("{} killed by signal {}", name, WTERMSIG(status)));
}

}  // namespace netkeep
