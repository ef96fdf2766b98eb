// The GitWriter against a real RocksDB log and a real repository, without the server:
// crash windows are staged directly (a commit whose cursor write was lost) instead of
// hoping a kill -9 lands in them.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/sha256.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const char* k_jobs = R"({"jobs": [
    {"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
     "redact": [{"regex": "^(secret) \\S+", "replace": "$1 <removed>"}]},
    {"name": "plain", "schedule": {"interval": 3600}, "command": {"inline": ["show ver"]}}]})";
const char* k_devices = R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}},
                                         {"name": "r2", "credentials": {"user": "u", "pass": "p"}}]})";

struct Fixture {
    TempDir root = TempDir::create("gitwriter-unit").value();
    fs::path spool = root / "spool";
    fs::path repo = root / "repo.git";
    std::unique_ptr<EventLog> log;
    std::unique_ptr<GitWriter> writer;
    int spooled = 0;
    GitWriterOptions options;  // start() fills in the paths and fast retries

    Fixture() {
        fs::create_directories(spool);
        open_log();
        REQUIRE(log->append({InventoryApplied{1, k_devices, k_jobs}}).is_ok());
    }
    void open_log() {
        auto l = open_event_log((root / "log").string());
        REQUIRE(l.is_ok());
        log = std::move(l.value());
    }
    void start(std::uint64_t gc_every = 1000, std::string git_program = "/usr/bin/git") {
        GitWriterOptions o = options;
        o.repo_path = repo.string();
        o.spool_dir = spool.string();
        o.state_dir = (root / "gitwriter").string();
        o.gc_every = gc_every;
        o.git_program = std::move(git_program);
        o.retry_first = 20ms;
        o.retry_max = 100ms;
        auto w = open_git_writer(*log, std::move(o));
        REQUIRE(w.is_ok());
        writer = std::move(w.value());
        REQUIRE(writer->start().is_ok());
    }
    void restart() {
        writer.reset();
        start();
    }

    // A completion as /worker/complete records it: spool file first, then the event.
    std::uint64_t complete(const std::string& device, const std::string& job,
                           const std::string& content, std::optional<std::string> failure = {},
                           bool write_file = true) {
        std::string name = fmt::format("c{}", ++spooled);
        if (write_file) std::ofstream(spool / name, std::ios::binary) << content;
        auto d = Sha256();
        d.update(content);
        auto digest = d.finish();
        CompletionRecorded c{100,
                             device,
                             job,
                             1700000000 + spooled,
                             1700000001,
                             1700000002 + spooled,
                             failure,
                             content.size(),
                             std::string(reinterpret_cast<const char*>(digest.data()), 32),
                             name,
                             "test-worker"};
        auto r = log->append({c});
        REQUIRE(r.is_ok());
        return r->first;
    }
    bool wait_applied(std::uint64_t seq, std::chrono::milliseconds timeout = 10s) {
        auto until = std::chrono::steady_clock::now() + timeout;
        while (writer->applied_seq() < seq) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }
    // Waits for the writer's attempts to have failed n times (errors_total): it tried,
    // and retried, so a check that it is still stuck is not vacuous.
    bool wait_errors(std::uint64_t n = 2) {
        return wait_until([&] { return writer->health().errors_total >= n; });
    }
    std::string git(std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/git", "--git-dir", repo.string()});
        auto p = Process::spawn(args);
        REQUIRE(p.is_ok());
        auto status = p->wait(10s);
        REQUIRE(status.is_ok());
        return p->stdout_text();
    }
    int commits() {
        std::string out = git({"rev-list", "--count", "main"});
        return out.empty() ? 0 : std::stoi(out);
    }
    std::string seqs() {
        return git({"log", "--format=%(trailers:key=Netkeep-Seq,valueonly)", "main"});
    }
    // "<blob> <commit or -> <path>", or "none".
    std::string record(std::uint64_t seq) {
        auto v = log->get_meta(fmt::format("gitwriter.applied.{:020}", seq));
        return v ? *v : "none";
    }
    std::string rev(const std::string& what) {
        std::string out = git({"rev-parse", what});
        if (!out.empty()) out.pop_back();
        return out;
    }
    // The quarantine record of seq ("<state> <attempts> <at> <order> <after> <detail>"), or "none".
    std::string quarantine(std::uint64_t seq) {
        auto v = log->get_meta(fmt::format("gitwriter.quarantine.{:020}", seq));
        return v ? *v : "none";
    }
    bool wait_state(std::uint64_t seq, const std::string& state,
                    std::chrono::milliseconds timeout = 10s) {
        auto until = std::chrono::steady_clock::now() + timeout;
        while (!quarantine(seq).starts_with(state + " ")) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }
    // What `netkeepctl quarantine retry` leaves for the writer.
    void request_retry(std::uint64_t seq, std::uint64_t order) {
        fs::create_directories(root / "gitwriter/retry");
        std::ofstream(root / "gitwriter/retry" / std::to_string(seq)) << order << "\n";
    }
    void write_spool(int n, const std::string& content) {
        std::ofstream(spool / fmt::format("c{}", n)) << content;
    }
    std::string meta_cursor() {
        auto v = log->get_meta("gitwriter.cursor");
        return v ? *v : "<" + v.status().to_string() + ">";
    }
};

}  // namespace

TEST_CASE("completions become commits; unchanged content and failures make none; spool files go") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "version 1\n");
    REQUIRE(f.wait_applied(s1));
    CHECK(f.git({"show", "main:r1/plain"}) == "version 1\n");
    CHECK(f.commits() == 1);
    CHECK(f.git({"log", "-1", "--format=%an <%ae> %at %cn <%ce> %ct %ad", "--date=iso-strict-local",
                 "main"}) ==
          "netkeep <netkeep@localhost> 1700000003 netkeep <netkeep@localhost> 1700000003 "
          "2023-11-14T22:13:23+00:00\n");
    CHECK(f.git({"log", "-1", "--format=%B", "main"}).find(fmt::format("Netkeep-Seq: {}\n", s1)) !=
          std::string::npos);

    auto s2 = f.complete("r1", "plain", "version 1\n");  // unchanged
    auto s3 = f.complete("r1", "plain", "partial", std::string("timeout"));
    auto s4 = f.complete("r2", "plain", "other\n");
    REQUIRE(f.wait_applied(s4));
    CHECK(f.commits() == 2);
    CHECK(f.git({"show", "main:r1/plain"}) == "version 1\n");
    CHECK(f.git({"show", "main:r2/plain"}) == "other\n");
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n", s4, s1));
    CHECK(f.git({"symbolic-ref", "HEAD"}) == "refs/heads/main\n");
    (void)s2;
    (void)s3;

    f.writer->stop();
    CHECK(f.meta_cursor() == std::to_string(s4));
    CHECK(fs::is_empty(f.spool));
}

TEST_CASE("the job's redact rules are applied before the content reaches git") {
    Fixture f;
    f.start();
    auto s = f.complete("r1", "show_run", "hostname r1\nsecret hunter2\r\nsecret x");
    REQUIRE(f.wait_applied(s));
    CHECK(f.git({"show", "main:r1/show_run"}) ==
          "hostname r1\nsecret <removed>\r\nsecret <removed>");
    // A changed secret alone is no change in git.
    auto s2 = f.complete("r1", "show_run", "hostname r1\nsecret other\r\nsecret y");
    REQUIRE(f.wait_applied(s2));
    CHECK(f.commits() == 1);
    f.writer->stop();
    CHECK(fs::is_empty(f.spool));  // the staged redacted copy is gone too
}

TEST_CASE("a commit whose cursor write was lost is neither repeated nor lost after a restart") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "one\n");
    auto s2 = f.complete("r2", "plain", "two\n");
    REQUIRE(f.wait_applied(s2));
    f.writer.reset();
    // The crash window: both commits are in git, the cursor says nothing was applied,
    // and the spool files are still there (they go only after the cursor write).
    REQUIRE(f.log->put_meta("gitwriter.cursor", std::to_string(s1 - 1)).is_ok());
    std::ofstream(f.spool / "c1") << "one\n";
    std::ofstream(f.spool / "c2") << "two\n";

    auto s3 = f.complete("r1", "plain", "three\n");
    f.start();
    REQUIRE(f.wait_applied(s3));
    CHECK(f.commits() == 3);
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n{}\n\n", s3, s2, s1));
    // The records of the two recovered events come from the commits that carry them.
    CHECK(f.record(s1) == fmt::format("{} {} r1/plain", f.rev("main~2:r1/plain"), f.rev("main~2")));
    CHECK(f.record(s2) == fmt::format("{} {} r2/plain", f.rev("main~1:r2/plain"), f.rev("main~1")));
    f.writer->stop();
    CHECK(f.meta_cursor() == std::to_string(s3));
    CHECK(fs::is_empty(f.spool));
}

TEST_CASE("a ref lock left by a kill -9 mid-commit does not block the writer after a restart") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "one\n");
    REQUIRE(f.wait_applied(s1));
    f.writer.reset();
    std::ofstream(f.repo / "refs/heads/main.lock") << "";
    auto s2 = f.complete("r1", "plain", "two\n");
    f.start();
    REQUIRE(f.wait_applied(s2));
    CHECK(f.git({"show", "main:r1/plain"}) == "two\n");
    CHECK(!fs::exists(f.repo / "refs/heads/main.lock"));
}

TEST_CASE("the redaction rules in force are recovered after a restart") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "x\n");
    REQUIRE(f.wait_applied(s1));
    f.restart();
    auto s2 = f.complete("r1", "show_run", "secret abc\n");
    REQUIRE(f.wait_applied(s2));
    CHECK(f.git({"show", "main:r1/show_run"}) == "secret <removed>\n");

    // Once more with the inventory meta key gone: the whole prefix is scanned.
    f.writer.reset();
    // (No API deletes a meta key; an invalid value is treated the same way.)
    REQUIRE(f.log->put_meta("gitwriter.inventory_seq", "").is_ok());
    f.start();
    auto s3 = f.complete("r2", "show_run", "secret def\n");
    REQUIRE(f.wait_applied(s3));
    CHECK(f.git({"show", "main:r2/show_run"}) == "secret <removed>\n");
}

TEST_CASE(
    "a missing spool file stops the writer at that event until it appears (before its "
    "quarantine)") {
    Fixture f;
    f.options.quarantine_after = 1000;
    f.start();
    auto s1 = f.complete("r1", "plain", "late\n", std::nullopt, false);
    auto s2 = f.complete("r2", "plain", "after\n");
    REQUIRE(f.wait_errors());
    CHECK(f.writer->applied_seq() == s1 - 1);
    CHECK(f.commits() == 0);
    std::ofstream(f.spool / "c1") << "late\n";
    REQUIRE(f.wait_applied(s2));
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n", s2, s1));
}

TEST_CASE("a spool file that does not match its recorded hash is not committed") {
    Fixture f;
    f.options.quarantine_after = 1000;
    f.start();
    auto s1 = f.complete("r1", "plain", "good\n", std::nullopt, false);
    std::ofstream(f.spool / "c1") << "bad!\n";  // same size, other bytes
    REQUIRE(f.wait_errors());
    CHECK(f.writer->applied_seq() == s1 - 1);
    CHECK(f.commits() == 0);
    CHECK(f.writer->health().consecutive_failures > 0);
    CHECK(f.writer->health().last_error.find("SHA-256") != std::string::npos);
    CHECK(f.writer->health().repo_ok);  // the event's fault, not the repository's
}

TEST_CASE("a repository ahead of the log is refused") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "x\n");
    REQUIRE(f.wait_applied(s1));
    f.writer.reset();
    f.log.reset();
    fs::remove_all(f.root / "log");
    f.open_log();  // a new, empty log next to the old repository
    auto w = open_git_writer(
        *f.log, {.repo_path = f.repo.string(), .spool_dir = f.spool.string(), .state_dir = {}});
    REQUIRE(w.is_ok());
    auto s = w.value()->start();
    CHECK(s.code() == Status::Code::conflict);
}

TEST_CASE("git gc runs between commits, and a failing gc does not stop the writer") {
    for (std::string program : {"/usr/bin/git", "/nonexistent/git"}) {
        CAPTURE(program);
        Fixture f;
        f.start(1, program);
        std::uint64_t last = 0;
        for (int i = 0; i < 3; ++i) last = f.complete("r1", "plain", fmt::format("v{}\n", i));
        REQUIRE(f.wait_applied(last));
        CHECK(f.commits() == 3);
        std::string fsck = f.git({"fsck", "--no-progress", "--no-dangling"});
        CHECK_MESSAGE(fsck.find("missing") == std::string::npos, fsck);
        CHECK_MESSAGE(fsck.find("error") == std::string::npos, fsck);
        // After a real gc that packs everything, libgit2 still finds main's objects.
        if (program == "/usr/bin/git") (void)f.git({"gc", "--quiet"});
        last = f.complete("r1", "plain", "after gc\n");
        REQUIRE(f.wait_applied(last));
        CHECK(f.git({"show", "main:r1/plain"}) == "after gc\n");
        CHECK(f.commits() == 4);
    }
}

TEST_CASE("each applied completion leaves a record of its blob and commit for verify") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "one\n");
    auto s2 = f.complete("r1", "plain", "one\n");  // unchanged: a blob, no commit
    auto s3 = f.complete("r1", "plain", "", std::string("auth failed"));
    REQUIRE(f.wait_applied(s3));
    f.writer->stop();
    CHECK(f.record(s1) == fmt::format("{} {} r1/plain", f.rev("main:r1/plain"), f.rev("main")));
    CHECK(f.record(s2) == fmt::format("{} - r1/plain", f.rev("main:r1/plain")));
    CHECK(f.record(s3) == "none");  // a failure puts nothing in git
}

TEST_CASE("the group layout puts each file under its device's group") {
    Fixture f;
    f.options.layout = PathLayout::group;
    REQUIRE(f.log
                ->append({InventoryApplied{2, R"({"devices": [
        {"name": "r1", "group": "dallas", "credentials": {"user": "u"}},
        {"name": "r2", "credentials": {"user": "u"}}]})",
                                           k_jobs}})
                .is_ok());
    f.start();
    f.complete("r1", "plain", "a\n");
    auto s = f.complete("r2", "plain", "b\n");
    REQUIRE(f.wait_applied(s));
    CHECK(f.git({"ls-tree", "-r", "--name-only", "main"}) ==
          "dallas/r1/plain\nungrouped/r2/plain\n");
    CHECK(f.record(s).ends_with(" ungrouped/r2/plain"));
}

TEST_CASE("with commit_unchanged every successful completion is a commit") {
    Fixture f;
    f.options.commit_unchanged = true;
    f.start();
    f.complete("r1", "plain", "same\n");
    auto s = f.complete("r1", "plain", "same\n");
    REQUIRE(f.wait_applied(s));
    CHECK(f.commits() == 2);
    CHECK(f.rev("main:r1/plain") == f.rev("main~1:r1/plain"));
}

TEST_CASE("a batch reaches main as one pack; a large blob goes loose, not through memory") {
    Fixture f;
    std::uint64_t last = 0;
    for (int i = 0; i < 20; ++i)
        last = f.complete(i % 2 ? "r1" : "r2", "plain", fmt::format("v{}\n", i));
    std::string big(3 << 20, 'x');
    last = f.complete("r1", "show_run", big);
    f.start();  // after the events: they are one batch
    REQUIRE(f.wait_applied(last));
    CHECK(f.commits() == 21);
    CHECK(f.git({"show", "main:r1/plain"}) == "v19\n");
    CHECK(f.git({"show", "main:r1/show_run"}) == big);
    std::size_t packs = 0;
    for (const auto& e : fs::directory_iterator(f.repo / "objects/pack"))
        if (e.path().extension() == ".pack") ++packs;
    CHECK(packs == 1);
    // Loose: only the large blob.
    CHECK(f.git({"count-objects"}).starts_with("1 objects"));
    std::string fsck = f.git({"fsck", "--no-progress", "--no-dangling"});
    CHECK_MESSAGE(fsck.empty(), fsck);
}

TEST_CASE(
    "spool files: orphans swept at start, pending ones kept, applied ones kept for the retention") {
    Fixture f;
    f.options.quarantine_after = 1000;
    auto age = [&](const std::string& name) {
        struct timespec old[2] = {{1, 0}, {1, 0}};  // 1970
        REQUIRE(::utimensat(AT_FDCWD, (f.spool / name).c_str(), old, 0) == 0);
    };
    // An upload made durable whose event was never appended (a crash in between).
    std::ofstream(f.spool / "orphan") << "never recorded";
    age("orphan");
    // An event whose file is missing holds the writer; the event after it waits with its file.
    auto s1 = f.complete("r1", "plain", "late\n", std::nullopt, false);
    auto s2 = f.complete("r2", "plain", "waiting\n");
    age("c2");
    f.start();
    REQUIRE(f.wait_errors());
    CHECK(f.writer->applied_seq() == s1 - 1);
    CHECK_FALSE(fs::exists(f.spool / "orphan"));
    CHECK(fs::exists(f.spool / "c2"));
    std::ofstream(f.spool / "c1") << "late\n";
    REQUIRE(f.wait_applied(s2));
    f.writer.reset();

    f.options.spool_retention = 30s;
    f.options.sweep_every = 1s;
    f.start();
    auto s3 = f.complete("r1", "plain", "kept\n");
    REQUIRE(f.wait_applied(s3));
    CHECK(fs::exists(f.spool / "c3"));  // applied, within its retention
    age("c3");
    CHECK(wait_until([&] { return !fs::exists(f.spool / "c3"); }));
}

// ---- quarantine (docs/git.md#quarantine) ----

TEST_CASE(
    "a completion that keeps failing is quarantined after N attempts; later events for its path "
    "still apply") {
    Fixture f;
    f.start();
    auto s1 =
        f.complete("r1", "plain", "lost\n", std::nullopt, false);  // its spool file is missing
    auto s2 = f.complete("r1", "plain", "newer\n");
    REQUIRE(f.wait_applied(s2));
    CHECK(f.git({"show", "main:r1/plain"}) == "newer\n");
    CHECK(f.commits() == 1);
    CHECK(f.seqs() == fmt::format("{}\n\n", s2));
    std::string q = f.quarantine(s1);
    CHECK_MESSAGE(q.starts_with("quarantined 3 "), q);
    CHECK_MESSAGE(q.find("No such file") != std::string::npos, q);
    auto h = f.writer->health();
    CHECK(h.quarantined == 1);
    CHECK(h.quarantined_total == 1);
    CHECK(h.errors_total >= 2);
    CHECK(h.consecutive_failures == 0);
    CHECK(h.repo_ok);
    // A restart does not try it again: it stays quarantined, nothing is re-committed.
    f.restart();
    auto s3 = f.complete("r2", "plain", "x\n");
    REQUIRE(f.wait_applied(s3));
    CHECK(f.commits() == 2);
    CHECK(f.quarantine(s1).starts_with("quarantined 3 "));
    CHECK(f.writer->health().quarantined == 1);
    CHECK(f.writer->health().quarantined_total == 0);  // this process quarantined nothing
}

TEST_CASE(
    "a retried quarantined completion is committed late, once, with a Netkeep-Retried-After "
    "trailer") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "first\n", std::nullopt, false);
    auto s2 = f.complete("r2", "plain", "other\n");
    REQUIRE(f.wait_applied(s2));
    REQUIRE(f.wait_state(s1, "quarantined"));
    f.write_spool(1, "first\n");  // the operator restores the file
    f.request_retry(s1, 1);
    REQUIRE(f.wait_state(s1, "applied"));
    CHECK(f.git({"show", "main:r1/plain"}) == "first\n");
    std::string message = f.git({"log", "-1", "--format=%B", "main"});
    CHECK(message.find(fmt::format("Netkeep-Seq: {}\n", s1)) != std::string::npos);
    CHECK(message.find(fmt::format("Netkeep-Retried-After: {}\n", s2)) != std::string::npos);
    CHECK(f.record(s1) == fmt::format("{} {} r1/plain", f.rev("main:r1/plain"), f.rev("main")));
    CHECK(f.writer->health().quarantined == 0);
    CHECK_FALSE(fs::exists(f.spool / "c1"));
    CHECK(fs::is_empty(f.root / "gitwriter/retry"));

    // The late commit is main's tip: a restart resumes from its position (s2), not from s1.
    f.restart();
    auto s3 = f.complete("r1", "plain", "third\n");
    REQUIRE(f.wait_applied(s3));  // the log's last event: nothing more can be committed
    CHECK(f.commits() == 3);
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n{}\n\n", s3, s1, s2));
}

TEST_CASE("a late retry never overwrites a newer config of its task: it is superseded") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "old\n", std::nullopt, false);
    auto s2 = f.complete("r1", "plain", "new\n");
    REQUIRE(f.wait_applied(s2));
    f.write_spool(1, "old\n");
    f.request_retry(s1, 1);
    REQUIRE(f.wait_state(s1, "superseded"));
    CHECK(f.quarantine(s1).find(fmt::format("seq {} ", s2)) != std::string::npos);
    CHECK(f.git({"show", "main:r1/plain"}) == "new\n");
    CHECK(f.commits() == 1);
    CHECK(f.record(s1) == "none");
    CHECK(f.writer->health().quarantined == 0);
}

TEST_CASE(
    "retries are applied in the order they were requested, also when requested while stopped") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "a\n", std::nullopt, false);
    auto s2 = f.complete("r2", "plain", "b\n", std::nullopt, false);
    auto s3 = f.complete("r1", "show_run", "x\n");
    REQUIRE(f.wait_applied(s3));
    REQUIRE(f.wait_state(s2, "quarantined"));
    f.writer.reset();
    f.write_spool(1, "a\n");
    f.write_spool(2, "b\n");
    f.request_retry(s1, 200);
    f.request_retry(s2, 100);  // asked first
    f.start();
    REQUIRE(f.wait_state(s1, "applied"));
    REQUIRE(f.wait_state(s2, "applied"));
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n{}\n\n", s1, s2, s3));
}

TEST_CASE("a retry of an event that fails again puts it back in quarantine") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "gone\n", std::nullopt, false);
    auto s2 = f.complete("r2", "plain", "b\n");
    REQUIRE(f.wait_applied(s2));
    REQUIRE(f.wait_state(s1, "quarantined"));
    f.request_retry(s1, 1);  // the file is still missing
    CHECK(wait_until([&] { return f.quarantine(s1).find("retry failed") != std::string::npos; }));
    CHECK_MESSAGE(f.quarantine(s1).starts_with("quarantined 4 "), f.quarantine(s1));
    CHECK(f.quarantine(s1).find("retry failed") != std::string::npos);
    CHECK(f.commits() == 1);
}

TEST_CASE("an inventory that cannot be applied is held, never skipped: later completions wait") {
    Fixture f;
    f.start();
    auto bad = f.log->append({InventoryApplied{3, k_devices, "not json"}});
    REQUIRE(bad.is_ok());
    auto s2 = f.complete("r1", "show_run", "secret x\n");
    REQUIRE(f.wait_state(bad->first, "held"));
    REQUIRE(f.wait_errors());
    CHECK(f.writer->applied_seq() == bad->first - 1);
    CHECK(f.commits() == 0);
    auto h = f.writer->health();
    CHECK(h.consecutive_failures > 0);
    CHECK(h.last_error.find("held") != std::string::npos);
    CHECK(h.quarantined == 1);
    CHECK(h.repo_ok);  // the inventory's fault, not the repository's
    (void)s2;
}

TEST_CASE(
    "a repository that cannot be opened is retried with backoff; ingest goes on; then it is "
    "created") {
    Fixture f;
    std::ofstream(f.repo) << "a file where the repository should be\n";
    auto s1 = f.complete("r1", "plain", "one\n");
    f.start();  // no failure: the thread retries
    auto s2 = f.complete("r2", "plain", "two\n");
    REQUIRE(f.wait_errors());  // a retry failed too
    auto h = f.writer->health();
    CHECK_FALSE(h.repo_ok);
    CHECK(h.consecutive_failures > 0);
    CHECK(h.errors_total > 0);
    CHECK_MESSAGE(h.last_error.find("open_failed") != std::string::npos, h.last_error);
    CHECK(f.writer->applied_seq() == 0);
    fs::remove(f.repo);
    REQUIRE(f.wait_applied(s2));
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n", s2, s1));
    h = f.writer->health();
    CHECK(h.repo_ok);
    CHECK(h.consecutive_failures == 0);
    CHECK(h.last_error.empty());
    CHECK(f.quarantine(s1) == "none");
}

TEST_CASE("a repository whose writes fail never quarantines events; they apply once it is fixed") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "one\n");
    REQUIRE(f.wait_applied(s1));
    f.writer.reset();
    fs::rename(f.repo / "objects", f.root / "objects.aside");
    std::ofstream(f.repo / "objects") << "not a directory\n";
    f.start();
    auto s2 = f.complete("r1", "plain", "two\n");
    auto s3 = f.complete("r2", "plain", "three\n");
    REQUIRE(f.wait_errors());
    CHECK(f.writer->applied_seq() < s2);
    CHECK_FALSE(f.writer->health().repo_ok);
    CHECK(f.quarantine(s2) == "none");
    CHECK(f.quarantine(s3) == "none");
    fs::remove(f.repo / "objects");
    fs::rename(f.root / "objects.aside", f.repo / "objects");
    REQUIRE(f.wait_applied(s3, 40s));
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n{}\n\n", s3, s2, s1));
    CHECK(f.writer->health().repo_ok);
}

TEST_CASE("the repository is created whole") {
    Fixture f;
    f.start();
    auto s1 = f.complete("r1", "plain", "one\n");
    REQUIRE(f.wait_applied(s1));
    for (const auto& e : fs::directory_iterator(f.root.path()))
        CHECK_MESSAGE(e.path().filename().string().find(".creating-") == std::string::npos,
                      e.path());
    CHECK(f.git({"rev-parse", "--is-bare-repository"}) == "true\n");
}

// The child of the next test: a writer whose test hook aborts the process when it is about
// to apply NETKEEP_CRASH_SEQ, as a segfault in redaction would. Does nothing unless run
// by that test (the variables are set only there).
TEST_CASE("zz child: a writer that crashes on a poison event") {
    const char* dir = std::getenv("NETKEEP_CRASH_DIR");
    const char* seq = std::getenv("NETKEEP_CRASH_SEQ");
    if (!dir || !seq) return;
    fs::path root = dir;
    auto log = open_event_log((root / "log").string());
    REQUIRE(log.is_ok());
    GitWriterOptions o;
    o.repo_path = (root / "repo.git").string();
    o.spool_dir = (root / "spool").string();
    o.state_dir = (root / "gitwriter").string();
    const std::uint64_t poison = std::stoull(seq);
    o.test_before_apply = [poison](std::uint64_t s) {
        if (s == poison) std::abort();
    };
    auto w = open_git_writer(**log, std::move(o));
    REQUIRE(w.is_ok());
    REQUIRE(w.value()->start().is_ok());
    std::this_thread::sleep_for(10s);  // the abort comes long before
    std::_Exit(0);
}

// The child of the next test: a writer killed (SIGKILL, as kill -9) at a step of
// publishing its first batch's pack: NETKEEP_PACK_CRASH_STEP.
TEST_CASE("zz child: a writer killed while it publishes a pack") {
    const char* dir = std::getenv("NETKEEP_PACK_CRASH_DIR");
    const char* step = std::getenv("NETKEEP_PACK_CRASH_STEP");
    if (!dir || !step) return;
    fs::path root = dir;
    auto log = open_event_log((root / "log").string());
    REQUIRE(log.is_ok());
    GitWriterOptions o;
    o.repo_path = (root / "repo.git").string();
    o.spool_dir = (root / "spool").string();
    o.state_dir = (root / "gitwriter").string();
    const std::string crash_at = step;
    o.test_publish_step = [crash_at](std::string_view s) {
        if (s == crash_at) ::raise(SIGKILL);
    };
    auto w = open_git_writer(**log, std::move(o));
    REQUIRE(w.is_ok());
    REQUIRE(w.value()->start().is_ok());
    std::this_thread::sleep_for(10s);  // the kill comes long before
    std::_Exit(0);
}

TEST_CASE("kill -9 while a batch's pack is written: every event is committed once, git is whole") {
    for (const char* step : {"pack", "index"}) {
        CAPTURE(step);
        Fixture f;
        auto s1 = f.complete("r1", "plain", "one\n");
        auto s2 = f.complete("r2", "plain", "two\n");
        auto s3 = f.complete("r1", "show_run", "three\n");
        f.log.reset();
        char self[4096] = {};
        ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
        REQUIRE(n > 0);
        SpawnOptions spawn;
        spawn.env = {"NETKEEP_PACK_CRASH_DIR=" + f.root.path().string(),
                     std::string("NETKEEP_PACK_CRASH_STEP=") + step};
        auto child =
            Process::spawn({self, "--test-case=zz child: a writer killed*", "--no-version"}, spawn);
        REQUIRE(child.is_ok());
        auto status = child->wait(30s);
        REQUIRE(status.is_ok());
        REQUIRE_MESSAGE(status->signal == SIGKILL, child->stderr_text());
        CHECK(f.commits() == 0);  // main never moved
        // What the crash left: the .pack alone, or the .pack and its .idx.
        int packs = 0, indexes = 0;
        for (const auto& e : fs::directory_iterator(f.repo / "objects" / "pack")) {
            packs += e.path().extension() == ".pack";
            indexes += e.path().extension() == ".idx";
        }
        CHECK(packs == 1);
        CHECK(indexes == (std::string_view(step) == "index" ? 1 : 0));

        f.open_log();
        f.start();
        REQUIRE(f.wait_applied(s3));
        CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n{}\n\n", s3, s2, s1));
        CHECK(f.git({"show", "main:r1/plain"}) == "one\n");
        CHECK(f.git({"show", "main:r2/plain"}) == "two\n");
        CHECK(f.git({"show", "main:r1/show_run"}) == "three\n");
        std::string fsck = f.git({"fsck", "--strict", "--no-progress", "--no-dangling"});
        CHECK_MESSAGE(fsck.empty(), fsck);
    }
}

TEST_CASE(
    "an event that crashes the writer is quarantined after N crashed starts, not a crash loop") {
    Fixture f;
    auto s1 = f.complete("r1", "plain", "before\n");
    auto s2 = f.complete("r2", "plain", "poison\n");
    auto s3 = f.complete("r2", "plain", "after\n");  // same path as the poison
    f.log.reset();
    char self[4096] = {};
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0);
    for (int start = 1; start <= 3; ++start) {
        CAPTURE(start);
        SpawnOptions spawn;
        spawn.env = {"NETKEEP_CRASH_DIR=" + f.root.path().string(),
                     "NETKEEP_CRASH_SEQ=" + std::to_string(s2)};
        auto child = Process::spawn({self, "--test-case=zz child*", "--no-version"}, spawn);
        REQUIRE(child.is_ok());
        auto status = child->wait(30s);
        REQUIRE(status.is_ok());
        CHECK_MESSAGE(status->signal == SIGABRT, child->stderr_text());
    }
    f.open_log();
    f.start();
    REQUIRE(f.wait_applied(s3));
    std::string q = f.quarantine(s2);
    CHECK_MESSAGE(q.starts_with("quarantined 3 "), q);
    CHECK(q.find("crashed the writer 3 times") != std::string::npos);
    CHECK(f.git({"show", "main:r1/plain"}) == "before\n");
    CHECK(f.git({"show", "main:r2/plain"}) == "after\n");
    CHECK(f.seqs() == fmt::format("{}\n\n{}\n\n", s3, s1));
    // The poison's file is kept for a retry.
    CHECK(fs::exists(f.spool / "c2"));
}

// ---- noise rules (issue 13, docs/jobs.md#noise) ----

namespace {

const char* k_noisy_jobs = R"({"jobs": [
    {"name": "noisy", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
     "redact": [{"regex": "^(secret) \\S+", "replace": "$1 <removed>"},
                {"delete_line": "^enable password"},
                {"block": {"begin": "^-----BEGIN", "end": "^-----END"}, "replace": "<key removed>"}],
     "noise": [{"regex": "^! Last change", "action": "drop"},
               {"regex": "^ntp clock-period", "action": "ignore"}]}]})";

std::string noisy_config(int run, const std::string& hostname = "r1") {
    return fmt::format(
        "hostname {}\n! Last change at run {}\nntp clock-period {}\nsecret hunter{}\n"
        "enable password 0 letmein{}\n-----BEGIN KEY-----\nPRIVATE{}\n-----END KEY-----\nend\n",
        hostname, run, 17000 + run, run, run, run);
}

std::string noisy_stored(int run, const std::string& hostname = "r1") {
    return fmt::format(
        "hostname {}\nntp clock-period {}\nsecret <removed>\n-----BEGIN KEY-----\n<key "
        "removed>\n-----END KEY-----\nend\n",
        hostname, 17000 + run);
}

}  // namespace

TEST_CASE(
    "noise: drop lines never reach git; an ignore-only change makes no commit, a real one does") {
    Fixture f;
    REQUIRE(f.log->append({InventoryApplied{2, k_devices, k_noisy_jobs}}).is_ok());
    f.start();
    auto s1 = f.complete("r1", "noisy", noisy_config(1));
    REQUIRE(f.wait_applied(s1));
    CHECK(f.git({"show", "main:r1/noisy"}) == noisy_stored(1));
    CHECK(f.commits() == 1);

    // Only the ignored line (and dropped and redacted ones) changed: no commit, and the
    // record names the blob that stays in the tree.
    auto s2 = f.complete("r1", "noisy", noisy_config(2));
    REQUIRE(f.wait_applied(s2));
    CHECK(f.commits() == 1);
    CHECK(f.git({"show", "main:r1/noisy"}) == noisy_stored(1));

    // A real change, with the ignored line changed too: committed as it is now.
    auto s3 = f.complete("r1", "noisy", noisy_config(3, "r1-new"));
    REQUIRE(f.wait_applied(s3));
    CHECK(f.commits() == 2);
    CHECK(f.git({"show", "main:r1/noisy"}) == noisy_stored(3, "r1-new"));
    f.writer->stop();
    CHECK(f.record(s2) == fmt::format("{} - r1/noisy", f.rev("main~1:r1/noisy")));
    CHECK(f.record(s3) == fmt::format("{} {} r1/noisy", f.rev("main:r1/noisy"), f.rev("main")));

    // Nothing dropped or redacted is anywhere in the history.
    std::string history = f.git({"log", "-p", "--all"});
    for (const char* gone : {"Last change", "hunter", "letmein", "PRIVATE", "enable password"})
        CHECK_MESSAGE(history.find(gone) == std::string::npos, gone);
    CHECK(fs::is_empty(f.spool));
}

TEST_CASE("noise: an ignored change whose records were lost in a crash is recovered from git") {
    Fixture f;
    REQUIRE(f.log->append({InventoryApplied{2, k_devices, k_noisy_jobs}}).is_ok());
    f.start();
    auto s1 = f.complete("r1", "noisy", noisy_config(1));
    auto s2 = f.complete("r1", "noisy", noisy_config(2));        // ignored
    auto s3 = f.complete("r2", "noisy", noisy_config(3, "r2"));  // committed
    REQUIRE(f.wait_applied(s3));
    f.writer.reset();
    CHECK(f.commits() == 2);
    const std::string kept = f.rev("main:r1/noisy");
    // The crash window: the commits are on main, the cursor and the records were lost,
    // the spool files are still there.
    REQUIRE(f.log->put_meta("gitwriter.cursor", std::to_string(s1 - 1)).is_ok());
    for (auto s : {s1, s2, s3})
        REQUIRE(f.log->put_meta(fmt::format("gitwriter.applied.{:020}", s), "lost").is_ok());
    f.write_spool(1, noisy_config(1));
    f.write_spool(2, noisy_config(2));
    f.write_spool(3, noisy_config(3, "r2"));
    auto s4 = f.complete("r1", "noisy", noisy_config(4));  // ignored again, after the restart
    f.start();
    REQUIRE(f.wait_applied(s4));
    f.writer->stop();
    CHECK(f.commits() == 2);
    CHECK(f.rev("main:r1/noisy") == kept);
    CHECK(f.record(s1) == fmt::format("{} {} r1/noisy", kept, f.rev("main~1")));
    CHECK(f.record(s2) == fmt::format("{} - r1/noisy", kept));
    CHECK(f.record(s4) == fmt::format("{} - r1/noisy", kept));
    CHECK(fs::is_empty(f.spool));
}

TEST_CASE("noise ignore with commit_unchanged: every completion is still a commit") {
    Fixture f;
    REQUIRE(f.log->append({InventoryApplied{2, k_devices, k_noisy_jobs}}).is_ok());
    f.options.commit_unchanged = true;
    f.start();
    auto s1 = f.complete("r1", "noisy", noisy_config(1));
    auto s2 = f.complete("r1", "noisy", noisy_config(2));
    REQUIRE(f.wait_applied(s2));
    CHECK(f.commits() == 2);
    CHECK(f.git({"show", "main:r1/noisy"}) == noisy_stored(2));
    (void)s1;
}

TEST_CASE("noise: an ignore-only change of a large config (a loose blob) makes no commit") {
    Fixture f;
    REQUIRE(f.log->append({InventoryApplied{2, k_devices, k_noisy_jobs}}).is_ok());
    f.start();
    std::string body;
    for (int i = 0; body.size() < (3u << 20); ++i)
        body += fmt::format("interface GigabitEthernet1/0/{}\n description port {}\n", i, i);
    auto s1 = f.complete("r1", "noisy", noisy_config(1) + body);
    REQUIRE(f.wait_applied(s1));
    auto s2 = f.complete("r1", "noisy", noisy_config(2) + body);
    REQUIRE(f.wait_applied(s2));
    CHECK(f.commits() == 1);
    auto s3 = f.complete("r1", "noisy", noisy_config(3) + body + "end-of-change\n");
    REQUIRE(f.wait_applied(s3));
    CHECK(f.commits() == 2);
    f.writer->stop();
    CHECK(f.record(s2) == fmt::format("{} - r1/noisy", f.rev("main~1:r1/noisy")));
}
