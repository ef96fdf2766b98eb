#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

namespace netkeep::testing {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto k_poll = std::chrono::milliseconds(10);

std::string read_file_from(const std::filesystem::path& path, std::size_t offset) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(offset));
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// posix_spawn file actions, released however spawn() returns.
class FileActions {
public:
    FileActions() { ok_ = ::posix_spawn_file_actions_init(&actions_) == 0; }
    ~FileActions() {
        if (ok_) ::posix_spawn_file_actions_destroy(&actions_);
    }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    bool ok() const { return ok_; }
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_{};
    bool ok_ = false;
};

}  // namespace

Result<Process> Process::spawn(std::vector<std::string> argv, SpawnOptions options) {
    if (argv.empty()) return Status::invalid_argument("spawn: empty argv");
    auto output = TempDir::create("netkeep-proc");
    if (!output) return output.status();
    const std::string out_path = (output.value() / "stdout").string();
    const std::string err_path = (output.value() / "stderr").string();

    FileActions actions;
    if (!actions.ok()) return Status::io_error("posix_spawn_file_actions_init failed");
    ::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(actions.get(), 1, out_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_addopen(actions.get(), 2, err_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string cwd;
    if (options.working_dir) {
        cwd = options.working_dir->string();
        // glibc 2.29+; the test machines run Debian 12 (glibc 2.36).
        ::posix_spawn_file_actions_addchdir_np(actions.get(), cwd.c_str());
    }

    // Environment: the parent's, with options.env replacing or adding entries.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry(*e);
        auto name = entry.substr(0, entry.find('=') + 1);
        bool replaced = false;
        for (const auto& add : options.env) replaced = replaced || add.starts_with(name);
        if (!replaced) env_strings.push_back(std::move(entry));
    }
    for (const auto& add : options.env) env_strings.push_back(add);

    std::vector<char*> argv_ptrs;
    for (auto& a : argv) argv_ptrs.push_back(a.data());
    argv_ptrs.push_back(nullptr);
    std::vector<char*> env_ptrs;
    for (auto& e : env_strings) env_ptrs.push_back(e.data());
    env_ptrs.push_back(nullptr);

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0].c_str(), actions.get(), nullptr, argv_ptrs.data(),
                           env_ptrs.data());
    if (rc != 0) return Status::io_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
    return Process(pid, std::move(output.value()));
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      output_(std::move(other.output_)),
      stdout_offset_(other.stdout_offset_),
      exit_(other.exit_) {}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        kill();
        pid_ = std::exchange(other.pid_, -1);
        output_ = std::move(other.output_);
        stdout_offset_ = other.stdout_offset_;
        exit_ = other.exit_;
    }
    return *this;
}

Process::~Process() { kill(); }

bool Process::poll_exit() {
    if (reaped()) return true;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return false;
    ExitStatus exit;
    if (r == pid_) {
        if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
    }
    exit_ = exit;
    pid_ = -1;
    return true;
}

Result<std::string> Process::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        // Check for exit first: a child that wrote its last line and exited still has it read.
        const bool gone = poll_exit();
        std::string text = read_file_from(output_ / "stdout", stdout_offset_);
        if (auto nl = text.find('\n'); nl != std::string::npos) {
            stdout_offset_ += nl + 1;
            return text.substr(0, nl);
        }
        if (gone) return Status::not_found("the process exited without writing another line");
        if (clock::now() >= deadline) return Status::unavailable("no line on stdout in time");
        std::this_thread::sleep_for(k_poll);
    }
}

std::string Process::stderr_text() const { return read_file_from(output_ / "stderr", 0); }
std::string Process::stdout_text() const { return read_file_from(output_ / "stdout", 0); }

Status Process::send_signal(int sig) {
    if (reaped()) return Status::not_found("the process has already exited");
    if (::kill(pid_, sig) != 0)
        return Status::io_error(std::string("kill: ") + std::strerror(errno));
    return Status::ok();
}

Result<ExitStatus> Process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!poll_exit()) {
        if (clock::now() >= deadline) return Status::unavailable("the process is still running");
        std::this_thread::sleep_for(k_poll);
    }
    return *exit_;
}

void Process::kill() {
    if (reaped()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

}  // namespace netkeep::testing
