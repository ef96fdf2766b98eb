#include "notify/exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace netkeep::notify {

namespace {

// A pipe's two ends, closed on the way out.
struct Pipe {
    int fd[2] = {-1, -1};
    ~Pipe() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
    void close_end(int i) {
        if (fd[i] >= 0) ::close(fd[i]);
        fd[i] = -1;
    }
};

struct SpawnActions {
    posix_spawn_file_actions_t a;
    SpawnActions() { ::posix_spawn_file_actions_init(&a); }
    ~SpawnActions() { ::posix_spawn_file_actions_destroy(&a); }
};

// The child starts with no signal blocked and SIGPIPE at its default (netkeepd ignores it,
// and an ignored signal stays ignored across exec), in a process group of its own: a
// timeout or a stop kills what it started too ("sh -c 'a | b'"), not only the program.
struct SpawnAttr {
    posix_spawnattr_t a;
    SpawnAttr() {
        ::posix_spawnattr_init(&a);
        sigset_t none, pipe;
        sigemptyset(&none);
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        ::posix_spawnattr_setsigmask(&a, &none);
        ::posix_spawnattr_setsigdefault(&a, &pipe);
        ::posix_spawnattr_setpgroup(&a, 0);
        ::posix_spawnattr_setflags(
            &a, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    }
    ~SpawnAttr() { ::posix_spawnattr_destroy(&a); }
};

// While it lives, a write to a pipe whose reader is gone fails with EPIPE in this thread
// instead of killing the process (where SIGPIPE is not ignored already); a SIGPIPE raised
// meanwhile is consumed before the old mask comes back.
class BlockSigpipe {
public:
    BlockSigpipe() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~BlockSigpipe() {
        const timespec zero{0, 0};
        while (::sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

private:
    sigset_t pipe_;
    sigset_t old_;
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
    std::vector<char*> out;
    for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

bool cancelled(const ExecRequest& request) {
    return request.cancel != nullptr && request.cancel->load();
}

// How long one wait may sleep: the deadline, or a short slice when a cancel is watched.
int wait_ms(const ExecRequest& request, std::chrono::milliseconds left) {
    return int(request.cancel != nullptr ? std::min<std::int64_t>(left.count(), 100)
                                         : left.count());
}

// Feeds stdin and drains the output until both are done, the deadline passes or the
// request is cancelled (then false).
bool pump(Pipe& in, Pipe& out, const ExecRequest& request,
          std::chrono::steady_clock::time_point deadline, ExecResult& result) {
    std::size_t written = 0;
    if (request.input.empty()) in.close_end(1);
    char buf[8192];
    while (out.fd[0] >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || cancelled(request)) return false;
        pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {in.fd[1], POLLOUT, 0}};
        const int n = ::poll(fds, in.fd[1] >= 0 ? 2 : 1, wait_ms(request, left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (in.fd[1] >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w =
                ::write(in.fd[1], request.input.data() + written, request.input.size() - written);
            // A program that does not read its input (EPIPE) is its own business.
            if (w < 0 && errno != EAGAIN && errno != EINTR) in.close_end(1);
            if (w > 0) written += std::size_t(w);
            if (written == request.input.size()) in.close_end(1);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = ::read(out.fd[0], buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                out.close_end(0);
                continue;
            }
            result.output_bytes += std::uint64_t(r);
            const std::size_t room = request.max_output > result.output.size()
                                         ? std::size_t(request.max_output - result.output.size())
                                         : 0;
            result.output.append(buf, std::min(room, std::size_t(r)));
        }
    }
    return true;
}

}  // namespace

Result<ExecResult> run_exec(const ExecRequest& request) {
    if (request.argv.empty() || request.argv[0].empty() || request.argv[0].front() != '/')
        return Status::invalid_argument("exec: the program must be an absolute path");
    Pipe in, out;
    if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0)
        return Status::unavailable(fmt::format("cannot start: pipe: {}", std::strerror(errno)));
    ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
    SpawnActions actions;
    ::posix_spawn_file_actions_adddup2(&actions.a, in.fd[0], 0);
    ::posix_spawn_file_actions_adddup2(&actions.a, out.fd[1], 1);
    ::posix_spawn_file_actions_adddup2(&actions.a, out.fd[1], 2);
    ::posix_spawn_file_actions_addclosefrom_np(&actions.a, 3);
    SpawnAttr attr;
    auto argv = c_strings(request.argv);
    auto envp = c_strings(request.env);
    BlockSigpipe no_sigpipe;
    pid_t pid = -1;
    if (int err = ::posix_spawn(&pid, argv[0], &actions.a, &attr.a, argv.data(), envp.data()))
        return Status::unavailable(fmt::format("cannot start: {}", std::strerror(err)));
    in.close_end(0);
    out.close_end(1);
    ExecResult result;
    const auto deadline = std::chrono::steady_clock::now() + request.timeout;
    bool finished = pump(in, out, request, deadline, result);
    // A program that closed its output may still run (or have left a child holding it):
    // the deadline bounds the wait too.
    int status = 0;
    while (finished) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (std::chrono::steady_clock::now() >= deadline || cancelled(request)) finished = false;
        if (finished) ::usleep(5000);
    }
    if (!finished) {
        ::kill(-pid, SIGKILL);  // its group: what it started holds our pipe, or runs on
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (!finished && cancelled(request)) return Status::unavailable("cancelled (killed)");
    if (!finished)
        return Status::unavailable(
            fmt::format("timed out after {} ms (killed)", request.timeout.count()));
    if (WIFSIGNALED(status))
        return Status::unavailable(fmt::format("killed by signal {}", WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        return Status::unavailable(fmt::format("exited with {}", WEXITSTATUS(status)));
    return result;
}

}  // namespace netkeep::notify
