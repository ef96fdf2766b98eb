// Git mirrors inside the real netkeepd (docs/mirrors.md): main reaches bare repositories
// over file:// and over a real OpenSSH sshd on loopback; a remote that is down delays only
// itself and catches up when it is back; a diverged remote is reported and left alone
// unless force is set; kill -9 and a restart push what was missing; a silent server is cut
// off by the timeout. Every check polls: the mirrors are asynchronous.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "http/client.hpp"
#include "loopback_sshd.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_mirror.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    TempDir root = TempDir::create("mirror-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path repo = data / "repo.git";

    Fixture() {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json")
            << R"({"devices": [{"name": "r0", "credentials": {"user": "u", "pass": "p"}}]})";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]},
                   "schedule": {"interval": 1}, "retry_delay": 1}]})";
    }
    RunningServer start(std::vector<std::string> extra) {
        std::vector<std::string> args{"--data-dir",       data.string(), "--inventory",
                                      inventory.string(), "--listen",    "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto server = start_netkeepd(args);
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    // A bare repository for a mirror, made as docs/mirrors.md says.
    fs::path bare(const std::string& name) const {
        fs::path path = root / name;
        run_git({"init", "-q", "--bare", "--initial-branch=main", path.string()});
        return path;
    }
    // The --git-mirrors file; `entries` are the mirrors' JSON objects.
    std::string mirrors_file(const std::vector<std::string>& entries) const {
        std::string list;
        for (const auto& e : entries) list += (list.empty() ? "" : ",") + e;
        const fs::path file = root / "mirrors.json";
        std::ofstream(file) << R"({"mirrors": [)" + list + "]}";
        return file.string();
    }
    std::optional<std::string> main_of(const fs::path& git_dir) const {
        auto out = git_output(git_dir, {"rev-parse", "--verify", "-q", "main"});
        if (out && out->ends_with('\n')) out->pop_back();
        return out;
    }
    bool mirrored(const fs::path& mirror) const {
        auto ours = main_of(repo);
        return ours && main_of(mirror) == ours;
    }

    static void run_git(std::vector<std::string> args) {
        args.insert(args.begin(), "/usr/bin/git");
        auto p = Process::spawn(args, {.env = {"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x",
                                               "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x"},
                                       .working_dir = {}});
        REQUIRE(p.is_ok());
        auto st = p->wait(30s);
        REQUIRE(st.is_ok());
        REQUIRE_MESSAGE((st->exited() && st->code == 0), p->stderr_text());
    }
};

// The next occurrence of the 1-second job, waiting for it to fall due.
Lease next_lease(netkeep::http::Client& client) {
    for (int i = 0; i < 100; ++i) {
        auto leases = lease(client, "?seconds=2");
        if (!leases.empty()) return leases[0];
        std::this_thread::sleep_for(50ms);
    }
    FAIL("no occurrence");
    return {};
}

// One backup with `content`; returns once git has it on main.
void backup(Fixture& f, netkeep::http::Client& client, const std::string& content) {
    complete(client, next_lease(client), content);
    REQUIRE(eventually([&] {
        return git_output(f.repo, {"show", "main:r0/show_run"}) == content;
    }));
}

bool stderr_has(const RunningServer& server, const std::string& text) {
    return server.process.stderr_text().find(text) != std::string::npos;
}

// A commit on the mirror's main that netkeep's main does not have: someone pushed there.
void push_foreign_commit(Fixture& f, const fs::path& mirror) {
    const fs::path work = f.root / "someone";
    Fixture::run_git({"clone", "-q", mirror.string(), work.string()});
    std::ofstream(work / "README") << "hand-made\n";
    Fixture::run_git({"-C", work.string(), "add", "README"});
    Fixture::run_git({"-C", work.string(), "commit", "-q", "-m", "by hand"});
    Fixture::run_git({"-C", work.string(), "push", "-q", "origin", "main"});
}

std::string read_meta(const fs::path& data, const std::string& key) {
    auto log = netkeep::open_event_log_reader((data / "log").string());
    REQUIRE(log.is_ok());
    auto value = (*log)->get_meta(key);
    return value ? *value : "";
}

}  // namespace

TEST_CASE("file:// mirrors follow main, and the cursor and commit are durable") {
    Fixture f;
    const fs::path mirror = f.bare("mirror.git");
    auto server = f.start({"--git-mirror", "backup=file://" + mirror.string()});
    auto client = connect(server);
    for (int i = 1; i <= 3; ++i) {
        backup(f, client, fmt::format("config {}\n", i));
        if (!eventually([&] { return f.mirrored(mirror); })) FAIL(server.process.stderr_text());
    }
    CHECK(git_output(mirror, {"show", "main:r0/show_run"}) == "config 3\n");
    CHECK(commit_count(mirror) == 3);
    const std::string pushed = *f.main_of(mirror);
    // The remote can have main before the cursor covering it is written: the log line
    // naming the last commit comes after that write.
    CHECK(eventually([&] {
        return stderr_has(server, "mirror.pushed mirror=backup") &&
               stderr_has(server, "commit=" + pushed);
    }));

    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto exit = server.process.wait(10s);
    REQUIRE(exit.is_ok());
    CHECK(exit->code == 0);
    CHECK(read_meta(f.data, "consumer.mirror.backup.commit") == pushed);
    CHECK(std::stoull(read_meta(f.data, "consumer.mirror.backup.cursor")) > 0);

    // A restart pushes main once more: the remote has it, nothing moves.
    auto again = f.start({"--git-mirror", "backup=file://" + mirror.string()});
    if (!eventually([&] { return stderr_has(again, "mirror.up_to_date mirror=backup"); }))
        FAIL(again.process.stderr_text());
    CHECK(!stderr_has(again, "mirror.push_failed"));
    CHECK(f.main_of(mirror) == pushed);
}

TEST_CASE("a mirror that is down delays only itself and catches up when it is back") {
    Fixture f;
    const fs::path good = f.bare("good.git");
    const fs::path later = f.root / "later.git";  // missing until the end
    // An https remote whose port is closed: refused, retried, and its token never shown.
    const std::string token = "glpat-planted-s3cret-token";
    std::ofstream(f.root / "token") << token << "\n";
    fs::permissions(f.root / "token", fs::perms::owner_read | fs::perms::owner_write);
    auto file =
        f.mirrors_file({fmt::format(R"({{"name": "good", "url": "file://{}"}})", good.string()),
                        fmt::format(R"({{"name": "later", "url": "file://{}", "retry_first": 0.2,
                          "retry_max": 0.5}})",
                                    later.string()),
                        fmt::format(R"({{"name": "web", "url": "https://127.0.0.1:{}/x.git",
                          "token_file": "{}", "retry_first": 0.2, "retry_max": 0.5}})",
                                    free_port(), (f.root / "token").string())});
    auto server = f.start({"--git-mirrors", file});
    auto client = connect(server);
    backup(f, client, "one\n");
    backup(f, client, "two\n");
    REQUIRE(eventually([&] { return f.mirrored(good); }));
    REQUIRE(eventually([&] { return stderr_has(server, "mirror.push_failed mirror=later"); }));
    auto ready = client.get("/readyz");
    REQUIRE(ready.is_ok());
    CHECK(ready->status == 200);
    REQUIRE(eventually([&] { return stderr_has(server, "mirror.push_failed mirror=web"); }));
    CHECK(stderr_has(server, "error=unavailable"));
    // The mirrors report through the consumer surfaces: a warning that leaves netkeepd
    // ready, and their cursors' lag in /metrics.
    REQUIRE(eventually([&] {
        auto warned = client.get("/readyz");
        return warned.is_ok() && warned->status == 200 &&
               warned->body.find("consumer mirror.later failing") != std::string::npos;
    }));
    auto metrics = client.get("/metrics");
    REQUIRE(metrics.is_ok());
    CHECK(metrics->body.find("netkeep_consumer_lag_events{consumer=\"mirror.good\"} 0") !=
          std::string::npos);
    CHECK(metrics->body.find("netkeep_consumer_consecutive_failures{consumer=\"mirror.later\"}") !=
          std::string::npos);

    f.bare("later.git");
    if (!eventually([&] { return f.mirrored(later); })) FAIL(server.process.stderr_text());
    // Logged after the cursor write that follows the push.
    CHECK(eventually([&] { return stderr_has(server, "mirror.recovered mirror=later"); }));
    CHECK(git_output(later, {"show", "main:r0/show_run"}) == "two\n");
    CHECK(!stderr_has(server, token));
    CHECK(files_containing(f.data, token).empty());
}

TEST_CASE("a diverged mirror is reported and kept; force overwrites it") {
    Fixture f;
    const fs::path kept = f.bare("kept.git");
    const fs::path forced = f.bare("forced.git");
    {
        auto server = f.start(
            {"--git-mirror", "kept=" + kept.string(), "--git-mirror", "forced=" + forced.string()});
        auto client = connect(server);
        backup(f, client, "one\n");
        REQUIRE(eventually([&] { return f.mirrored(kept) && f.mirrored(forced); }));
        REQUIRE(server.process.send_signal(SIGTERM).is_ok());
        REQUIRE(server.process.wait(10s).is_ok());
    }
    push_foreign_commit(f, kept);
    fs::remove_all(f.root / "someone");
    push_foreign_commit(f, forced);
    const std::string foreign = *f.main_of(kept);

    auto file =
        f.mirrors_file({fmt::format(R"({{"name": "kept", "url": "file://{}", "retry_first": 0.2}})",
                                    kept.string()),
                        fmt::format(R"({{"name": "forced", "url": "file://{}", "force": true}})",
                                    forced.string())});
    auto server = f.start({"--git-mirrors", file});
    auto client = connect(server);
    backup(f, client, "two\n");
    if (!eventually([&] { return f.mirrored(forced); })) FAIL(server.process.stderr_text());
    CHECK(git_output(forced, {"show", "main:README"}) == std::nullopt);
    REQUIRE(eventually([&] { return stderr_has(server, "mirror.diverged mirror=kept"); }));
    CHECK(f.main_of(kept) == foreign);
    CHECK(stderr_has(server, "set force to overwrite"));
    CHECK(git_output(kept, {"show", "main:README"}) == "hand-made\n");
}

TEST_CASE("after kill -9, a restart pushes what the mirror missed") {
    Fixture f;
    const fs::path mirror = f.root / "mirror.git";  // down while netkeepd commits
    {
        auto server = f.start({"--git-mirror", "m=file://" + mirror.string()});
        auto client = connect(server);
        backup(f, client, "one\n");
        backup(f, client, "two\n");
        REQUIRE(eventually([&] { return stderr_has(server, "mirror.push_failed mirror=m"); }));
        server.process.kill();
    }
    f.bare("mirror.git");
    auto server = f.start({"--git-mirror", "m=file://" + mirror.string()});
    if (!eventually([&] { return f.mirrored(mirror); })) FAIL(server.process.stderr_text());
    CHECK(git_output(mirror, {"show", "main:r0/show_run"}) == "two\n");
}

// In a container without an init (Dockerfile.netkeepd's exec-form ENTRYPOINT) netkeepd is
// pid 1: a push child must not take its parent's pid for "my parent died".
TEST_CASE("a mirror pushes when netkeepd is pid 1, as in a container without an init") {
    Fixture f;
    {
        auto server = f.start({});
        auto client = connect(server);
        backup(f, client, "one\n");
        REQUIRE(server.process.send_signal(SIGTERM).is_ok());
        REQUIRE(server.process.wait(10s).is_ok());
    }
    const fs::path mirror = f.bare("mirror.git");
    auto netkeepd = netkeepd_path();
    REQUIRE(netkeepd.is_ok());
    // A new pid namespace: netkeepd is its pid 1 (the network is the test's own).
    auto p =
        Process::spawn({"/usr/bin/unshare", "--pid", "--fork", "--kill-child", netkeepd->string(),
                        "--data-dir", f.data.string(), "--inventory", f.inventory.string(),
                        "--listen", "127.0.0.1:0", "--git-mirror", "m=file://" + mirror.string()});
    REQUIRE(p.is_ok());
    auto line = p->read_line(10s);
    if (!line) {
        if (p->stderr_text().find("unshare failed") != std::string::npos) {
            skip_test("no pid namespace here: " + p->stderr_text());
            return;
        }
        FAIL(p->stderr_text());
    }
    if (!eventually([&] { return f.mirrored(mirror); })) FAIL(p->stderr_text());
    CHECK(p->stderr_text().find("ended without a result") == std::string::npos);
    // unshare does not pass SIGTERM on; --kill-child takes netkeepd with it.
    p->kill();
}

TEST_CASE("bad mirror configurations are refused at start, naming what is wrong") {
    Fixture f;
    auto refused = [&](std::vector<std::string> extra, const std::string& why) {
        std::vector<std::string> args{"--data-dir",         f.data.string(), "--inventory",
                                      f.inventory.string(), "--listen",      "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto path = netkeepd_path();
        REQUIRE(path.is_ok());
        args.insert(args.begin(), path->string());
        auto p = Process::spawn(args);
        REQUIRE(p.is_ok());
        auto st = p->wait(10s);
        REQUIRE(st.is_ok());
        CHECK(st->code == 2);
        CHECK_MESSAGE(p->stderr_text().find(why) != std::string::npos, p->stderr_text());
        CHECK(p->stderr_text().find("s3cret") == std::string::npos);
    };
    refused({"--git-mirror", "https://user:s3cret@git.example.net/x.git"}, "password in the URL");
    refused({"--git-mirror", "ssh://git@git.example.net/x.git"}, "--git-mirrors FILE");
    refused({"--git-mirror", "relative/path.git"}, "relative path");
    refused({"--git-mirrors", f.mirrors_file({R"({"url": "/x.git", "forse": true})"})},
            "mirrors[0].forse: unknown key");
    refused({"--git-mirrors", f.mirrors_file({R"({"url": "ssh://git@h/x.git"})"})},
            "needs ssh_key and known_hosts");
    refused({"--git-mirrors",
             f.mirrors_file({R"({"url": "https://h/x.git", "token_file": "/nonexistent"})"})},
            "token_file /nonexistent: not a readable file");
    refused({"--git-mirror", "a=/x.git", "--git-mirror", "a=/y.git"},
            "two git mirrors are named a");
}

namespace {

// The device script of the loopback sshd, here a git server: the forced command runs the
// git-receive-pack (or upload-pack) the client asked for.
constexpr const char* k_git_shell = R"(import os, shlex, sys
cmd = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
if len(cmd) != 2 or cmd[0] not in ("git-receive-pack", "git-upload-pack"):
    sys.exit("not a git command")
os.execv("/usr/bin/" + cmd[0], cmd)
)";

std::string known_hosts_line(const LoopbackSshd& sshd, const fs::path& pub) {
    std::ifstream in(pub);
    std::string type, key;
    in >> type >> key;
    return fmt::format("[127.0.0.1]:{} {} {}\n", sshd.port, type, key);
}

}  // namespace

TEST_CASE("an ssh mirror through a real OpenSSH sshd; an unknown host key is refused") {
    auto sshd = start_loopback_sshd(k_git_shell);
    if (!sshd) return;
    Fixture f;
    const fs::path mirror = f.bare("ssh-mirror.git");
    const fs::path trusted = f.root / "known_hosts";
    std::ofstream(trusted) << "# the loopback sshd\n"
                           << known_hosts_line(*sshd, sshd->host_key_pub());
    const fs::path stranger = f.root / "known_hosts.other";
    std::ofstream(stranger) << known_hosts_line(*sshd, sshd->dir / "user_key.pub");
    const std::string url = fmt::format("ssh://root@127.0.0.1:{}{}", sshd->port, mirror.string());
    // A second client key, encrypted: its passphrase comes from a file and is never shown.
    const std::string passphrase = "planted-passphrase-s3cret";
    const fs::path locked = f.root / "locked_key";
    auto keygen = Process::spawn(
        {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", locked.string()});
    REQUIRE(keygen.is_ok());
    REQUIRE(keygen->wait(30s).is_ok());
    {
        std::ifstream pub(locked.string() + ".pub");
        std::ofstream(sshd->dir / "authorized_keys", std::ios::app) << pub.rdbuf();
    }
    std::ofstream(f.root / "passphrase") << passphrase << "\n";
    fs::permissions(f.root / "passphrase", fs::perms::owner_read | fs::perms::owner_write);
    const fs::path locked_mirror = f.bare("locked-mirror.git");
    // A remote whose hook refuses every update (libgit2 pushes to a local path without
    // git-receive-pack, so hooks run only over a transport: here, ssh).
    const fs::path hooked = f.bare("hooked.git");
    std::ofstream(hooked / "hooks" / "pre-receive")
        << "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n";
    fs::permissions(hooked / "hooks" / "pre-receive", fs::perms::owner_all);
    const std::string locked_url =
        fmt::format("ssh://root@127.0.0.1:{}{}", sshd->port, locked_mirror.string());
    auto file = f.mirrors_file(
        {fmt::format(R"({{"name": "ssh", "url": "{}", "ssh_key": "{}", "known_hosts": "{}"}})", url,
                     sshd->user_key().string(), trusted.string()),
         fmt::format(R"({{"name": "spoofed", "url": "{}", "ssh_key": "{}", "known_hosts": "{}",
                          "retry_first": 0.2, "retry_max": 0.5}})",
                     url, sshd->user_key().string(), stranger.string()),
         fmt::format(R"({{"name": "locked", "url": "{}", "ssh_key": "{}", "known_hosts": "{}",
                          "ssh_passphrase_file": "{}"}})",
                     locked_url, locked.string(), trusted.string(),
                     (f.root / "passphrase").string()),
         fmt::format(R"({{"name": "hooked", "url": "ssh://root@127.0.0.1:{}{}", "ssh_key": "{}",
                          "known_hosts": "{}", "retry_first": 0.2, "retry_max": 0.5}})",
                     sshd->port, hooked.string(), sshd->user_key().string(), trusted.string())});
    auto server = f.start({"--git-mirrors", file});
    auto client = connect(server);
    backup(f, client, "over ssh\n");
    if (!eventually([&] { return f.mirrored(mirror); }, 30s))
        FAIL(server.process.stderr_text() << sshd->process.stderr_text());
    backup(f, client, "over ssh again\n");
    REQUIRE(eventually([&] { return f.mirrored(mirror); }, 30s));
    CHECK(git_output(mirror, {"show", "main:r0/show_run"}) == "over ssh again\n");
    REQUIRE(eventually([&] { return f.mirrored(locked_mirror); }, 30s));
    CHECK(!stderr_has(server, passphrase));
    REQUIRE(eventually([&] { return stderr_has(server, "mirror.push_failed mirror=hooked"); }));
    CHECK(stderr_has(server, "error=rejected"));
    CHECK(stderr_has(server, "the remote refused refs/heads/main"));
    CHECK(f.main_of(hooked) == std::nullopt);
    REQUIRE(eventually([&] { return stderr_has(server, "mirror.push_failed mirror=spoofed"); }));
    CHECK(stderr_has(server, "differs from the one in"));
    CHECK(stderr_has(server, "error=host_key"));
}

TEST_CASE("a remote that accepts and never answers is cut off by the timeout") {
    const SilentListener silent;

    Fixture f;
    const fs::path key = f.root / "key";
    std::ofstream(key) << "not used: the banner never comes\n";
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(f.root / "known_hosts") << "";
    const fs::path good = f.bare("good.git");
    auto file = f.mirrors_file(
        {fmt::format(R"({{"name": "silent", "url": "ssh://git@127.0.0.1:{}/x.git", "ssh_key": "{}",
                          "known_hosts": "{}", "timeout": 1, "retry_first": 0.5}})",
                     silent.port(), key.string(), (f.root / "known_hosts").string()),
         fmt::format(R"({{"name": "good", "url": "file://{}"}})", good.string())});
    auto server = f.start({"--git-mirrors", file});
    auto client = connect(server);
    backup(f, client, "one\n");
    REQUIRE(eventually([&] { return f.mirrored(good); }));
    if (!eventually([&] { return stderr_has(server, "error=timeout"); }, 20s))
        FAIL(server.process.stderr_text());
    CHECK(stderr_has(server, "timed out after 1 s"));
    // A push blocked at the moment of SIGTERM does not hold the shutdown.
    const auto asked = std::chrono::steady_clock::now();
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto exit = server.process.wait(10s);
    REQUIRE(exit.is_ok());
    CHECK(exit->code == 0);
    CHECK(std::chrono::steady_clock::now() - asked < 5s);
}
