#pragma once
// State shared by every connection of one fake-device process: the devices' generations
// and credentials (Farm), and the connection threads (Connections).
//
// Thread rules: both are used from every connection thread at once; their methods are
// thread-safe. Farm::bump() is called from the signal thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net.hpp"
#include "netkeep/mutex.hpp"

namespace netkeep::fake_device {

struct Farm_settings {
    std::string password = "netkeep";
    std::size_t config_bytes = 0;  // 0: k_default_config_bytes
    std::optional<std::filesystem::path> state_dir;
    // --log-auth: one stderr line per login attempt, so a test can tell that a client
    // sent no credentials (e.g. a worker that refused the host key).
    bool log_auth = false;
};

class Farm {
public:
    explicit Farm(Farm_settings settings) : settings_(std::move(settings)) {}

    // (integer in state_dir/NAME, when there is one, else 0) + SIGUSR1s so far. Read from
    // disk on every call, so a test can change one device by writing its file.
    std::uint64_t generation(std::string_view name) const;
    // What the device's config command prints: generate_config(), or for a personality
    // its fixture with {{run}} = how many times this device's config was shown in this
    // process, this one included (1, 2, ...).
    std::string config(std::string_view name) const;

    // Password (also keyboard-interactive) login: a valid name, not badpass-*, the password.
    bool password_ok(std::string_view user, std::string_view password) const;
    // The user part of any login: a valid name and not badpass-*.
    bool user_ok(std::string_view user) const;
    // "auth METHOD user=NAME" on stderr with log_auth (method: ssh-none, ssh-password,
    // ssh-publickey, ssh-keyboard-interactive, telnet-password).
    void log_auth(std::string_view method, std::string_view user) const;

    void bump() { bumps_.fetch_add(1, std::memory_order_relaxed); }

private:
    Farm_settings settings_;
    std::atomic<std::uint64_t> bumps_{0};
    mutable Mutex runs_mutex_;
    mutable std::map<std::string, std::uint64_t, std::less<>> runs_ GUARDED_BY(runs_mutex_);
};

// The connection threads: started, joined once they finish, and their sockets shut down on stop()
// so that blocked reads and writes (a `hang` device, a stalled client) return at once.
class Connections {
public:
    Connections();
    ~Connections();

    // Runs `serve` on a new thread. `fd` is shut down if stop() comes while it is tracked.
    void start(int fd, std::function<void()> serve);
    // Call before the fd is closed (its owner closes it, e.g. libssh's session).
    void untrack(int fd);

    bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
    // Readable once stop() was called: acceptors poll it next to their listening socket.
    int wake_fd() const { return wake_read_.get(); }

    void stop();
    // Waits until every connection thread has returned; false when `timeout` passed first.
    bool wait_idle(std::chrono::milliseconds timeout);

private:
    void reap();  // joins the threads that have finished

    std::atomic<bool> stopping_{false};
    UniqueFd wake_read_;
    UniqueFd wake_write_;
    Mutex mutex_;
    CondVar idle_;
    std::set<int> fds_ GUARDED_BY(mutex_);
    std::uint64_t next_id_ GUARDED_BY(mutex_) = 0;
    std::map<std::uint64_t, std::thread> threads_ GUARDED_BY(mutex_);  // running
    std::vector<std::thread> finished_ GUARDED_BY(mutex_);             // to be joined
};

}  // namespace netkeep::fake_device
