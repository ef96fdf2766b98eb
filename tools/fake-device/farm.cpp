#include "farm.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "config_gen.hpp"
#include "device.hpp"
#include "personality.hpp"

namespace netkeep::fake_device {
namespace {

// Bounds the {{run}} counters: any name is a device, so logins could grow the map forever.
constexpr std::size_t k_max_counted_devices = 100000;

}  // namespace

std::uint64_t Farm::generation(std::string_view name) const {
    std::uint64_t base = 0;
    if (settings_.state_dir) {
        std::ifstream in(*settings_.state_dir / std::string(name));
        std::string text;
        if (in && std::getline(in, text)) {
            auto first = text.find_first_not_of(" \t");
            if (first != std::string::npos) {
                const char* begin = text.data() + first;
                std::from_chars(begin, text.data() + text.size(), base);
            }
        }
    }
    return base + bumps_.load(std::memory_order_relaxed);
}

std::string Farm::config(std::string_view name) const {
    if (const Personality* p = find_personality(name)) {
        std::uint64_t run = 0;
        {
            MutexLock lock(runs_mutex_);
            auto it = runs_.find(name);
            if (it != runs_.end()) {
                run = ++it->second;
            } else if (runs_.size() < k_max_counted_devices) {
                runs_.emplace(std::string(name), 1);
                run = 1;
            } else {
                run = 1;  // a farm of that many personality devices: no longer counted
            }
        }
        return personality_config(*p, name, generation(name), run);
    }
    const std::size_t bytes =
        settings_.config_bytes == 0 ? k_default_config_bytes : settings_.config_bytes;
    return generate_config(name, generation(name), bytes);
}

bool Farm::user_ok(std::string_view user) const {
    return valid_device_name(user) && fault_of(user) != Fault::badpass;
}

bool Farm::password_ok(std::string_view user, std::string_view password) const {
    return user_ok(user) && password == settings_.password;
}

void Farm::log_auth(std::string_view method, std::string_view user) const {
    if (!settings_.log_auth) return;
    // One write per line: connection threads log at the same time.
    const std::string line = fmt::format("auth {} user={}\n", method, user);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

Connections::Connections() {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) == 0) {
        wake_read_.reset(fds[0]);
        wake_write_.reset(fds[1]);
    }
}

Connections::~Connections() { reap(); }

void Connections::start(int fd, std::function<void()> serve) {
    reap();
    MutexLock lock(mutex_);
    if (stopping()) ::shutdown(fd, SHUT_RDWR);  // stop() ran already: serve() ends at once
    const std::uint64_t id = next_id_++;
    try {
        // Under the lock, so the thread cannot finish before it is in threads_.
        threads_.emplace(
            id, std::thread([this, id, fd, serve = std::move(serve)]() mutable {
                serve();
                serve = nullptr;  // the connection's resources go before it counts as finished
                MutexLock lock(mutex_);
                fds_.erase(fd);  // no-op when serve() untracked it already
                auto self = threads_.find(id);
                finished_.push_back(std::move(self->second));
                threads_.erase(self);
                idle_.notify_all();
            }));
        fds_.insert(fd);
    } catch (const std::system_error&) {
        // No thread to be had (too many connections): this one is dropped (serve and the
        // connection it holds are gone with the lambda), the others go on.
    }
}

void Connections::reap() {
    std::vector<std::thread> finished;
    {
        MutexLock lock(mutex_);
        finished.swap(finished_);
    }
    // Joined, not detached: a thread's own exit (TLS destructors, e.g. OpenSSL's
    // per-thread state) is over before the process ends.
    for (auto& t : finished) t.join();
}

void Connections::untrack(int fd) {
    MutexLock lock(mutex_);
    fds_.erase(fd);
}

void Connections::stop() {
    stopping_.store(true);
    if (wake_write_.get() >= 0) {
        char byte = 1;
        [[maybe_unused]] auto n = ::write(wake_write_.get(), &byte, 1);
    }
    MutexLock lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

bool Connections::wait_idle(std::chrono::milliseconds timeout) {
    {
        MutexLock lock(mutex_);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!threads_.empty())
            if (!idle_.wait_until(mutex_, deadline)) break;
        if (!threads_.empty()) return false;
    }
    reap();
    return true;
}

}  // namespace netkeep::fake_device
