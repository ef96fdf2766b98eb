// Secrets at rest (docs/security.md), against the real netkeepd and netkeepctl: no
// literal password of devices.json reaches the data dir, through start, leases, a
// completion, a reload with a changed password and a refused reload; the data dir and
// everything in it are private; an exposed data dir is named in a warning; an old log
// written with literal passwords is scrubbed by `netkeepctl scrub-secrets` and replays to
// the same state.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/sha256.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep;
using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Paths under dir (dir included) whose mode lets the group or others in.
std::vector<std::string> exposed_paths(const fs::path& dir) {
    std::vector<std::string> out;
    auto check = [&](const fs::path& p) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
        if (st.st_mode & 077) out.push_back(fmt::format("{} {:o}", p.string(), st.st_mode & 07777));
    };
    check(dir);
    for (const auto& e : fs::recursive_directory_iterator(dir)) check(e.path());
    return out;
}

std::string marker(const std::string& secret) {
    return R"({"redacted_sha256":")" + sha256_hex(secret) + R"("})";
}

// text with each "password" (quoted, as a literal stands in JSON) replaced by its marker.
std::string with_markers(std::string text, const std::vector<std::string>& passwords) {
    for (const auto& pw : passwords) {
        std::string quoted = "\"" + pw + "\"";
        auto at = text.find(quoted);
        REQUIRE(at != std::string::npos);
        text.replace(at, quoted.size(), marker(pw));
    }
    return text;
}

const std::string k_jobs =
    R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]}, "schedule": {"interval": 3600}}]})";

// A literal password in each place one may stand: a credential set, a profile's inline
// credentials, a device's inline credentials.
std::string devices_json(const std::string& set_pass, const std::string& extra = "") {
    return fmt::format(R"({{
  "credentials": {{"netops": {{"user": "netops", "pass": "{}"}}}},
  "profiles": {{"fw": {{"credentials": {{"user": "fw", "pass": "Vn5Ek2Ub7Ys4"}}, "tags": ["fw"]}}}},
  "devices": [
    {{"name": "r1", "credentials": "netops"}},
    {{"name": "fw1", "profile": "fw"}},
    {{"name": "sw1", "credentials": {{"user": "sw", "pass": "Ld9Oc3Ih6Gz1"}}}}{}
  ]
}})",
                       set_pass, extra);
}

struct Fixture {
    TempDir root = TempDir::create("netkeep-secrets-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";

    Fixture() {
        fs::create_directories(inventory);
        write_devices(devices_json("Bm2Wr8Ta5Fx0"));
        std::ofstream(inventory / "jobs.json") << k_jobs;
    }
    void write_devices(const std::string& text) {
        // Replaced by rename, as docs/operations.md advises: a reload never sees half a file.
        std::ofstream(inventory / "devices.json.tmp") << text;
        fs::rename(inventory / "devices.json.tmp", inventory / "devices.json");
    }
    RunningServer start() {
        auto server = start_netkeepd({"--data-dir", data.string(), "--inventory",
                                      inventory.string(), "--listen", "127.0.0.1:0"});
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
};

void stop(RunningServer& server) {
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto status = server.process.wait(20s);
    REQUIRE(status.is_ok());
    CHECK(status->code == 0);
}

// POST /admin/reload: the status and body.
std::pair<int, std::string> reload(const RunningServer& server) {
    auto client = connect(server);
    auto r = client.request("POST", "/admin/reload", "", {});
    REQUIRE(r.is_ok());
    return {r->status, r->body};
}

// The InventoryApplied records of the log at data/log, as stored.
std::vector<InventoryApplied> inventories(const fs::path& data) {
    auto log = open_event_log_reader((data / "log").string());
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    std::vector<InventoryApplied> out;
    Status s = (*log)->scan(1, (*log)->last_seq(), [&](EventRecord&& r) {
        if (auto* e = std::get_if<InventoryApplied>(&r.event)) out.push_back(*e);
        return true;
    });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return out;
}

std::uint64_t last_seq(const fs::path& data) {
    auto log = open_event_log_reader((data / "log").string());
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    return (*log)->last_seq();
}

// Passwords that share no 4 bytes with each other or the text around them: RocksDB
// compresses its table files, and a compressor may store a repeated fragment as a
// reference to its first occurrence, which grep would not find. A password it stores
// is then still found (the scrub test checks that it is, before scrubbing).
const std::vector<std::string> k_passwords = {"Bm2Wr8Ta5Fx0", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1",
                                              "Kp7Dh4Nz9Cv3", "Rs1Gu6Yj3Lq8"};

}  // namespace

TEST_CASE(
    "no literal password reaches the data dir, the logs or the operator API; the data dir is "
    "private") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);

    // No core dump can carry the resolved passwords.
    std::ifstream limits(fmt::format("/proc/{}/limits", server.process.pid()));
    std::string limits_text((std::istreambuf_iterator<char>(limits)),
                            std::istreambuf_iterator<char>());
    CHECK(limits_text.find("Max core file size        0                    0") !=
          std::string::npos);

    // Leases (which hand the resolved passwords to the worker, by design) and a completion.
    auto leases = lease(client, "?max=10");
    REQUIRE(leases.size() == 3);
    complete(client, leases[0], "hostname r1\n");
    CHECK(eventually([&] { return commit_count(f.data / "repo.git") == 1; }));

    // A changed literal password is a changed inventory: recorded with the new marker.
    f.write_devices(devices_json("Kp7Dh4Nz9Cv3"));
    auto [changed, changed_body] = reload(server);
    CHECK(changed == 200);
    CHECK(changed_body.find(R"("applied":true)") != std::string::npos);
    auto [same, same_body] = reload(server);
    CHECK(same == 200);
    CHECK(same_body == R"({"applied":false})");

    // A refused inventory (an unknown field) holding another literal password.
    f.write_devices(devices_json("Rs1Gu6Yj3Lq8",
                                 R"(, {"name": "bad", "credentials": "netops", "tag": ["x"]})"));
    auto [refused, refused_body] = reload(server);
    CHECK(refused == 422);
    CHECK(refused_body.find("Rs1Gu6Yj3Lq8") == std::string::npos);
    f.write_devices(devices_json("Kp7Dh4Nz9Cv3"));

    auto applied = inventories(f.data);
    REQUIRE(applied.size() == 2);
    CHECK(applied[0].devices_json.find(marker("Bm2Wr8Ta5Fx0")) != std::string::npos);
    CHECK(applied[1].devices_json.find(marker("Kp7Dh4Nz9Cv3")) != std::string::npos);
    CHECK(applied[1].devices_json.find(marker("Ld9Oc3Ih6Gz1")) != std::string::npos);
    CHECK(applied[1].devices_json.find(marker("Vn5Ek2Ub7Ys4")) != std::string::npos);

    // The operator API's answers: status, the audit tail, metrics.
    std::string answers;
    for (const char* path : {"/api/v1/tasks", "/api/v1/events?from=1&limit=1000", "/metrics",
                             "/api/v1/devices/r1/history"}) {
        auto r = client.get(path);
        REQUIRE(r.is_ok());
        answers += r->body;
    }
    for (const auto& pw : k_passwords) {
        INFO(pw);
        CHECK(files_containing(f.data, pw).empty());  // while running: WAL and memtables' files
        CHECK(answers.find(pw) == std::string::npos);
    }
    stop(server);

    for (const auto& pw : k_passwords) {
        INFO(pw);
        CHECK(files_containing(f.data, pw).empty());
        CHECK(server.process.stderr_text().find(pw) == std::string::npos);
        CHECK(server.process.stdout_text().find(pw) == std::string::npos);
    }
    // The data dir netkeepd created, and every file and directory under it (log, spool,
    // git objects), are its user's only, whatever umask the test runs with.
    struct stat st {};
    REQUIRE(::stat(f.data.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    CHECK(exposed_paths(f.data) == std::vector<std::string>{});
    CHECK(server.process.stderr_text().find("permissions.exposed") == std::string::npos);
}

TEST_CASE("a data dir readable by others gets a warning naming it and its mode") {
    Fixture f;
    fs::create_directories(f.data);
    fs::permissions(f.data, fs::perms(0755));
    auto server = f.start();
    stop(server);
    std::string err = server.process.stderr_text();
    CHECK(err.find(fmt::format("warn permissions.exposed what=\"data dir\" path={} mode=0755",
                               f.data.string())) != std::string::npos);
    // Left as the operator made it: the warning says how to fix it.
    CHECK((fs::status(f.data).permissions() & fs::perms::all) == fs::perms(0755));
    // What netkeepd created inside is private all the same.
    auto exposed = exposed_paths(f.data);
    CHECK(exposed == std::vector<std::string>{fmt::format("{} 755", f.data.string())});
}

TEST_CASE(
    "scrub-secrets rewrites an old log's literal passwords; the log replays to the same state") {
    Fixture f;
    // What an older netkeepd wrote: the inventory files as written, literal passwords in.
    {
        fs::create_directories(f.data);
        auto log = open_event_log((f.data / "log").string());
        REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        REQUIRE((*log)
                    ->append({InventoryApplied{now - 20, devices_json("Qz8vLw2Nx5Kd"), k_jobs}})
                    .is_ok());
        REQUIRE((*log)
                    ->append({InventoryApplied{now - 10, devices_json("Hy4Tg7Rb1Mc9"), k_jobs}})
                    .is_ok());
        (*log)->close();
    }
    for (const std::string pw : {"Qz8vLw2Nx5Kd", "Hy4Tg7Rb1Mc9", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1"}) {
        INFO(pw);
        CHECK_FALSE(files_containing(f.data, pw).empty());  // the test can fail
    }
    f.write_devices(devices_json("Hy4Tg7Rb1Mc9"));

    // The old log replays, and the same files compare equal to its last inventory.
    auto server = f.start();
    CHECK(last_seq(f.data) == 2);
    auto client = connect(server);
    auto leases = lease(client, "?max=10");
    REQUIRE(leases.size() == 3);
    complete(client, leases[0], "hostname r1\n");
    CHECK(eventually([&] { return commit_count(f.data / "repo.git") == 1; }));

    // It is the running server's log: refused, and nothing written.
    auto busy = ctl({"--data-dir", f.data.string(), "scrub-secrets"});
    CHECK(busy.code == 1);
    CHECK(busy.err.find("locked: stop netkeepd") != std::string::npos);
    stop(server);
    // netkeepd opened the log: RocksDB moved the records into (compressed) table files.
    for (const std::string pw : {"Qz8vLw2Nx5Kd", "Hy4Tg7Rb1Mc9", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1"}) {
        INFO(pw);
        CHECK_FALSE(files_containing(f.data, pw).empty());
    }

    auto state_before = ctl({"--data-dir", f.data.string(), "--json", "state"});
    REQUIRE(state_before.code == 0);
    auto first_before = ctl({"--data-dir", f.data.string(), "--json", "state", "--at", "1"});
    REQUIRE(first_before.code == 0);
    auto log_before = ctl({"--data-dir", f.data.string(), "--json", "log", "--from", "3"});
    REQUIRE(log_before.code == 0);
    const std::uint64_t seq_before = last_seq(f.data);

    auto scrub = ctl({"--data-dir", f.data.string(), "scrub-secrets"});
    REQUIRE_MESSAGE(scrub.code == 0, scrub.err);
    CHECK(scrub.out.find("2 of 2 InventoryApplied records rewritten") != std::string::npos);

    for (const std::string pw : {"Qz8vLw2Nx5Kd", "Hy4Tg7Rb1Mc9", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1"}) {
        INFO(pw);
        CHECK(files_containing(f.data, pw).empty());
    }
    auto applied = inventories(f.data);
    REQUIRE(applied.size() == 2);
    // Byte for byte as the operator wrote it, but for the three passwords.
    CHECK(applied[0].devices_json ==
          with_markers(devices_json("Qz8vLw2Nx5Kd"),
                       {"Qz8vLw2Nx5Kd", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1"}));
    CHECK(applied[1].devices_json ==
          with_markers(devices_json("Hy4Tg7Rb1Mc9"),
                       {"Hy4Tg7Rb1Mc9", "Vn5Ek2Ub7Ys4", "Ld9Oc3Ih6Gz1"}));
    CHECK(applied[1].jobs_json == k_jobs);
    CHECK(last_seq(f.data) == seq_before);
    CHECK(ctl({"--data-dir", f.data.string(), "--json", "state"}).out == state_before.out);
    CHECK(ctl({"--data-dir", f.data.string(), "--json", "state", "--at", "1"}).out ==
          first_before.out);
    CHECK(ctl({"--data-dir", f.data.string(), "--json", "log", "--from", "3"}).out ==
          log_before.out);

    auto again = ctl({"--data-dir", f.data.string(), "--json", "scrub-secrets"});
    CHECK(again.code == 0);
    CHECK(again.out ==
          fmt::format("{{\"records\":{},\"inventories\":2,\"rewritten\":0}}\n", seq_before));

    // netkeepd takes the scrubbed log as it is: the recorded form equals the files'.
    auto restarted = f.start();
    CHECK(last_seq(f.data) == seq_before);
    stop(restarted);
}
