// A push runs in a child process (netkeepd itself, started again with
// k_mirror_push_child_flag): the parent kills it when the mirror's timeout passes or
// netkeepd stops.
//
// Why a process: libgit2 1.5 (Debian 12) has no network timeouts (GIT_OPT_SET_SERVER_
// TIMEOUT came in 1.7), its callbacks run only between steps, and its ssh transport
// retries the libssh2 handshake for as long as it is told "try again": a server that
// accepts and never speaks would hold a push thread forever. A killed process holds
// nothing. It also keeps the token and passphrase out of netkeepd's own memory, and a
// fault in libgit2 or libssh2 out of the server.
//
// The child reads on stdin: the parent's pid, the repository path, the commit main was read
// at, each on a line, then the mirror as a one-entry --git-mirrors file. It writes one line on
// stdout: error kind, remote's main before, what was pushed, message, separated by tabs.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/git.hpp"
#include "mirror/push.hpp"
#include "netkeep/json.hpp"

extern char** environ;

namespace netkeep::mirror {

namespace {

using Clock = std::chrono::steady_clock;

std::string seconds(std::chrono::milliseconds ms) { return fmt::format("{}", ms.count() / 1000.0); }

// The mirror as parse_git_mirrors reads it (its paths are absolute already).
std::string mirror_json(const GitMirrorConfig& m) {
    std::string out = "{\"mirrors\": [{";
    const std::pair<std::string_view, const std::string*> fields[] = {
        {"name", &m.name},
        {"url", &m.url},
        {"username", &m.username},
        {"ssh_key", &m.ssh_key},
        {"ssh_public_key", &m.ssh_public_key},
        {"ssh_passphrase_file", &m.ssh_passphrase_file},
        {"known_hosts", &m.known_hosts},
        {"token_file", &m.token_file}};
    for (const auto& [key, value] : fields)
        if (!value->empty()) out += fmt::format("{}: {}, ", json_quote(key), json_quote(*value));
    out += fmt::format(R"("force": {}, "timeout": {}, "retry_first": {}, "retry_max": {}}}]}})",
                       m.force ? "true" : "false", seconds(m.timeout), seconds(m.retry_first),
                       seconds(m.retry_max));
    return out;
}

// The message on one line and bounded: a remote's refusal text is the server's to choose.
std::string one_line(std::string text) {
    constexpr std::size_t k_max_message = 1024;
    if (text.size() > k_max_message) text = text.substr(0, k_max_message) + "...";
    for (char& c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return text;
}

std::optional<PushError> error_of(std::string_view name) {
    for (PushError e :
         {PushError::none, PushError::diverged, PushError::rejected, PushError::auth,
          PushError::host_key, PushError::timeout, PushError::unavailable, PushError::local})
        if (push_error_name(e) == name) return e;
    return std::nullopt;
}

// The child's line as an outcome.
PushOutcome parse_result(std::string_view line) {
    std::vector<std::string_view> parts;
    for (int i = 0; i < 3; ++i) {
        auto tab = line.find('\t');
        if (tab == std::string_view::npos) break;
        parts.push_back(line.substr(0, tab));
        line.remove_prefix(tab + 1);
    }
    auto error = parts.size() == 3 ? error_of(parts[0]) : std::nullopt;
    if (!error) return {PushError::unavailable, "the push process ended without a result", "", ""};
    if (line.ends_with('\n')) line.remove_suffix(1);
    return {*error, std::string(line), std::string(parts[1]), std::string(parts[2])};
}

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

struct Child {
    pid_t pid = -1;
    Fd in;   // its stdin
    Fd out;  // its stdout
};

Result<Child> spawn_child(const std::string& program) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0)
        return Status::io_error("pipe: " + std::string(std::strerror(errno)));
    Fd in_read(in[0]), in_write(in[1]);
    if (::pipe2(out, O_CLOEXEC) != 0)
        return Status::io_error("pipe: " + std::string(std::strerror(errno)));
    Fd out_read(out[0]), out_write(out[1]);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    ::posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    std::string flag(k_mirror_push_child_flag);
    char* argv[] = {const_cast<char*>("netkeepd"), flag.data(), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return Status::io_error(fmt::format("starting {}: {}", program, std::strerror(rc)));
    return Child{pid, std::move(in_write), std::move(out_read)};
}

// Reads the child's stdout until EOF, the deadline or abort; kills it unless it ended.
// Whether it ended by itself.
bool collect(Child& child, const PushRequest& request, std::string& output) {
    ::fcntl(child.out.get(), F_SETFL, O_NONBLOCK);
    for (;;) {
        if (Clock::now() >= request.deadline || (request.abort && request.abort->load())) break;
        pollfd p{child.out.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) break;
        char buffer[4096];
        ssize_t n = ::read(child.out.get(), buffer, sizeof buffer);
        if (n == 0) return true;
        if (n > 0 && output.size() < 65536) output.append(buffer, std::size_t(n));
        if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
    }
    ::kill(child.pid, SIGKILL);
    return false;
}

}  // namespace

PushOutcome push_in_child(const PushRequest& request, const std::string& program) {
    if (request.repo_path.find('\n') != std::string::npos)
        return local_failure("the repository path holds a line break");
    auto child = spawn_child(program);
    if (!child) return local_failure(child.status().message());
    const std::string input = std::to_string(::getpid()) + "\n" + request.repo_path + "\n" +
                              request.commit + "\n" + mirror_json(*request.mirror);
    // A few KiB: the pipe takes it whole. (netkeepd ignores SIGPIPE: a child that died at
    // once makes this write fail, and the missing result says so.)
    (void)!::write(child->in.get(), input.data(), input.size());
    child->in.reset();
    std::string output;
    const bool ended = collect(*child, request, output);
    int status = 0;
    while (::waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!ended) {
        PushOutcome out;
        out.error = PushError::timeout;
        out.message =
            request.abort && request.abort->load()
                ? "stopped: netkeepd is shutting down"
                : fmt::format("timed out after {} s", request.mirror->timeout.count() / 1000.0);
        return out;
    }
    if (WIFSIGNALED(status))
        return {PushError::unavailable,
                fmt::format("the push process was killed by signal {}", WTERMSIG(status)), "", ""};
    return parse_result(output);
}

}  // namespace netkeep::mirror

namespace netkeep {

int run_git_mirror_push_child() {
    using namespace mirror;
    // The mirror thread that started this process kills it at the timeout; should netkeepd
    // die first (kill -9), the kernel does. A parent gone before the prctl: another process
    // (init or a subreaper) adopted us, so getppid() is no longer the pid the parent sent.
    // (Not "getppid() == 1": in a container netkeepd itself is often pid 1.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::string parent, repo, commit;
    std::getline(std::cin, parent);
    if (parent != std::to_string(::getppid())) return 1;
    std::getline(std::cin, repo);
    std::getline(std::cin, commit);
    std::string json((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    PushOutcome outcome;
    auto mirrors = parse_git_mirrors(json, "/");
    gitwriter::Libgit2 libgit2;
    if (!mirrors || mirrors->size() != 1) {
        outcome = local_failure("bad request: " + mirrors.status().message());
    } else if (!libgit2.status()) {
        outcome = local_failure(libgit2.status().message());
    } else {
        // The parent kills this process at the deadline; the callbacks stop a little
        // before, so that most timeouts still say where they were.
        PushRequest request{repo, &(*mirrors)[0], commit,
                            Clock::now() + (*mirrors)[0].timeout * 9 / 10, nullptr};
        outcome = push_commit(request);
    }
    const std::string line =
        fmt::format("{}\t{}\t{}\t{}\n", push_error_name(outcome.error), outcome.remote_before,
                    outcome.pushed, one_line(outcome.message));
    (void)!::write(1, line.data(), line.size());
    return 0;
}

}  // namespace netkeep
