// End to end: the real netkeepd, tools/fake-device and netkeep-worker on loopback. The
// configs that land in git are compared byte for byte with fake-device --print-config;
// failures are read back from the event log after netkeepd stopped.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <fstream>

#include "e2e_support.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

constexpr const char* k_password = "e2e-Secret-pw-42";

}  // namespace

TEST_CASE("20 devices over SSH and telnet land in git byte-exact; a change makes one commit") {
    TempDir state = TempDir::create("fake-state").value();
    FakeDevice fake =
        start_fake_device({"--password", k_password, "--state-dir", state.path().string()});
    std::vector<DeviceEntry> devices;
    for (int i = 0; i < 20; ++i) {
        DeviceEntry d{fmt::format("{}{:02}", i < 15 ? "r" : "t", i)};
        d.protocol = i < 15 ? "ssh" : "telnet";
        d.port = i < 15 ? fake.ssh_port : fake.telnet_port;
        d.pass = k_password;
        devices.push_back(d);
    }
    Backup b(devices, R"("schedule": {"interval": 3}, "timeout": 20)");
    Process worker = b.start_worker({"--concurrency", "8"});

    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 20; }, 60s), worker.stderr_text());
    for (const auto& d : devices) {
        INFO(d.name);
        CHECK(b.file(d.name) == print_config(d.name));
    }

    // generation 1 for r03: exactly one new commit, with exactly that change.
    std::ofstream(state / "r03") << "1\n";
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 21; }, 30s), worker.stderr_text());
    CHECK(b.file("r03") == print_config("r03", 1));
    CHECK(b.git({"diff", "--name-only", "main~1", "main"}) == "r03/show_run\n");
    const auto diff = b.git({"diff", "main~1", "main", "--", "r03/show_run"});
    REQUIRE(diff);
    CHECK(diff->find("+hostname") == std::string::npos);  // a small diff, not a rewrite
    // Every device runs again every 3 s; nothing else changed, so no further commit. Not a
    // fixed sleep: wait until each device has run again and the git writer has applied it.
    wait_for_rerun_applied(b, names_of(devices));
    CHECK(b.commits() == 21);

    CHECK(stop(worker).code == 0);
    const std::string log = worker.stderr_text();
    CHECK(log.find(k_password) == std::string::npos);
    CHECK(log.find("job.failed") == std::string::npos);
    CHECK(log.find("worker.stopped") != std::string::npos);
}

TEST_CASE("fault modes post the right failure texts; promptline and slow succeed byte-exact") {
    FakeDevice fake = start_fake_device({"--password", k_password, "--config-bytes", "2048"});
    auto ssh = [&](std::string name) {
        DeviceEntry d{std::move(name)};
        d.port = fake.ssh_port;
        d.pass = k_password;
        return d;
    };
    std::vector<DeviceEntry> devices{ssh("badpass-1"), ssh("hang-1"), ssh("drop-1"),
                                     ssh("promptline-1"), ssh("slow-1")};
    DeviceEntry telnet_bad{"badpass-2", "telnet", fake.telnet_port};
    telnet_bad.pass = k_password;
    devices.push_back(telnet_bad);
    DeviceEntry wrong_pass = ssh("plain-1");
    wrong_pass.pass = "not-the-password";
    devices.push_back(wrong_pass);
    DeviceEntry refused = ssh("refused-1");
    refused.port = 1;
    devices.push_back(refused);
    DeviceEntry nodns = ssh("nodns-1");
    nodns.host = "no-such-host.invalid";
    devices.push_back(nodns);

    Backup b(devices, R"("schedule": {"interval": 3600}, "timeout": 6, "max_attempts": 1)");
    Process worker = b.start_worker({"--concurrency", "9"});
    REQUIRE_MESSAGE(
        eventually([&] { return count(worker.stderr_text(), "completion.posted") == 9; }, 60s),
        worker.stderr_text());
    REQUIRE(eventually([&] { return b.commits() == 2; }, 20s));
    CHECK(b.file("promptline-1") == print_config("promptline-1", 0, 2048));
    CHECK(b.file("slow-1") == print_config("slow-1", 0, 2048));
    CHECK(stop(worker).code == 0);
    const std::string log = worker.stderr_text();
    CHECK(log.find(k_password) == std::string::npos);
    b.stop_server();

    auto summary = b.read_log();
    auto failure = [&](const std::string& device) -> std::string {
        auto it = summary.failures.find(device);
        if (it == summary.failures.end() || it->second.size() != 1) return "<none>";
        return it->second.front();
    };
    const std::string where = fmt::format("127.0.0.1:{}", fake.ssh_port);
    CHECK(failure("badpass-1") == fmt::format("auth failed: {} refused user 'badpass-1' (tried "
                                              "password, keyboard-interactive)",
                                              where));
    CHECK(
        failure("plain-1") ==
        fmt::format("auth failed: {} refused user 'plain-1' (tried password, keyboard-interactive)",
                    where));
    CHECK(failure("badpass-2") ==
          "auth failed: the device asked for the user name again after the password");
    CHECK(
        failure("hang-1").starts_with("timed out: the job's timeout of 6 s passed while running "
                                      "\"show run\" after "));
    CHECK(failure("drop-1").starts_with("disconnected mid-output: "));
    CHECK(failure("drop-1").find("while running \"show run\"") != std::string::npos);
    CHECK(failure("refused-1") == "connection refused: 127.0.0.1:1");
    CHECK(failure("nodns-1").starts_with("dns failure: cannot resolve 'no-such-host.invalid': "));
    CHECK(summary.failures.count("promptline-1") == 0);
    CHECK(summary.failures.count("slow-1") == 0);
    CHECK(summary.expired == 0);  // every failure was posted before its lease ended
}

TEST_CASE("a changed host key fails the job and is never accepted") {
    TempDir keys = TempDir::create("fake-keys").value();
    auto fake = start_fake_device({"--password", k_password, "--host-key", (keys / "a").string()});
    const std::uint16_t port = fake.ssh_port;
    DeviceEntry d{"r1"};
    d.port = port;
    d.pass = k_password;
    Backup b({d}, R"("schedule": {"interval": 2}, "timeout": 10, "retry_delay": 1)");
    Process worker = b.start_worker();
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 1; }, 30s), worker.stderr_text());
    std::string pinned;
    {
        std::ifstream in(b.known_hosts);
        std::getline(in, pinned, '\0');
    }
    CHECK(pinned.starts_with(fmt::format("[127.0.0.1]:{} ssh-ed25519 ", port)));

    // The same address, another key.
    REQUIRE(fake.process.send_signal(SIGTERM).is_ok());
    REQUIRE(fake.process.wait(10s).is_ok());
    auto other = start_fake_device({"--password", k_password, "--host-key", (keys / "b").string()},
                                   fmt::format("127.0.0.1:{}", port));
    REQUIRE_MESSAGE(
        eventually(
            [&] { return worker.stderr_text().find("host key changed") != std::string::npos; },
            30s),
        worker.stderr_text());
    CHECK(stop(worker).code == 0);
    std::string after;
    {
        std::ifstream in(b.known_hosts);
        std::getline(in, after, '\0');
    }
    CHECK(after == pinned);
    b.stop_server();
    auto summary = b.read_log();
    REQUIRE(summary.failures["r1"].size() >= 1);
    const std::string& f = summary.failures["r1"].front();
    CHECK(f.starts_with(
        fmt::format("host key changed: 127.0.0.1:{} presented ssh-ed25519 SHA256:", port)));
    CHECK(f.find(b.known_hosts.string()) != std::string::npos);
    CHECK(b.commits() == 1);
}

TEST_CASE("kill -9 of a worker mid-run: the leases expire and a second worker finishes") {
    // slow-*: one line every 20 ms, about 2.5 s per config of 2 KiB.
    FakeDevice fake = start_fake_device({"--password", k_password, "--config-bytes", "2048"});
    std::vector<DeviceEntry> devices;
    for (int i = 0; i < 6; ++i) {
        DeviceEntry d{fmt::format("slow-{}", i)};
        d.port = fake.ssh_port;
        d.pass = k_password;
        devices.push_back(d);
    }
    Backup b(
        devices,
        R"("schedule": {"interval": 3600}, "timeout": 8, "retry_delay": 0, "max_attempts": 3)");
    Process first = b.start_worker({"--concurrency", "6"});
    REQUIRE_MESSAGE(eventually([&] { return count(first.stderr_text(), "job.started") == 6; }, 20s),
                    first.stderr_text());
    first.kill();
    CHECK(count(first.stderr_text(), "completion.posted") == 0);
    CHECK(b.commits() == 0);

    Process second = b.start_worker({"--concurrency", "6"});
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 6; }, 60s), second.stderr_text());
    for (const auto& d : devices) CHECK(b.file(d.name) == print_config(d.name, 0, 2048));
    CHECK(second.stderr_text().find("attempt=2") != std::string::npos);
    CHECK(stop(second).code == 0);
    b.stop_server();
    CHECK(b.read_log().expired == 6);
}

TEST_CASE("without terminal length 0 the pager is answered and removed, over SSH and telnet") {
    FakeDevice fake = start_fake_device({"--password", k_password, "--config-bytes", "8192"});
    DeviceEntry ssh{"paged-ssh", "ssh", fake.ssh_port};
    ssh.pass = k_password;
    DeviceEntry telnet{"paged-telnet", "telnet", fake.telnet_port};
    telnet.pass = k_password;
    Backup b({ssh, telnet}, R"("schedule": {"interval": 3600}, "timeout": 30)", R"(["show run"])");
    Process worker = b.start_worker();
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 2; }, 30s), worker.stderr_text());
    const std::string expected = print_config("paged-ssh", 0, 8192);
    CHECK(std::count(expected.begin(), expected.end(), '\n') > 3 * 24);  // several pages
    CHECK(b.file("paged-ssh") == expected);
    CHECK(b.file("paged-telnet") == print_config("paged-telnet", 0, 8192));
    CHECK(stop(worker).code == 0);
}

TEST_CASE(
    "SIGTERM: a running job finishes and is posted within the grace period; past it, abandoned") {
    FakeDevice fake = start_fake_device({"--password", k_password, "--config-bytes", "2048"});
    DeviceEntry slow{"slow-1", "ssh", fake.ssh_port};
    slow.pass = k_password;
    DeviceEntry hang{"hang-1", "ssh", fake.ssh_port};
    hang.pass = k_password;
    Backup b({slow, hang}, R"("schedule": {"interval": 3600}, "timeout": 30)");
    Process worker = b.start_worker({"--grace", "10"});
    REQUIRE(eventually([&] { return count(worker.stderr_text(), "job.started") == 2; }, 20s));
    REQUIRE(worker.send_signal(SIGTERM).is_ok());
    // slow-1 still completes (about 2.5 s); hang-1 would run 30 s, past the grace of 10 s.
    auto st = worker.wait(20s);
    REQUIRE_MESSAGE(st.is_ok(), worker.stderr_text());
    CHECK(st->code == 0);
    const std::string log = worker.stderr_text();
    CHECK(log.find("job.succeeded device=slow-1") != std::string::npos);
    CHECK(log.find("worker.abandoned running=1") != std::string::npos);
    CHECK(log.find("worker.stopped") == std::string::npos);
    REQUIRE(eventually([&] { return b.commits() == 1; }, 10s));
    CHECK(b.file("slow-1") == print_config("slow-1", 0, 2048));
}
