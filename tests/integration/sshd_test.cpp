// netkeep-worker against a real OpenSSH sshd on loopback, whose ForceCommand is a tiny
// fake CLI (python3). Public-key auth with the key file named by the credentials' `key`;
// the host key is pinned in the worker's known-hosts file; ~/.ssh/config and
// ~/.ssh/known_hosts are ignored. sshd runs as root inside a private mount namespace
// (it needs /run/sshd; the host's /run is untouched). Skipped, with a message, without
// /usr/sbin/sshd, ssh-keygen, python3, unshare or root.
#include <doctest/doctest.h>

#include <pwd.h>
#include <unistd.h>

#include <fstream>

#include "e2e_support.hpp"
#include "loopback_sshd.hpp"
#include "support/skip.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

const std::string k_config =
    "hostname sshd-r1\n!\ninterface Loopback0\n ip address 10.0.0.1 255.255.255.255\n!\nend\n";

std::string cli_script() {
    return R"(import sys
name = "sshd-r1"
config = )" +
           std::string("\"") +
           [] {
               std::string e;
               for (char c : k_config) e += c == '\n' ? std::string("\\n") : std::string(1, c);
               return e;
           }() +
           "\"\n" + R"(
def w(s):
    sys.stdout.write(s)
    sys.stdout.flush()
w("\nfake CLI behind OpenSSH\n\n" + name + "#")
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.strip()
    if cmd in ("show run", "show running-config"):
        w(config)
    elif cmd in ("exit", "quit"):
        break
    elif cmd and cmd != "terminal length 0":
        w("% Invalid input detected at '^' marker.\n")
    w(name + "#")
)";
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s, '\0');
    return s;
}

}  // namespace

TEST_CASE("a real OpenSSH sshd: public-key auth, pinned host key, the config in git") {
    auto sshd = start_loopback_sshd(cli_script());
    if (!sshd) return;
    const passwd* me = ::getpwuid(::geteuid());
    REQUIRE(me);
    const TempDir& dir = sshd->dir;
    const std::uint16_t port = sshd->port;

    // A HOME whose ssh files would break the job if they were read: another port and user,
    // and a wrong host key for the device.
    fs::create_directories(dir / "home/.ssh");
    std::ofstream(dir / "home/.ssh/config") << "Host *\n  Port 1\n  User nobody\n";
    std::ofstream(dir / "home/.ssh/known_hosts") << fmt::format(
        "[127.0.0.1]:{} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIM04w2Z+Z6HfRE6UcrIkj2K/gNoeDf4KfWvMWtOtmnUe\n",
        port);

    DeviceEntry device{"sshd-r1", "ssh", port};
    device.key = (dir / "user_key").string();
    device.user = me->pw_name;  // the account sshd logs into, not the device name
    Backup b({device}, R"("schedule": {"interval": 3600}, "timeout": 20)");

    auto env_home = "HOME=" + (dir / "home").string();
    std::vector<std::string> argv{env_path("NETKEEP_WORKER"), "--server",  b.url(), "--known-hosts",
                                  b.known_hosts.string(),     "--seconds", "1"};
    auto worker = Process::spawn(argv, SpawnOptions{{env_home}, std::nullopt});
    REQUIRE(worker.is_ok());
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 1; }, 30s),
                    worker->stderr_text() << "\nsshd: " << sshd->process.stderr_text());
    CHECK(b.file("sshd-r1") == k_config);
    CHECK(sshd->process.stderr_text().find("Accepted publickey for " + std::string(me->pw_name)) !=
          std::string::npos);

    const std::string host_pub = read_file(dir / "host_key.pub");
    const std::string key_b64 = host_pub.substr(0, host_pub.rfind(' '));  // "ssh-ed25519 AAAA..."
    CHECK(read_file(b.known_hosts) == fmt::format("[127.0.0.1]:{} {}\n", port, key_b64));
    CHECK(stop(*worker).code == 0);
    sshd->process.kill();
}
