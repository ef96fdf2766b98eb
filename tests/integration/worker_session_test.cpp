// The worker's session (src/worker/run.cpp) against real servers, without netkeepd: a
// lease built here, run_job() as the worker runs it.
//  - shell mode against tools/fake-device (IOS-like): the prompt confirmed by probes, so
//    a job takes no quiet period (the test sets --quiet-ms to 5 s: one fallback would
//    show), the config byte-exact although its banner holds a line equal to the prompt;
//    the platform's setup (output discarded) and pager.
//  - the same over telnet (the worker answers the login prompts itself).
//  - exec-channel mode against a real OpenSSH sshd whose ForceCommand answers
//    $SSH_ORIGINAL_COMMAND (python3): CR LF folded, ANSI stripped, setup discarded, and a
//    non-zero exit status failing the job with stderr's first line. Skipped, with a
//    message, without /usr/sbin/sshd, ssh-keygen, python3, unshare or root.
#include <doctest/doctest.h>

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "e2e_support.hpp"
#include "loopback_sshd.hpp"
#include "support/skip.hpp"
#include "worker/run.hpp"
#include "worker/ssh.hpp"

using namespace netkeep;
using namespace netkeep::testing;
using namespace netkeep::worker;

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Lease lease_for(std::string name, std::uint16_t port, std::string user, std::string pass) {
    Lease l;
    l.device = name;
    l.host = "127.0.0.1";
    l.protocol = "ssh";
    l.port = port;
    l.credentials.user = std::move(user);
    if (!pass.empty()) l.credentials.pass = std::move(pass);
    l.job = "j";
    l.timeout = 60;
    l.expires = now_ms() / 1000 + 120;
    return l;
}

struct Ran {
    std::optional<std::string> failure;
    std::string output;
    std::chrono::milliseconds took;
};

Ran run(const Lease& lease, const fs::path& known_hosts, std::chrono::milliseconds quiet) {
    RunOptions options;
    options.known_hosts = known_hosts.string();
    options.quiet = quiet;
    OutputBuffer out;
    const auto start = std::chrono::steady_clock::now();
    Ran r;
    r.failure = run_job(lease, options, out, now_ms());
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    REQUIRE(out.read_all([&](std::string_view piece) {
                   r.output.append(piece);
                   return Status::ok();
               })
                .is_ok());
    return r;
}

// The exec "device": one command per connection's channel, from $SSH_ORIGINAL_COMMAND.
const char* k_exec_cli = R"(import os, sys
cmd = os.environ.get("SSH_ORIGINAL_COMMAND", "")
if cmd == "show configuration":
    sys.stdout.write("\x1b[1m## Last commit: 2026-12-05\x1b[m\r\nset system host-name ex1\r\n"
                     "set interfaces ge-0/0/0 description \"ex1> \"\r\n")
elif cmd == "show version":
    sys.stdout.write("Junos: 21.4R3\n")
elif cmd == "set cli screen-length 0":
    sys.stdout.write("Screen length set to 0\n")
else:
    sys.stderr.write("\nerror: syntax error: " + cmd + "\nsecond line\n")
    sys.exit(3)
)";

}  // namespace

TEST_CASE("shell mode against fake-device: probes confirm every prompt, no quiet period") {
    ssh_global_init();
    FakeDevice device = start_fake_device({});
    TempDir dir = TempDir::create("netkeep-session").value();
    // promptline-*: the config's banner holds a line equal to the device's prompt.
    const std::string name = "promptline-r1";
    const std::string config = print_config(name);
    REQUIRE(config.find("\n" + name + "#\n") != std::string::npos);

    Lease lease = lease_for(name, device.ssh_port, name, "netkeep");
    lease.commands = {"terminal length 0", "show running-config"};
    Ran r = run(lease, dir / "known_hosts", std::chrono::milliseconds(5000));
    REQUIRE_MESSAGE(!r.failure, r.failure.value_or(""));
    CHECK(r.output == config);
    // Login and two commands: three prompts. One quiet period would take 5 s.
    CHECK(r.took < std::chrono::milliseconds(5000));

    // The platform's set, setup (discarded) and pager: the device pages every 20 lines.
    Lease paged = lease_for(name, device.ssh_port, name, "netkeep");
    PlatformLease platform;
    platform.name = "ios";
    platform.prompt = PatternSpec{PatternSpec::Kind::regex, R"([\w.-]+[>#]$)"};
    platform.setup = {"terminal length 20"};
    platform.commands = {"show running-config"};
    platform.pty_width = 200;
    paged.platform = platform;
    r = run(paged, dir / "known_hosts", std::chrono::milliseconds(5000));
    REQUIRE_MESSAGE(!r.failure, r.failure.value_or(""));
    CHECK(r.output == config);
    CHECK(r.took < std::chrono::milliseconds(5000));
}

TEST_CASE("telnet against fake-device: the login answered, then probes as over SSH") {
    FakeDevice device = start_fake_device({});
    TempDir dir = TempDir::create("netkeep-session").value();
    const std::string name = "promptline-t1";
    Lease lease = lease_for(name, device.telnet_port, name, "netkeep");
    lease.protocol = "telnet";
    lease.commands = {"terminal length 0", "show running-config"};
    Ran r = run(lease, dir / "known_hosts", std::chrono::milliseconds(5000));
    REQUIRE_MESSAGE(!r.failure, r.failure.value_or(""));
    CHECK(r.output == print_config(name));
    CHECK(r.took < std::chrono::milliseconds(5000));
}

TEST_CASE("exec mode against a real OpenSSH sshd: one channel per command, exit status") {
    auto sshd = start_loopback_sshd(k_exec_cli);
    if (!sshd) return;
    ssh_global_init();
    const passwd* me = ::getpwuid(::geteuid());
    REQUIRE(me);
    const TempDir& dir = sshd->dir;
    const std::uint16_t port = sshd->port;

    Lease lease = lease_for("ex1", port, me->pw_name, "");
    lease.credentials.key = (dir / "user_key").string();
    PlatformLease platform;
    platform.name = "junos";
    platform.exec = true;
    platform.strip_ansi = true;
    platform.setup = {"set cli screen-length 0"};
    platform.commands = {"show configuration", "show version"};
    lease.platform = platform;
    Ran r = run(lease, dir / "known_hosts", std::chrono::milliseconds(200));
    REQUIRE_MESSAGE(!r.failure, r.failure.value_or("")
                                    << "\nsshd: " << sshd->process.stderr_text());
    CHECK(r.output ==
          "## Last commit: 2026-12-05\nset system host-name ex1\n"
          "set interfaces ge-0/0/0 description \"ex1> \"\nJunos: 21.4R3\n");

    // Without strip_ansi the sequences stay; the job's inline commands win over the set.
    lease.platform->strip_ansi = false;
    lease.commands = {"show configuration"};
    r = run(lease, dir / "known_hosts", std::chrono::milliseconds(200));
    REQUIRE_MESSAGE(!r.failure, r.failure.value_or(""));
    CHECK(r.output.starts_with("\x1b[1m## Last commit"));

    // A command that exits non-zero fails the job, with stderr's first line.
    lease.commands = {"show version", "show bogus"};
    r = run(lease, dir / "known_hosts", std::chrono::milliseconds(200));
    REQUIRE(r.failure);
    CHECK(*r.failure ==
          "command failed: \"show bogus\" exited with status 3: \"error: syntax error: show "
          "bogus\"");
    sshd->process.kill();
}
