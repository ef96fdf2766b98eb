#pragma once
// One push of a commit to a mirror's refs/heads/main with libgit2 (git_remote_push on an
// in-memory remote: nothing is written into the git writer's repository), and the read of
// the local main it pushes. Runs on the mirror's thread; each call opens its own
// repository object (libgit2 objects are not shared between threads).

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "netkeep/git_mirror.hpp"
#include "netkeep/status.hpp"

namespace netkeep::mirror {

// What went wrong, for the log line, the retry and the health's last_error.
enum class PushError {
    none,
    diverged,     // the remote's main has commits ours lacks: not overwritten without force
    rejected,     // the remote refused the update (a hook, a protected branch)
    auth,         // credentials refused or missing
    host_key,     // unknown, changed or revoked ssh host key; a TLS certificate refused
    timeout,      // the push ran past the mirror's timeout (or netkeepd is stopping)
    unavailable,  // connect, transfer or remote failure: retried
    local,        // our repository or a credential file could not be read
};
std::string_view push_error_name(PushError e);

struct PushOutcome {
    PushError error = PushError::none;
    std::string message;        // no secret: never the token, passphrase or key
    std::string remote_before;  // the remote's main before the push (hex; "" when none)
    std::string pushed;         // what the remote's main became (on success)
};

inline PushOutcome local_failure(std::string message) {
    PushOutcome out;
    out.error = PushError::local;
    out.message = std::move(message);
    return out;
}

struct PushRequest {
    std::string repo_path;
    const GitMirrorConfig* mirror = nullptr;
    std::string commit;  // hex: main as the caller read it (main can only have moved on since)
    std::chrono::steady_clock::time_point deadline;
    const std::atomic<bool>* abort = nullptr;  // set when netkeepd stops
};

// In this process (the child's side).
PushOutcome push_commit(const PushRequest& request);

// In a child process, `program` started with k_mirror_push_child_flag (netkeepd itself:
// "/proc/self/exe"), killed at the deadline or on abort (child.cpp says why).
PushOutcome push_in_child(const PushRequest& request, const std::string& program);

// refs/heads/main of the repository at `repo_path` (hex), nullopt while it is unborn.
Result<std::optional<std::string>> read_main(const std::string& repo_path);

// A token or passphrase file: at most 4096 bytes, one line (a final line break dropped).
// Errors name the file, never its content.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace netkeep::mirror
