// netkeep-worker against a real OpenSSH sshd on loopback, whose ForceCommand is a tiny
// fake CLI (python3). Public-key auth with the key file named by the credentials' `key`;
// the host key is pinned in the worker's known-hosts file; ~/.ssh/config and
// ~/.ssh/known_hosts are ignored. sshd runs as root inside a private mount namespace
// (it needs /run/sshd; the host's /run is untouched). Skipped, with a message, without
// /usr/sbin/sshd, ssh-keygen, python3, unshare or root.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "e2e_support.hpp"
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

std::uint16_t free_port() {
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

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s, '\0');
    return s;
}

}  // namespace

TEST_CASE("a real OpenSSH sshd: public-key auth, pinned host key, the config in git") {
    for (const char* tool :
         {"/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/python3", "/usr/bin/unshare"}) {
        if (!fs::exists(tool)) {
            netkeep::testing::skip_test(std::string(tool) + " is not installed");
            return;
        }
    }
    if (::geteuid() != 0) {
        netkeep::testing::skip_test("sshd in a private mount namespace needs root");
        return;
    }
    const passwd* me = ::getpwuid(::geteuid());
    REQUIRE(me);

    TempDir dir = TempDir::create("netkeep-sshd").value();
    for (const char* key : {"host_key", "user_key"})
        REQUIRE(run_program(
            {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / key).string()}));
    fs::copy_file(dir / "user_key.pub", dir / "authorized_keys");
    std::ofstream(dir / "cli.py") << cli_script();
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
    if (!eventually(
            [&] { return sshd->stderr_text().find("Server listening") != std::string::npos; },
            10s)) {
        const std::string err = sshd->stderr_text();
        if (err.find("unshare") != std::string::npos || err.find("mount") != std::string::npos) {
            netkeep::testing::skip_test("cannot make a private mount namespace here: " + err);
            return;
        }
        FAIL("sshd did not start: " << err);
    }

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
                    worker->stderr_text() << "\nsshd: " << sshd->stderr_text());
    CHECK(b.file("sshd-r1") == k_config);
    CHECK(sshd->stderr_text().find("Accepted publickey for " + std::string(me->pw_name)) !=
          std::string::npos);

    const std::string host_pub = read_file(dir / "host_key.pub");
    const std::string key_b64 = host_pub.substr(0, host_pub.rfind(' '));  // "ssh-ed25519 AAAA..."
    CHECK(read_file(b.known_hosts) == fmt::format("[127.0.0.1]:{} {}\n", port, key_b64));
    CHECK(stop(*worker).code == 0);
    sshd->kill();
}
