#pragma once
// A real OpenSSH sshd on loopback for the SSH tests: keys made with ssh-keygen in a temp
// dir, public-key login only, and every session forced into `cli` (a Python script, the
// "device"). sshd needs /run/sshd, so it runs in a private mount namespace with a tmpfs
// there, which needs root. Header-only and doctest-aware, like e2e_support.hpp.

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "support/process.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

namespace netkeep::testing {

// A loopback TCP port that was free a moment ago.
inline std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

// A listening loopback socket nobody accepts on: a connection completes in the kernel's
// backlog and no byte ever comes back (a peer that hangs: an ssh banner or an HTTP
// answer that never arrives).
class SilentListener {
public:
    SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    std::uint16_t port() const { return port_; }

private:
    int fd_;
    std::uint16_t port_ = 0;
};

struct LoopbackSshd {
    TempDir dir;  // host_key(.pub), user_key(.pub), authorized_keys, cli.py, sshd_config
    Process process;
    std::uint16_t port = 0;
    std::filesystem::path user_key() const { return dir / "user_key"; }
    std::filesystem::path host_key_pub() const { return dir / "host_key.pub"; }
};

// nullopt after skip_test() when this machine cannot run it (a tool missing, not root, no
// mount namespaces); a failure when sshd does not start for another reason.
inline std::optional<LoopbackSshd> start_loopback_sshd(const std::string& cli) {
    for (const char* tool :
         {"/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/python3", "/usr/bin/unshare"}) {
        if (!std::filesystem::exists(tool)) {
            skip_test(std::string(tool) + " is not installed");
            return std::nullopt;
        }
    }
    if (::geteuid() != 0) {
        skip_test("sshd in a private mount namespace needs root");
        return std::nullopt;
    }
    TempDir dir = TempDir::create("netkeep-sshd").value();
    for (const char* key : {"host_key", "user_key"}) {
        auto keygen = Process::spawn(
            {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / key).string()});
        REQUIRE(keygen.is_ok());
        auto st = keygen->wait(std::chrono::seconds(30));
        REQUIRE((st.is_ok() && st->exited() && st->code == 0));
    }
    std::filesystem::copy_file(dir / "user_key.pub", dir / "authorized_keys");
    std::ofstream(dir / "cli.py") << cli;
    const std::uint16_t port = free_port();
    std::ofstream(dir / "sshd_config") << fmt::format(
        "Port {0}\nListenAddress 127.0.0.1\nHostKey {1}/host_key\nPidFile none\nStrictModes no\n"
        "UsePAM no\nPermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nAuthorizedKeysFile {1}/authorized_keys\n"
        "ForceCommand /usr/bin/python3 {1}/cli.py\n",
        port, dir.path().string());
    auto sshd = Process::spawn(
        {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
         "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f " +
             (dir / "sshd_config").string()});
    REQUIRE(sshd.is_ok());
    if (!wait_until(
            [&] { return sshd->stderr_text().find("Server listening") != std::string::npos; },
            std::chrono::seconds(10), std::chrono::milliseconds(20))) {
        const std::string err = sshd->stderr_text();
        if (err.find("unshare") != std::string::npos || err.find("mount") != std::string::npos) {
            skip_test("cannot make a private mount namespace here: " + err);
            return std::nullopt;
        }
        FAIL("sshd did not start: " << err);
    }
    return LoopbackSshd{std::move(dir), std::move(sshd.value()), port};
}

}  // namespace netkeep::testing
