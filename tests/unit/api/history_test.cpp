// The history index: the git writer's meta records joined with their completions in a
// real event log, versions per job, duplicates ignored.
#include <doctest/doctest.h>

#include <string>

#include <fmt/format.h>

#include "api/history.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using namespace netkeep::api;

namespace {
std::string key(std::uint64_t seq) { return fmt::format("gitwriter.applied.{:020}", seq); }
// A 40-hex object id: 'b' or 'c' then the seq, padded.
std::string id(char kind, std::uint64_t seq) { return fmt::format("{}{:039}", kind, seq); }

CompletionRecorded ok(std::string device, std::string job, unix_time end) {
    return CompletionRecorded{
        end, std::move(device),    std::move(job), 1,  end - 1, end, std::nullopt,
        3,   std::string(32, 'x'), "spool",        "w"};
}
}  // namespace

TEST_CASE("a meta record parses like the git writer writes it") {
    const std::string blob(40, 'b'), commit(40, 'c');
    auto r = parse_applied_meta(key(42), blob + " " + commit + " r1/show_run");
    REQUIRE(r);
    CHECK(*r == GitAppliedRecord{42, blob, commit, "r1/show_run"});
    auto unchanged = parse_applied_meta(key(43), blob + " - g/r1/show_run");
    REQUIRE(unchanged);
    CHECK(unchanged->commit.empty());
    CHECK(unchanged->path == "g/r1/show_run");
    CHECK_FALSE(parse_applied_meta("gitwriter.applied.42", "b c p"));  // not 20 digits
    CHECK_FALSE(parse_applied_meta(key(1), "b c"));
    CHECK_FALSE(parse_applied_meta(key(1), "b  p"));
    CHECK_FALSE(parse_applied_meta(key(1), "b10b c0ff r1/show_run"));  // not object ids
    CHECK_FALSE(parse_applied_meta("gitwriter.cursor", "5"));
}

TEST_CASE("versions are records with a commit, oldest first, each seq once") {
    HistoryIndex h;
    CHECK(h.add({"r1", "run", {5, 100, "c5", "b5", "r1/run", "w"}}));
    CHECK_FALSE(h.add({"r1", "run", {6, 110, "", "b5", "r1/run", "w"}}));  // unchanged: no commit
    CHECK(h.add({"r1", "run", {9, 120, "c9", "b9", "r1/run", "w"}}));
    CHECK_FALSE(h.add({"r1", "run", {9, 120, "c9", "b9", "r1/run", "w"}}));  // reported twice
    CHECK(h.add({"r1", "conf", {12, 130, "c12", "b12", "r1/conf", "w"}}));
    CHECK(h.versions() == 3);
    REQUIRE(h.last_change("r1", "run"));
    CHECK(h.last_change("r1", "run")->commit == "c9");
    CHECK(h.last_change("r2", "run") == nullptr);
    const auto* jobs = h.device("r1");
    REQUIRE(jobs);
    CHECK(jobs->size() == 2);
    CHECK(jobs->at("run").front().seq == 5);
}

TEST_CASE("records load from the log's meta and join their completions") {
    auto dir = testing::TempDir::create("history-test");
    REQUIRE(dir.is_ok());
    auto log = open_event_log((*dir / "log").string());
    REQUIRE(log.is_ok());
    REQUIRE((*log)
                ->append({LeaseGranted{}, ok("r1", "run", 1000), OccurrenceClosed{},
                          ok("r2", "run", 2000), ok("r1", "run", 3000)})
                .is_ok());
    REQUIRE((*log)
                ->put_meta_batch({{key(2), id('b', 2) + " " + id('c', 2) + " r1/run"},
                                  {key(4), id('b', 4) + " - r2/run"},
                                  {key(5), id('b', 5) + " " + id('c', 5) + " r1/run"},
                                  {"gitwriter.cursor", "5"}})
                .is_ok());
    auto entries = load_applied_records(**log);
    REQUIRE_MESSAGE(entries.is_ok(), entries.status().to_string());
    REQUIRE(entries->size() == 3);
    CHECK((*entries)[0].device == "r1");
    CHECK((*entries)[0].version.time == 1000);
    CHECK((*entries)[1].device == "r2");
    CHECK((*entries)[1].version.commit.empty());
    CHECK((*entries)[2].version.seq == 5);
    CHECK((*entries)[2].version.time == 3000);
    CHECK((*entries)[2].version.worker == "w");  // the completion's worker

    // A record whose event is not a completion is an error naming its seq.
    auto bad = resolve_records(**log, {GitAppliedRecord{3, "b", "c", "p"}});
    REQUIRE_FALSE(bad.is_ok());
    CHECK(bad.status().message().find("seq 3") != std::string::npos);
    auto missing = resolve_records(**log, {GitAppliedRecord{99, "b", "c", "p"}});
    CHECK_FALSE(missing.is_ok());
}
