#include "telnet_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <thread>

#include "cli.hpp"
#include "telnet.hpp"

namespace netkeep::fake_device {
namespace {

constexpr int k_poll_ms = 100;

class Telnet_connection {
public:
    Telnet_connection(const Farm& farm, Connections& connections, UniqueFd fd)
        : farm_(farm), connections_(connections), fd_(std::move(fd)) {}
    ~Telnet_connection() { connections_.untrack(fd_.get()); }

    Telnet_connection(const Telnet_connection&) = delete;
    Telnet_connection& operator=(const Telnet_connection&) = delete;

    void run();

private:
    // Raw bytes to the socket; false when the connection is gone or we are stopping.
    bool send_raw(std::string_view data);
    bool send(std::string_view data) { return send_raw(telnet_escape(data)); }
    // Filtered client bytes (maybe empty after a poll timeout); nullopt at EOF/error/stop.
    std::optional<std::string> receive(int timeout_ms);

    const Farm& farm_;
    Connections& connections_;
    UniqueFd fd_;
    Telnet_filter filter_;
};

bool Telnet_connection::send_raw(std::string_view data) {
    while (!data.empty()) {
        if (connections_.stopping()) return false;
        const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::optional<std::string> Telnet_connection::receive(int timeout_ms) {
    if (connections_.stopping()) return std::nullopt;
    if (!wait_readable(fd_.get(), connections_.wake_fd(), timeout_ms)) {
        if (connections_.stopping()) return std::nullopt;
        return std::string();
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) return std::string();
    if (n <= 0) return std::nullopt;
    return filter_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
}

void Telnet_connection::run() {
    if (!send_raw(k_telnet_offer) || !send(Telnet_login::greeting())) return;

    Telnet_login login([this](const std::string& user, const std::string& password) {
        farm_.log_auth("telnet-password", user);
        return farm_.password_ok(user, password);
    });
    while (true) {
        auto input = receive(k_poll_ms);
        if (!input) return;
        if (input->empty()) continue;
        auto progress = login.feed(*input);
        if (!send(progress.bytes)) return;
        if (progress.state == Telnet_login::State::failed) return;
        if (progress.state == Telnet_login::State::done) break;
    }

    const std::string user = login.user();
    Cli cli(
        user, [this, user] { return farm_.config(user); }, login.ended_with_cr());
    if (!send(cli.greeting())) return;
    cli.feed(login.rest());
    while (true) {
        Step step = cli.step();
        if (!send(step.bytes)) return;
        switch (step.next) {
            case Next::step:
                break;
            case Next::pause:
                std::this_thread::sleep_for(k_slow_line_interval);
                break;
            case Next::read:
                while (true) {
                    auto input = receive(k_poll_ms);
                    if (!input) return;
                    if (input->empty()) continue;
                    cli.feed(*input);
                    break;
                }
                break;
            case Next::close:
                return;  // the socket closes with this object
            case Next::hang:
                while (receive(k_poll_ms)) {
                }
                return;
        }
    }
}

}  // namespace

void run_telnet_server(Listener listener, const Farm& farm, Connections& connections) {
    while (!connections.stopping()) {
        if (!wait_readable(listener.fd.get(), connections.wake_fd(), 1000)) continue;
        UniqueFd fd(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (fd.get() < 0) continue;
        const int raw_fd = fd.get();
        auto connection = std::make_shared<Telnet_connection>(farm, connections, std::move(fd));
        connections.start(raw_fd, [connection] { connection->run(); });
    }
}

}  // namespace netkeep::fake_device
