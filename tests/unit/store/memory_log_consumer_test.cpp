// The memory log hosts a real consumer: the git writer tails it, commits a completion and
// keeps its cursor in the log's meta values, across a restart on the same store. This
// program links the git writer and the memory log, and no RocksDB: the shape of the
// in-process tests of the engine and the git writer that use the memory log.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "netkeep/git_writer.hpp"
#include "netkeep/sha256.hpp"
#include "store/memory_event_log.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

using namespace netkeep;
using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const char* k_jobs =
    R"({"jobs": [{"name": "plain", "schedule": {"interval": 3600}, "command": {"inline": ["x"]}}]})";
const char* k_devices =
    R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}}]})";

// A completion as /worker/complete records it: the spool file first, then the event.
std::uint64_t complete(EventLog& log, const fs::path& spool, const std::string& name,
                       const std::string& content) {
    std::ofstream(spool / name, std::ios::binary) << content;
    Sha256 digest;
    digest.update(content);
    auto sum = digest.finish();
    CompletionRecorded c;
    c.at = 100;
    c.device = "r1";
    c.job = "plain";
    c.job_timestamp = 1700000000;
    c.start_timestamp = 1700000001;
    c.end_timestamp = 1700000002;
    c.size = content.size();
    c.sha256 = std::string(reinterpret_cast<const char*>(sum.data()), sum.size());
    c.spool = name;
    c.worker = "test-worker";
    auto r = log.append({c});
    REQUIRE(r.is_ok());
    return r->first;
}

std::unique_ptr<GitWriter> start_writer(EventLog& log, const TempDir& root) {
    GitWriterOptions o;
    o.repo_path = (root / "repo.git").string();
    o.spool_dir = (root / "spool").string();
    o.state_dir = (root / "gitwriter").string();
    auto w = open_git_writer(log, std::move(o));
    REQUIRE_MESSAGE(w.is_ok(), w.status().to_string());
    REQUIRE(w.value()->start().is_ok());
    return std::move(w.value());
}

std::string git_show(const TempDir& root, const std::string& what) {
    auto p =
        Process::spawn({"/usr/bin/git", "--git-dir", (root / "repo.git").string(), "show", what});
    REQUIRE(p.is_ok());
    REQUIRE(p->wait(10s).is_ok());
    return p->stdout_text();
}

}  // namespace

TEST_CASE("the git writer tails a memory log, commits, and resumes from its cursor") {
    TempDir root = TempDir::create("netkeep-memlog-git").value();
    fs::create_directories(root / "spool");
    auto log = std::make_unique<MemoryEventLog>();
    REQUIRE(log->append({InventoryApplied{1, k_devices, k_jobs}}).is_ok());
    const auto first = complete(*log, root / "spool", "c1", "config one\n");
    {
        auto writer = start_writer(*log, root);
        REQUIRE(wait_until([&] { return writer->applied_seq() >= first; }));
        writer->stop();
    }
    CHECK(git_show(root, "main:r1/plain") == "config one\n");
    CHECK(log->get_meta("gitwriter.cursor").value() == std::to_string(first));

    // A restart: another log on the same store, and a new writer that goes on from there.
    auto store = log->store();
    log->close();
    log.reset();
    auto reopened = MemoryEventLog::open(store);
    REQUIRE(reopened.is_ok());
    const auto second = complete(**reopened, root / "spool", "c2", "config two\n");
    auto writer = start_writer(**reopened, root);
    REQUIRE(wait_until([&] { return writer->applied_seq() >= second; }));
    writer->stop();
    CHECK(git_show(root, "main:r1/plain") == "config two\n");
    CHECK(git_show(root, "main~1:r1/plain") == "config one\n");
}
