// The git writer inside the real netkeepd: lease, complete (multipart), and the content
// shows up in <data-dir>/repo.git, redacted, once, with its trailers, also across kill -9.
// The writer is asynchronous, so every check on the repository polls with a timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
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
using netkeep::http::ClientResponse;
using netkeep::http::Headers;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    TempDir root = TempDir::create("git-writer-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path repo = data / "repo.git";

    Fixture(int devices, const std::string& job_fields) {
        fs::create_directories(inventory);
        std::string list;
        for (int i = 0; i < devices; ++i)
            list +=
                fmt::format(R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "p"}}}})",
                            i ? "," : "", i);
        std::ofstream(inventory / "devices.json") << R"({"devices": [)" + list + "]}";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]}, )" +
                   job_fields + "}]}";
    }
    RunningServer start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--data-dir",       data.string(), "--inventory",
                                      inventory.string(), "--listen",    "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto server = start_netkeepd(args);
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    std::size_t spool_files() const {
        if (!fs::exists(data / "spool")) return 0;
        return std::size_t(
            std::distance(fs::directory_iterator(data / "spool"), fs::directory_iterator()));
    }

    // git's stdout, or nullopt when git fails (e.g. main does not exist yet).
    std::optional<std::string> git(std::vector<std::string> args) const {
        return git_output(repo, std::move(args));
    }
    int commits() const { return commit_count(repo); }
    // Netkeep-Seq of every commit on main, newest first.
    std::vector<std::int64_t> seqs() const {
        auto out =
            git({"log", "--format=%(trailers:key=Netkeep-Seq,valueonly,separator=)", "main"});
        std::vector<std::int64_t> v;
        if (!out) return v;
        std::istringstream in(*out);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) v.push_back(std::stoll(line));
        return v;
    }
};

// The next occurrence of a 1-second interval job, waiting for it to fall due.
Lease next_lease(Client& client, const std::string& device) {
    for (int i = 0; i < 100; ++i) {
        for (const auto& l : lease(client, "?seconds=2"))
            if (l.device == device) return l;
        std::this_thread::sleep_for(50ms);
    }
    FAIL("no occurrence for " << device);
    return {};
}

// Waits until the git writer has applied every event in the log (GET /metrics): checks
// that nothing more was committed mean something only after this.
bool caught_up(Client& client) {
    return eventually([&] {
        const double last = metric_value(client, "netkeep_log_last_seq");
        return last > 0 && metric_value(client, "netkeep_git_applied_seq") >= last;
    });
}

}  // namespace

TEST_CASE("a completion is committed byte-exact with its trailers, and its spool file goes") {
    Fixture f(1, R"("schedule": {"interval": 3600})");
    auto server = f.start();
    auto client = connect(server);
    auto leases = lease(client);
    REQUIRE(leases.size() == 1);
    std::string content = "hostname r0\r\n\x01\xff binary\n\ninterface Gi0/1\n no shutdown";
    auto seq = complete(client, leases[0], content);

    REQUIRE(eventually([&] { return f.commits() == 1; }));
    CHECK(f.git({"show", "main:r0/show_run"}) == content);
    auto message = f.git({"log", "-1", "--format=%B", "main"});
    REQUIRE(message);
    // The commit's date is the run's end: the lease's timestamp + 1 (worker_calls.hpp).
    const std::int64_t end = leases[0].timestamp + 1;
    CHECK(message->starts_with("r0: show_run at "));
    CHECK(message->find(fmt::format(" ({})\n", end)) !=
          std::string::npos);  // "ended <ISO 8601> (<end>)"
    CHECK(message->find(fmt::format("\nNetkeep-Seq: {}\n", seq)) != std::string::npos);
    CHECK(message->find(fmt::format("\nNetkeep-Job-Timestamp: {}\n", leases[0].timestamp)) !=
          std::string::npos);
    CHECK(f.git({"log", "-1", "--format=%an <%ae> %ct %cn", "main"}) ==
          fmt::format("netkeep <netkeep@localhost> {} netkeep\n", end));
    CHECK(f.git({"symbolic-ref", "HEAD"}) == "refs/heads/main\n");
    CHECK(f.git({"rev-parse", "--is-bare-repository"}) == "true\n");
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE("unchanged content makes no commit; a failure makes none; changed content does") {
    Fixture f(1, R"("schedule": {"interval": 1}, "retry_delay": 1)");
    auto server = f.start();
    auto client = connect(server);
    auto s1 = complete(client, next_lease(client, "r0"), "config A\n");
    REQUIRE(eventually([&] { return f.commits() == 1; }));

    auto s2 = complete(client, next_lease(client, "r0"), "config A\n", std::nullopt,
                       10);  // unchanged
    auto s3 =
        complete(client, next_lease(client, "r0"), "partial", std::string("timeout"));  // failure
    // Nothing to wait for in git: wait for the spool to drain (it goes only after apply).
    REQUIRE(eventually([&] { return f.spool_files() == 0; }));
    CHECK(f.commits() == 1);
    CHECK(f.git({"show", "main:r0/show_run"}) == "config A\n");

    auto s4 = complete(client, next_lease(client, "r0"), "config B\n");
    REQUIRE(eventually([&] { return f.commits() == 2; }));
    CHECK(f.git({"show", "main:r0/show_run"}) == "config B\n");
    CHECK(f.seqs() == std::vector<std::int64_t>{s4, s1});
    CHECK(s1 < s2);
    CHECK(s2 < s3);
    CHECK(s3 < s4);
}

TEST_CASE("the job's redact rules are applied to what reaches git") {
    Fixture f(1, R"("schedule": {"interval": 3600},
                    "redact": [{"regex": "^(snmp-server community) \\S+", "replace": "$1 <removed>"},
                               {"regex": "(password \")[^\"]*", "replace": "$1<removed>"}])");
    auto server = f.start();
    auto client = connect(server);
    auto leases = lease(client);
    REQUIRE(leases.size() == 1);
    complete(client, leases[0],
             "hostname r0\nsnmp-server community s3cr3t RO 10\r\nuser a password \"hunter2\" x\n"
             " snmp-server community not-at-start\n");
    REQUIRE(eventually([&] { return f.commits() == 1; }));
    CHECK(f.git({"show", "main:r0/show_run"}) ==
          "hostname r0\nsnmp-server community <removed> RO 10\r\nuser a password \"<removed>\" x\n"
          " snmp-server community not-at-start\n");
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE(
    "noise rules: drop never reaches git, an ignore-only change makes no commit, verify agrees") {
    // Noise rules alone (no redact): verify must still know git holds filtered content.
    Fixture f(1, R"("schedule": {"interval": 1}, "retry_delay": 1,
                    "noise": [{"regex": "^! Last configuration change", "action": "drop"},
                              {"regex": "^ntp clock-period", "action": "ignore"}])");
    auto server = f.start();
    auto client = connect(server);
    auto config = [](int run, const std::string& host) {
        return fmt::format(
            "hostname {}\n! Last configuration change at {}\nntp clock-period {}\nend\n", host, run,
            17000 + run);
    };
    auto s1 = complete(client, next_lease(client, "r0"), config(1, "r0"));
    REQUIRE(eventually([&] { return f.commits() == 1; }));
    CHECK(f.git({"show", "main:r0/show_run"}) == "hostname r0\nntp clock-period 17001\nend\n");

    auto s2 = complete(client, next_lease(client, "r0"), config(2, "r0"));  // ignore-only
    REQUIRE(caught_up(client));
    CHECK(f.commits() == 1);
    CHECK(f.git({"show", "main:r0/show_run"}) == "hostname r0\nntp clock-period 17001\nend\n");

    auto s3 = complete(client, next_lease(client, "r0"), config(3, "core-r0"));  // real change
    REQUIRE(eventually([&] { return f.commits() == 2; }));
    CHECK(f.git({"show", "main:r0/show_run"}) == "hostname core-r0\nntp clock-period 17003\nend\n");
    CHECK(f.seqs() == std::vector<std::int64_t>{s3, s1});
    CHECK(s2 > s1);
    auto history = f.git({"log", "-p", "--all"});
    REQUIRE(history);
    CHECK(history->find("Last configuration change") == std::string::npos);

    REQUIRE(caught_up(client));
    auto verify = ctl({"--data-dir", f.data.string(), "verify"});
    CHECK_MESSAGE(verify.code == 0, verify.out);
}

TEST_CASE("after kill -9, every acknowledged completion is in git exactly once") {
    const int devices = 30;
    Fixture f(devices, R"("schedule": {"interval": 3600})");
    std::set<std::int64_t> acknowledged;
    {
        auto server = f.start();
        auto client = connect(server);
        auto leases = lease(client, "?max=100");
        REQUIRE(leases.size() == devices);
        for (const auto& l : leases)
            acknowledged.insert(complete(client, l, "config of " + l.device + "\n"));
        server.process.kill();  // right after the last 200: the writer is mid-way, at best
    }
    INFO("committed before the kill: " << f.commits());
    auto server = f.start();
    if (!eventually([&] { return f.commits() >= devices; })) FAIL(server.process.stderr_text());
    auto client = connect(server);
    // A duplicate would be committed before the writer catches up with the log's end.
    REQUIRE(caught_up(client));
    auto seqs = f.seqs();
    CHECK(seqs.size() == std::size_t(devices));
    CHECK(std::set<std::int64_t>(seqs.begin(), seqs.end()) == acknowledged);
    for (int i = 0; i < devices; ++i)
        CHECK(f.git({"show", fmt::format("main:r{}/show_run", i)}) ==
              fmt::format("config of r{}\n", i));
    CHECK(eventually([&] { return f.spool_files() == 0; }));

    // And once more: a clean restart adds nothing.
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto exit = server.process.wait(10s);
    REQUIRE(exit.is_ok());
    CHECK(exit->exited());  // a clean shutdown (also: no sanitizer report at exit)
    CHECK(exit->code == 0);
    CHECK(server.process.stderr_text().find("runtime error") == std::string::npos);  // UBSan
    auto again = f.start();
    auto again_client = connect(again);
    REQUIRE(caught_up(again_client));
    CHECK(f.commits() == devices);
}

TEST_CASE("--git-layout group and --commit-unchanged reach the repository") {
    Fixture f(2, R"("schedule": {"interval": 1})");
    std::ofstream(f.inventory / "devices.json") << R"({"devices": [
        {"name": "r0", "group": "dallas", "credentials": {"user": "u", "pass": "p"}},
        {"name": "r1", "credentials": {"user": "u", "pass": "p"}}]})";
    auto server = f.start({"--git-layout", "group", "--commit-unchanged"});
    auto client = connect(server);
    auto first = lease(client);  // both baselines
    REQUIRE(first.size() == 2);
    for (const auto& l : first) complete(client, l, l.device == "r0" ? "same\n" : "other\n");
    complete(client, next_lease(client, "r0"), "same\n", std::nullopt, 10);
    REQUIRE(eventually([&] { return f.commits() == 3; }));
    CHECK(f.git({"ls-tree", "-r", "--name-only", "main"}) ==
          "dallas/r0/show_run\nungrouped/r1/show_run\n");
}

TEST_CASE("bad git writer options are refused at start") {
    Fixture f(1, R"("schedule": {"interval": 3600})");
    for (std::vector<std::string> bad : {std::vector<std::string>{"--git-layout", "flat"},
                                         std::vector<std::string>{"--spool-retention", "30"},
                                         std::vector<std::string>{"--spool-retention", "-1"}}) {
        CAPTURE(bad[0] + " " + bad[1]);
        std::vector<std::string> args{"--data-dir",         f.data.string(), "--inventory",
                                      f.inventory.string(), "--listen",      "127.0.0.1:0"};
        args.insert(args.end(), bad.begin(), bad.end());
        auto path = netkeepd_path();
        REQUIRE(path.is_ok());
        args.insert(args.begin(), path->string());
        auto p = Process::spawn(args);
        REQUIRE(p.is_ok());
        auto status = p->wait(10s);
        REQUIRE(status.is_ok());
        CHECK(status->code == 2);
        CHECK(p->stderr_text().find(bad[0]) != std::string::npos);
    }
}

TEST_CASE(
    "a repository that cannot be opened keeps ingest running; once fixed, every commit appears "
    "once") {
    const int devices = 5;
    Fixture f(devices, R"("schedule": {"interval": 3600})");
    fs::create_directories(f.data);
    // Something that is not a repository where repo.git should be (root ignores modes).
    std::ofstream(f.repo) << "not a repository\n";
    auto server = f.start();
    auto client = connect(server);
    std::set<std::int64_t> acknowledged;
    for (const auto& l : lease(client, "?max=100"))
        acknowledged.insert(complete(client, l, "config of " + l.device + "\n"));
    REQUIRE(acknowledged.size() == std::size_t(devices));
    CHECK(eventually([&] { return metric_value(client, "netkeep_writer_errors_total") >= 2; }));
    CHECK(metric_value(client, "netkeep_writer_repo_ok") == 0);
    CHECK(metric_value(client, "netkeep_writer_consecutive_failures") >= 1);
    CHECK(metric_value(client, "netkeep_git_applied_seq") == 0);
    // Still serving /worker/next: lease() requires a 200 or 204. Not necessarily empty: the
    // next occurrences' slots are spread over the hour, and one may come due meanwhile.
    (void)lease(client);
    CHECK(f.spool_files() == std::size_t(devices));

    fs::remove(f.repo);  // the operator fixes it
    if (!eventually([&] { return f.commits() >= devices; }, 40s))
        FAIL(server.process.stderr_text());
    REQUIRE(caught_up(client));  // a duplicate would be committed before
    auto seqs = f.seqs();
    CHECK(seqs.size() == std::size_t(devices));
    CHECK(std::set<std::int64_t>(seqs.begin(), seqs.end()) == acknowledged);
    CHECK(eventually([&] { return metric_value(client, "netkeep_writer_repo_ok") == 1; }));
    CHECK(metric_value(client, "netkeep_writer_consecutive_failures") == 0);
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE(
    "netkeepctl quarantine list and retry, verify and /metrics know a quarantined completion") {
    Fixture f(2, R"("schedule": {"interval": 3600})");
    std::int64_t lost = 0;
    std::int64_t kept = 0;
    std::string lost_file;
    {
        // Ingest only, so that the spool file can go missing before the writer sees it.
        auto server = f.start({"--no-git-writer"});
        auto client = connect(server);
        auto leases = lease(client, "?max=10");
        REQUIRE(leases.size() == 2);
        lost = complete(client, leases[0], "config of " + leases[0].device + "\n");
        kept = complete(client, leases[1], "config of " + leases[1].device + "\n");
        REQUIRE(server.process.send_signal(SIGTERM).is_ok());
        REQUIRE(server.process.wait(10s).is_ok());
        auto log = ctl({"--data-dir", f.data.string(), "--json", "log", "--from",
                        std::to_string(lost), "--to", std::to_string(lost)});
        REQUIRE(log.code == 0);
        simdjson::dom::parser parser;
        lost_file = std::string(parser.parse(log.out)["spool"].get_string().value());
    }
    fs::rename(f.data / "spool" / lost_file, f.root / "saved");

    auto server = f.start();
    auto client = connect(server);
    REQUIRE(eventually([&] { return f.commits() == 1; }));
    CHECK(
        eventually([&] { return metric_value(client, "netkeep_writer_quarantined_events") == 1; }));
    CHECK(metric_value(client, "netkeep_writer_quarantined_total") == 1);

    auto list = ctl({"--data-dir", f.data.string(), "quarantine", "list"});
    CHECK(list.code == 0);
    CHECK_MESSAGE(list.out.find(fmt::format("{}  quarantined", lost)) != std::string::npos,
                  list.out);
    auto verify = ctl({"--data-dir", f.data.string(), "verify"});
    CHECK_MESSAGE(verify.code == 0, verify.out);
    CHECK_MESSAGE(verify.out.find("1 quarantined") != std::string::npos, verify.out);
    auto wrong = ctl({"--data-dir", f.data.string(), "quarantine", "retry", std::to_string(kept)});
    CHECK(wrong.code == 1);
    CHECK(wrong.err.find("not quarantined") != std::string::npos);

    fs::rename(f.root / "saved", f.data / "spool" / lost_file);  // restored from a backup
    auto retry = ctl({"--data-dir", f.data.string(), "quarantine", "retry", std::to_string(lost)});
    CHECK_MESSAGE(retry.code == 0, retry.err);
    REQUIRE(eventually([&] { return f.commits() == 2; }));
    CHECK(f.seqs() == std::vector<std::int64_t>{lost, kept});
    CHECK(
        eventually([&] { return metric_value(client, "netkeep_writer_quarantined_events") == 0; }));
    CHECK(eventually([&] {
        return ctl({"--data-dir", f.data.string(), "quarantine", "list"})
                   .out.find(fmt::format("{}  applied", lost)) != std::string::npos;
    }));
    verify = ctl({"--data-dir", f.data.string(), "verify"});
    CHECK_MESSAGE(verify.code == 0, verify.out);
    CHECK(verify.out.find("quarantined") == std::string::npos);
}
