#pragma once
// The SSH side of the fake device (libssh server API). The only file that includes libssh.

#include <filesystem>
#include <memory>
#include <optional>

#include "farm.hpp"
#include "net.hpp"
#include "netkeep/status.hpp"

namespace netkeep::fake_device {

struct Ssh_options {
    // Ed25519 host key; generated and written there when missing. None: a key made for
    // this run only.
    std::optional<std::filesystem::path> host_key;
    // OpenSSH authorized_keys format; none: public-key logins are all refused.
    std::optional<std::filesystem::path> authorized_keys;
};

// Accepts SSH connections on one listener and serves each on its own thread: password,
// keyboard-interactive or public-key login as the device named by the user, then a
// session channel with a shell (on a PTY or not) that runs the device's Cli.
class Ssh_server {
public:
    // Loads or creates the host key and reads the authorized keys.
    static Result<std::unique_ptr<Ssh_server>> create(const Ssh_options& options, Farm& farm,
                                                      Connections& connections);
    ~Ssh_server();

    // Accepts until connections.stop(); runs on the calling thread.
    void run(Listener listener);

    struct State;  // libssh handles; defined in ssh_server.cpp

private:
    explicit Ssh_server(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// Calls ssh_init() once; false when libssh cannot start.
bool init_libssh();

}  // namespace netkeep::fake_device
