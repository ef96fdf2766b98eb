// netkeepctl against the real netkeepd: the log read beside a running server (log
// --follow), the state at a point of the log, verify on a healthy repository and after a
// commit made by hand, backup + restore + verify, inventory check.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    TempDir root = TempDir::create("netkeepctl-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";

    explicit Fixture(int devices = 1) {
        fs::create_directories(inventory);
        std::string list;
        for (int i = 0; i < devices; ++i)
            list += fmt::format(
                R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "hunter2"}}}})",
                i ? "," : "", i);
        std::ofstream(inventory / "devices.json") << R"({"devices": [)" + list + "]}";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]}, "schedule": {"interval": 3600}}]})";
    }
    RunningServer start_in(const fs::path& dir, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--data-dir",       dir.string(), "--inventory",
                                      inventory.string(), "--listen",   "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto server = start_netkeepd(args);
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    RunningServer start(std::vector<std::string> extra = {}) {
        return start_in(data, std::move(extra));
    }

    std::optional<std::string> git(const fs::path& dir, std::vector<std::string> args) const {
        return git_output(dir / "repo.git", std::move(args));
    }
    int commits(const fs::path& dir) const { return commit_count(dir / "repo.git"); }
    std::size_t spool_files(const fs::path& dir) const {
        if (!fs::exists(dir / "spool")) return 0;
        return std::size_t(
            std::distance(fs::directory_iterator(dir / "spool"), fs::directory_iterator()));
    }
};

void stop(RunningServer& server) {
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto status = server.process.wait(20s);
    REQUIRE(status.is_ok());
    CHECK(status->code == 0);
}

// The task r0/show_run of `netkeepctl --json state [--at X]`.
struct TaskView {
    std::uint64_t seq = 0;
    bool leased = false;
    std::string lease_worker;
    std::optional<std::int64_t> last_success_seq;
};

TaskView state(const fs::path& data, std::optional<std::string> at = {}) {
    std::vector<std::string> args{"--data-dir", data.string(), "--json", "state"};
    if (at) args.insert(args.end(), {"--at", *at});
    auto r = ctl(args);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(r.out);
    TaskView v;
    v.seq = doc["seq"].get_uint64().value();
    for (simdjson::dom::element task : doc["tasks"].get_array()) {
        if (task["device"].get_string().value() != "r0") continue;
        simdjson::dom::element lease = task["lease"];
        v.leased = !lease.is_null();
        if (v.leased) v.lease_worker = std::string(lease["worker"].get_string().value());
        simdjson::dom::element success = task["last_success"];
        if (!success.is_null()) v.last_success_seq = success["seq"].get_int64().value();
    }
    return v;
}

}  // namespace

TEST_CASE(
    "state --at shows the task before and after a lease and a completion, beside the running "
    "server") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);

    auto before = state(f.data);
    CHECK(before.seq == 1);  // the inventory
    CHECK(!before.leased);

    auto leases = lease(client);
    REQUIRE(leases.size() == 1);
    auto leased = state(f.data);
    CHECK(leased.seq == 2);
    CHECK(leased.leased);
    CHECK(leased.lease_worker == "127.0.0.1");
    CHECK(!leased.last_success_seq);

    auto seq = complete(client, leases[0], "hostname r0\n");
    auto done = state(f.data);
    CHECK(done.seq == std::uint64_t(seq) + 1);  // the completion and the close
    CHECK(!done.leased);
    CHECK(done.last_success_seq == seq);

    // Back in time: by seq, and by time (before the first event: nothing at all).
    CHECK(state(f.data, "1").leased == false);
    auto at_lease = state(f.data, "2");
    CHECK(at_lease.leased);
    CHECK(!at_lease.last_success_seq);
    CHECK(state(f.data, std::to_string(seq)).last_success_seq == seq);
    CHECK(state(f.data, "2000-01-01T00:00:00Z").seq == 0);
    CHECK(state(f.data, "2999-01-01").seq == done.seq);

    auto text = ctl({"--data-dir", f.data.string(), "state", "--at", "2"});
    CHECK(text.code == 0);
    CHECK(text.out.starts_with("state after seq 2 ("));
    CHECK(text.out.find("127.0.0.1 until ") != std::string::npos);

    auto too_far = ctl({"--data-dir", f.data.string(), "state", "--at", "999"});
    CHECK(too_far.code == 1);
    CHECK(too_far.err.find("the log ends at seq") != std::string::npos);
    auto usage = ctl({"--data-dir", f.data.string(), "state", "--at", "noon"});
    CHECK(usage.code == 2);
}

TEST_CASE("log prints events without secrets, filters them, and --follow sees new events") {
    Fixture f(2);
    auto server = f.start();
    auto client = connect(server);

    auto all = ctl({"--data-dir", f.data.string(), "log"});
    REQUIRE(all.code == 0);
    CHECK(all.out.starts_with("1 "));
    CHECK(all.out.find(" InventoryApplied devices_json_bytes=") != std::string::npos);
    CHECK(all.out.find("hunter2") == std::string::npos);

    // The leases come first, so --follow prints r1's from its first scan: that line says it
    // has read to the end of the log. The completion appended after it can then only
    // reach it by following (a sleep before appending would pass as well with a
    // netkeepctl that never followed but started late).
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);  // one lease per device
    const char* path = std::getenv("NETKEEPCTL");
    REQUIRE(path != nullptr);
    auto follow = Process::spawn(
        {path, "--data-dir", f.data.string(), "--json", "log", "--follow", "--device", "r1"});
    REQUIRE(follow.is_ok());
    auto line = follow->read_line(10s);
    REQUIRE_MESSAGE(line.is_ok(), follow->stderr_text());
    simdjson::dom::parser parser;
    simdjson::dom::element event = parser.parse(*line);
    CHECK(event["type"].get_string().value() == "LeaseGranted");
    CHECK(event["device"].get_string().value() == "r1");
    CHECK(event["attempt"].get_int64().value() == 1);

    const Lease& r1 = leases[0].device == "r1" ? leases[0] : leases[1];
    const std::int64_t seq = complete(client, r1, "hostname r1\n");
    auto followed = follow->read_line(10s);
    REQUIRE_MESSAGE(followed.is_ok(), follow->stderr_text());
    simdjson::dom::element completion = parser.parse(*followed);
    CHECK(completion["type"].get_string().value() == "CompletionRecorded");
    CHECK(completion["device"].get_string().value() == "r1");
    CHECK(completion["seq"].get_int64().value() == seq);
    REQUIRE(follow->send_signal(SIGINT).is_ok());
    auto status = follow->wait(10s);
    REQUIRE(status.is_ok());
    CHECK(status->code == 0);

    auto filtered =
        ctl({"--data-dir", f.data.string(), "log", "--type", "LeaseGranted", "--device", "r0"});
    REQUIRE(filtered.code == 0);
    CHECK(filtered.out.find("LeaseGranted device=r0 job=show_run") != std::string::npos);
    CHECK(filtered.out.find("r1") == std::string::npos);
    CHECK(ctl({"--data-dir", f.data.string(), "log", "--from", "2", "--to", "2"})
              .out.starts_with("2 "));

    auto missing = ctl({"--data-dir", (f.root / "nothing").string(), "log"});
    CHECK(missing.code == 1);
    CHECK(missing.err.find("no event log at") != std::string::npos);
}

// One JSON shape for an event: the operator API's (issue 15). netkeepctl used to print ISO
// times and devices_json_bytes where the API printed numbers and {size, sha256}.
TEST_CASE("log --json prints each event byte for byte as GET /api/v1/events does") {
    Fixture f(2);
    auto server = f.start();
    auto client = connect(server);
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    complete(client, leases[0], "hostname r0\n");
    complete(client, leases[1], "", std::string("auth failed: \"u\""));

    auto api = client.get("/api/v1/events?limit=1000");
    REQUIRE(api.is_ok());
    REQUIRE(api->status == 200);
    auto log = ctl({"--data-dir", f.data.string(), "--json", "log"});
    REQUIRE(log.code == 0);

    simdjson::dom::parser parser;
    simdjson::dom::array events = parser.parse(api->body)["events"].get_array().value();
    std::vector<std::string> lines;
    for (std::size_t start = 0, end; (end = log.out.find('\n', start)) != std::string::npos;
         start = end + 1)
        lines.push_back(log.out.substr(start, end - start));
    REQUIRE(lines.size() == events.size());
    REQUIRE(lines.size() >= 6);  // inventory, 2 leases, 2 completions, the success's close
    std::string joined;
    for (const auto& line : lines) joined += (joined.empty() ? "" : ",") + line;
    CHECK(api->body.find("[" + joined + "]") != std::string::npos);

    simdjson::dom::parser line_parser;
    simdjson::dom::element inventory = line_parser.parse(lines[0]);
    CHECK(inventory["at"].is_int64());
    CHECK(inventory["devices_json"]["size"].is_uint64());
    CHECK(log.out.find("hunter2") == std::string::npos);
}

namespace {
// verify checks the log a chunk of seqs at a time (a million): in chunks of 1, 2 and 3 seqs
// it must say what it says in one.
void check_verify_in_chunks(const fs::path& data, const CtlResult& whole) {
    for (const char* chunk : {"1", "2", "3"}) {
        ::setenv("NETKEEPCTL_VERIFY_CHUNK", chunk, 1);
        auto chunked = ctl({"--data-dir", data.string(), "verify"});
        ::unsetenv("NETKEEPCTL_VERIFY_CHUNK");
        CHECK(chunked.code == whole.code);
        CHECK_MESSAGE(chunked.out == whole.out, "chunk ", chunk, ":\n", chunked.out);
    }
}
}  // namespace

TEST_CASE("verify passes on a healthy data dir and names a commit made by hand") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    complete(client, lease(client).at(0), "hostname r0\n");
    REQUIRE(eventually([&] { return f.commits(f.data) == 1; }));
    REQUIRE(eventually([&] { return ctl({"--data-dir", f.data.string(), "verify"}).code == 0; }));
    auto ok = ctl({"--data-dir", f.data.string(), "--json", "verify"});
    CHECK(ok.code == 0);
    CHECK(ok.out.find(R"("ok":true)") != std::string::npos);
    CHECK(ok.out.find(R"("records":1)") != std::string::npos);
    CHECK(ok.out.find(R"("hashes_checked":1)") != std::string::npos);
    check_verify_in_chunks(f.data, ctl({"--data-dir", f.data.string(), "verify"}));
    stop(server);

    // A commit by hand: clone, change the file, push back to main.
    fs::path work = f.root / "work";
    auto run = [&](std::vector<std::string> args) {
        auto p = Process::spawn(args);
        REQUIRE(p.is_ok());
        auto status = p->wait(20s);
        REQUIRE(status.is_ok());
        REQUIRE_MESSAGE(status->code == 0, p->stderr_text());
    };
    run({"/usr/bin/git", "clone", "-q", (f.data / "repo.git").string(), work.string()});
    std::ofstream(work / "r0" / "show_run") << "hostname edited-by-hand\n";
    run({"/usr/bin/git", "-C", work.string(), "-c", "user.name=op", "-c",
         "user.email=op@example.com", "commit", "-q", "-am", "fix by hand"});
    run({"/usr/bin/git", "-C", work.string(), "push", "-q", "origin", "main"});
    auto head = f.git(f.data, {"rev-parse", "main"});
    REQUIRE(head);
    head->pop_back();

    auto bad = ctl({"--data-dir", f.data.string(), "verify"});
    CHECK(bad.code == 1);
    CHECK(bad.out.find("commit " + *head + " \"fix by hand\" on main has no Netkeep-Seq trailer") !=
          std::string::npos);
    CHECK(bad.out.find("r0/show_run") != std::string::npos);
    check_verify_in_chunks(f.data, bad);
    auto bad_json = ctl({"--data-dir", f.data.string(), "--json", "verify"});
    CHECK(bad_json.code == 1);
    CHECK(bad_json.out.find(R"("ok":false)") != std::string::npos);
    CHECK(bad_json.out.find(R"("path":"r0/show_run")") != std::string::npos);
}

TEST_CASE("backup while the server runs, restored into a new data dir, verifies and serves") {
    Fixture f(2);
    // The git writer off: r1's completion stays unapplied, so the backup must carry its
    // spool file and a restored server must commit it.
    auto server = f.start({"--no-git-writer"});
    auto client = connect(server);
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    complete(client, leases[0], "config of " + leases[0].device + "\n");
    stop(server);
    server = f.start();  // the writer commits the first completion
    REQUIRE(eventually([&] { return f.commits(f.data) == 1; }));
    stop(server);
    server = f.start({"--no-git-writer"});
    client = connect(server);
    complete(client, leases[1], "config of " + leases[1].device + "\n");
    REQUIRE(f.spool_files(f.data) == 1);

    fs::path dest = f.root / "backup";
    auto b = ctl({"--data-dir", f.data.string(), "backup", dest.string()});
    REQUIRE_MESSAGE(b.code == 0, b.err);
    CHECK(b.out.find("1 spool file for the events after it") != std::string::npos);
    CHECK(f.spool_files(dest) == 1);
    auto again = ctl({"--data-dir", f.data.string(), "backup", dest.string()});
    CHECK(again.code == 1);
    CHECK(again.err.find("exists and is not empty") != std::string::npos);
    stop(server);

    // Restore: a new data dir from the copy; verify it, then serve it.
    fs::path restored = f.root / "restored";
    fs::copy(dest, restored, fs::copy_options::recursive);
    auto v = ctl({"--data-dir", restored.string(), "verify"});
    CHECK_MESSAGE(v.code == 0, v.out);
    CHECK(v.out.find("1 completions pending") != std::string::npos);
    CHECK(ctl({"--data-dir", restored.string(), "log"}).out ==
          ctl({"--data-dir", f.data.string(), "log"}).out);

    auto revived = f.start_in(restored);
    REQUIRE(eventually([&] { return f.commits(restored) == 2; }));
    for (const auto& l : leases)
        CHECK(f.git(restored, {"show", std::string("main:") + l.device + "/show_run"}) ==
              "config of " + l.device + "\n");
    REQUIRE(eventually([&] { return ctl({"--data-dir", restored.string(), "verify"}).code == 0; }));
    stop(revived);
}

TEST_CASE("inventory check validates as the server does and prints the tasks") {
    Fixture f(2);
    auto good = ctl({"inventory", "check", f.inventory.string()});
    CHECK(good.code == 0);
    CHECK(good.out.find("is valid: 2 devices, 1 job, 2 tasks") != std::string::npos);
    CHECK(good.out.find("r1      show_run  every 3600s") != std::string::npos);
    auto json = ctl({"--json", "inventory", "check", f.inventory.string()});
    CHECK(json.code == 0);
    CHECK(json.out.find(R"({"device":"r0","job":"show_run","schedule":"every 3600s")") !=
          std::string::npos);

    std::ofstream(f.inventory / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]}, "schedule": {"interval": 3600}, "timeout": 0}]})";
    auto bad = ctl({"inventory", "check", f.inventory.string()});
    CHECK(bad.code == 1);
    CHECK(bad.err.find("jobs.json: /jobs/0/timeout") != std::string::npos);
    CHECK(bad.out.empty());
}

TEST_CASE("platforms lists the built-in definitions and prints one as embedded") {
    auto list = ctl({"platforms"});
    CHECK(list.code == 0);
    CHECK(list.out.starts_with("NAME"));
    for (const char* name : {"ios", "nxos", "iosxr", "asa", "junos", "eos", "fortios", "panos",
                             "routeros", "procurve", "aoscx", "vrp", "comware", "os10"})
        CHECK_MESSAGE(list.out.find(std::string("\n") + name + " ") != std::string::npos, name);

    auto json = ctl({"--json", "platforms"});
    REQUIRE(json.code == 0);
    simdjson::dom::parser parser;
    simdjson::dom::array all;
    REQUIRE_MESSAGE(!parser.parse(json.out).get_array().get(all), json.out);
    CHECK(all.size() >= 14);
    for (simdjson::dom::element p : all) {
        CHECK(!p["name"].get_string().error());
        CHECK(!p["command_sets"].get_array().error());
    }

    // The definition as embedded: JSON an operator can copy.
    auto ios = ctl({"platforms", "ios"});
    CHECK(ios.code == 0);
    simdjson::dom::parser def_parser;
    simdjson::dom::element def;
    REQUIRE_MESSAGE(!def_parser.parse(ios.out).get(def), ios.out);
    CHECK(def["name"].get_string().value() == "ios");
    CHECK(!def["commands"]["config"].get_array().error());

    auto unknown = ctl({"platforms", "cisco"});
    CHECK(unknown.code == 2);
    CHECK(unknown.out.empty());
    CHECK(unknown.err.find("unknown platform 'cisco' (built-in platforms: aoscx, asa, ") !=
          std::string::npos);
}
