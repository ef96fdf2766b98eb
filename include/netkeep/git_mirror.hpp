#pragma once
// Git mirrors: after the git writer publishes, push `main` to other git remotes (a GitLab,
// a Gitea, a bare repository on a file share) over SSH (key file), HTTPS (token file) or
// file://. docs/mirrors.md describes the configuration and what is reported.
//
// A consumer of the repository, not of the event log: each mirror pushes the newest main
// (coalescing: a mirror that was down for a day pushes once), on its own thread, with its
// own timeout and backoff, and never blocks the git writer. Its durable cursor is the git
// writer's applied seq that the pushed main covered (meta "consumer.mirror.<name>.cursor",
// and "consumer.mirror.<name>.commit" the commit pushed).
//
// No libgit2 type appears here: src/mirror reaches libgit2 through src/gitwriter/git.hpp.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/consumer.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// One remote, as the --git-mirror flag or the --git-mirrors file gives it. Paths are
// absolute once parsed (relative ones are resolved against the file's directory).
struct GitMirrorConfig {
    std::string name;            // [A-Za-z0-9][A-Za-z0-9._-]{0,63}; the cursor's and health's key
    std::string url;             // file://, ssh://, user@host:path, https:// (no password in it)
    std::string username;        // ssh/https user when the URL has none ("git")
    std::string ssh_key;         // private key file (ssh)
    std::string ssh_public_key;  // optional: libssh2 derives it from the private key
    std::string ssh_passphrase_file;  // optional: the private key's passphrase
    std::string known_hosts;          // required for ssh: unknown hosts are refused
    std::string token_file;           // https: the password/token, one line
    bool force = false;               // overwrite a remote main that diverged
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};  // one push, connect included
    std::chrono::milliseconds retry_first{std::chrono::seconds(1)};
    std::chrono::milliseconds retry_max{std::chrono::seconds(300)};
};

// The most mirrors one netkeepd pushes to (each has a thread).
inline constexpr std::size_t k_max_git_mirrors = 32;
// The largest --git-mirrors file read.
inline constexpr std::uint64_t k_max_git_mirrors_file = 1 << 20;

// "--git-mirror [NAME=]URL": without NAME, one is made from the URL's host and path.
// Checks the URL as parse_git_mirrors does; no file is read.
Result<GitMirrorConfig> git_mirror_from_flag(std::string_view value);

// The --git-mirrors file's text ({"mirrors": [...]}, docs/mirrors.md). Errors name the
// JSON path ("mirrors[1].timeout"). Relative file names are taken from `base_dir`.
Result<std::vector<GitMirrorConfig>> parse_git_mirrors(std::string_view json,
                                                       const std::filesystem::path& base_dir);

// Reads and parses the file (at most k_max_git_mirrors_file bytes); errors name the file.
Result<std::vector<GitMirrorConfig>> load_git_mirrors(const std::filesystem::path& file);

// The checks that need the file system, at start: names unique, the key, known_hosts,
// passphrase and token files present and readable (secret files: a warning when group or
// others can read them). Errors name the mirror and the file.
Status check_git_mirrors(const std::vector<GitMirrorConfig>& mirrors);

// The URL for log lines and errors: any userinfo password replaced by "***" (a checked
// URL has none; libgit2's messages may quote what they were given).
std::string scrub_url(std::string_view url);

struct GitMirrorsOptions {
    std::string repo_path;  // <data-dir>/repo.git, the git writer's
    std::vector<GitMirrorConfig> mirrors;
    // The git writer's applied seq (GitWriter::applied_seq): read before main is, so the
    // pushed main covers at least that seq.
    std::function<std::uint64_t()> applied_seq;
    // How often a mirror looks at main without being notified.
    std::chrono::milliseconds poll{std::chrono::seconds(2)};
    // What each push runs: netkeepd itself with k_mirror_push_child_flag.
    std::string program = "/proc/self/exe";
};

// A push runs in a child process, killed when its timeout passes (libgit2 1.5 has no
// network timeouts): netkeepd started with this flag as its only argument reads the push
// on stdin and answers on stdout. Not for operators; not in --help.
inline constexpr std::string_view k_mirror_push_child_flag = "--internal-git-mirror-push";
// The child's main(): its exit code.
int run_git_mirror_push_child();

// Threads: open_git_mirrors, start and stop from one owning thread (netkeepd's main).
// start() runs one thread per mirror ("netkeep-mirror"), which runs each push in a child
// process. notify() and health() may be called from any thread and never block on a
// push. stop() (the destructor calls it) kills pushes in progress and joins; call it before the
// event log closes (a mirror writes its cursor into meta).
class GitMirrors {
public:
    virtual ~GitMirrors() = default;
    virtual Status start() = 0;
    virtual void stop() = 0;
    // main may have moved (the git writer's on_applied): wakes every mirror. Cheap.
    virtual void notify() = 0;
    // One entry per mirror, named "mirror.<name>".
    virtual std::vector<ConsumerHealth> health() const = 0;
};

Result<std::unique_ptr<GitMirrors>> open_git_mirrors(EventLog& log, GitMirrorsOptions options);

// The meta key of the commit a mirror last pushed ("consumer.mirror.<name>.commit").
inline std::string git_mirror_commit_key(std::string_view name) {
    return "consumer.mirror." + std::string(name) + ".commit";
}

}  // namespace netkeep
