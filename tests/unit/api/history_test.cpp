// The history index: the git writer's meta records joined with their completions in a
// real event log, written to its meta on disk: versions per job, duplicates ignored, pages,
// indexing in chunks and resuming at history.indexed_through, rebuilding after retention.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "api/history.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/retention.hpp"
#include "store/memory_event_log.hpp"
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

namespace {
struct Log {
    testing::TempDir dir;
    std::unique_ptr<EventLog> log;
};
Log open_log() {
    auto dir = testing::TempDir::create("history-test");
    REQUIRE(dir.is_ok());
    auto log = open_event_log((*dir / "log").string());
    REQUIRE(log.is_ok());
    return Log{std::move(*dir), std::move(*log)};
}
HistoryEntry entry(std::string device, std::string job, std::uint64_t seq, std::string commit) {
    return {std::move(device), std::move(job),
            FileVersion{seq, unix_time(seq * 10), std::move(commit), fmt::format("b{}", seq),
                        "r1/run", "w"}};
}
}  // namespace

TEST_CASE("versions are records with a commit, on disk, each seq once") {
    Log l = open_log();
    HistoryIndex h(*l.log);
    REQUIRE(h.catch_up().is_ok());
    CHECK_FALSE(h.indexing());
    auto added = h.add({entry("r1", "run", 5, "c5"), entry("r1", "run", 6, ""),  // unchanged
                        entry("r1", "run", 9, "c9"), entry("r1", "conf", 12, "c12")},
                       12);
    REQUIRE(added.is_ok());
    CHECK(*added == 3);
    // Reported twice (at or below indexed_through): found on disk, not counted again.
    added = h.add({entry("r1", "run", 9, "c9")}, 9);
    REQUIRE(added.is_ok());
    CHECK(*added == 0);
    CHECK(h.versions() == 3);
    REQUIRE(h.last_change("r1", "run"));
    CHECK(h.last_change("r1", "run")->last.commit == "c9");
    CHECK(h.last_change("r1", "run")->count == 2);
    CHECK_FALSE(h.last_change("r2", "run"));
    CHECK(h.device_jobs("r1").size() == 2);
    auto all = h.all("r1", "run");
    REQUIRE(all.is_ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].seq == 5);
    CHECK((*all)[1] == entry("r1", "run", 9, "c9").version);  // every field back from disk
    CHECK(l.log->get_meta("history.indexed_through").value() == "12");
    // A late record below indexed_through (a quarantined completion committed late) is a
    // version, but not the task's last change.
    added = h.add({entry("r1", "run", 7, "c7")}, 7);
    REQUIRE(added.is_ok());
    CHECK(*added == 1);
    CHECK(h.last_change("r1", "run")->last.seq == 9);
    CHECK(h.last_change("r1", "run")->count == 3);
    CHECK(l.log->get_meta("history.indexed_through").value() == "12");  // never back
}

TEST_CASE("pages are newest first, below `before`, with the next cursor") {
    Log l = open_log();
    HistoryIndex h(*l.log);
    REQUIRE(h.catch_up().is_ok());
    std::vector<HistoryEntry> entries;
    for (std::uint64_t seq = 1; seq <= 25; ++seq) entries.push_back(entry("r1", "run", seq, "c"));
    // Neighbours whose keys sort right before and after r1/run's.
    entries.push_back(entry("r1", "ru", 30, "c"));
    entries.push_back(entry("r1", "runs", 31, "c"));
    entries.push_back(entry("r1\x01", "run", 32, "c"));
    REQUIRE(h.add(entries, 32).is_ok());
    auto p = h.page("r1", "run", UINT64_MAX, 10);
    REQUIRE(p.is_ok());
    REQUIRE(p->versions.size() == 10);
    CHECK(p->versions.front().seq == 25);
    CHECK(p->versions.back().seq == 16);
    CHECK(p->next_before == 16);
    p = h.page("r1", "run", 16, 10);
    REQUIRE(p.is_ok());
    CHECK(p->versions.front().seq == 15);
    CHECK(p->next_before == 6);
    p = h.page("r1", "run", 6, 10);
    REQUIRE(p.is_ok());
    CHECK(p->versions.size() == 5);  // the last page: exactly what is left, no cursor
    CHECK(p->versions.back().seq == 1);
    CHECK_FALSE(p->next_before);
    p = h.page("r1", "run", 11, 5);  // exactly the rest fits: no cursor either
    REQUIRE(p.is_ok());
    CHECK(p->versions.size() == 5);
    CHECK(p->next_before == 6);
    p = h.page("r1", "run", 1, 10);  // nothing below the first
    REQUIRE(p.is_ok());
    CHECK(p->versions.empty());
    CHECK_FALSE(p->next_before);
    p = h.page("r1", "run", 1000, 1);  // a cursor past the newest
    REQUIRE(p.is_ok());
    CHECK(p->versions.at(0).seq == 25);
    p = h.page("r9", "run", UINT64_MAX, 10);
    REQUIRE(p.is_ok());
    CHECK(p->versions.empty());
    CHECK(h.page("r1", "ru", UINT64_MAX, 10)->versions.size() == 1);
    CHECK(h.page("r1", "runs", UINT64_MAX, 10)->versions.size() == 1);
}

namespace {
// A log with `n` completions, the git writer's record for each (a commit for each but every
// fifth), as the writer leaves them.
void write_completions(EventLog& log, std::uint64_t n) {
    std::vector<Event> events;
    for (std::uint64_t i = 0; i < n; ++i)
        events.push_back(ok(fmt::format("r{}", i % 7), i % 2 ? "run" : "ver", unix_time(1000 + i)));
    auto range = log.append(events);
    REQUIRE(range.is_ok());
    std::vector<std::pair<std::string, std::string>> meta;
    for (std::uint64_t seq = range->first; seq <= range->last; ++seq)
        meta.emplace_back(key(seq), id('b', seq) + " " + (seq % 5 ? id('c', seq) : "-") + " p");
    REQUIRE(log.put_meta_batch(meta).is_ok());
}
}  // namespace

TEST_CASE("indexing from scratch in chunks, then a restart resumes at indexed_through") {
    Log l = open_log();
    write_completions(*l.log, 1000);
    {
        HistoryIndex h(*l.log);
        REQUIRE(h.indexing());
        REQUIRE(h.catch_up(64).is_ok());  // 16 chunks
        CHECK_FALSE(h.indexing());
        CHECK(h.versions() == 800);
        CHECK(l.log->get_meta("history.indexed_through").value() == "1000");
        CHECK(h.last_change("r3", "run")->count > 0);
    }
    write_completions(*l.log, 10);  // while "stopped": seqs 1001..1010
    HistoryIndex h(*l.log);
    REQUIRE(h.catch_up(64).is_ok());
    CHECK(h.versions() == 808);
    CHECK(l.log->get_meta("history.indexed_through").value() == "1010");
    // The cache came back from disk: the counts per task add up.
    std::uint64_t sum = 0;
    for (int d = 0; d < 7; ++d)
        for (const auto& [job, t] : h.device_jobs(fmt::format("r{}", d))) sum += t.count;
    CHECK(sum == 808);
    auto all = h.all("r0", "ver");
    REQUIRE(all.is_ok());
    CHECK(all->size() == h.last_change("r0", "ver")->count);
    CHECK(std::is_sorted(all->begin(), all->end(),
                         [](const auto& a, const auto& b) { return a.seq < b.seq; }));
}

TEST_CASE("a batch the observer reports while indexing runs is left to the indexing") {
    Log l = open_log();
    write_completions(*l.log, 100);
    HistoryIndex h(*l.log);
    auto entries =
        resolve_tolerant(*l.log, {GitAppliedRecord{99, id('b', 99), id('c', 99), "p"}}).value();
    REQUIRE(entries.size() == 1);
    h.on_applied(entries, 99);  // dropped: indexing has not finished
    CHECK(h.versions() == 0);
    REQUIRE(h.catch_up(7).is_ok());
    CHECK(h.versions() == 80);
    h.on_applied(entries, 99);  // after: reported twice, counted once
    CHECK(h.versions() == 80);
}

// A batch whose history write fails is not lost when later batches succeed: the observer
// hands everything from then on to the indexing thread, which indexes it from meta.
TEST_CASE("a failed history write is indexed again by the indexing thread, once") {
    MemoryEventLog log;
    write_completions(log, 20);
    HistoryIndex h(log);
    h.start(8);
    auto caught_up = [&] {
        for (int i = 0; i < 200 && h.indexing(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return !h.indexing();
    };
    REQUIRE(caught_up());
    REQUIRE(h.versions() == 16);
    // Two more batches: the first one's history write fails, the second's would succeed.
    write_completions(log, 5);  // seqs 21..25, 4 versions
    auto first = resolve_tolerant(log, {GitAppliedRecord{21, id('b', 21), id('c', 21), "p"},
                                        GitAppliedRecord{22, id('b', 22), id('c', 22), "p"}})
                     .value();
    log.fail_next_write(WriteFault::transient);
    h.on_applied(first, 22);
    CHECK(h.indexing());
    auto second =
        resolve_tolerant(log, {GitAppliedRecord{23, id('b', 23), id('c', 23), "p"}}).value();
    h.on_applied(second, 23);  // left to the indexing thread, which starts at 21
    REQUIRE(caught_up());
    CHECK(h.versions() == 20);
    CHECK(log.get_meta("history.indexed_through").value() == "25");
    auto r1 = h.all("r0", "ver");
    REQUIRE(r1.is_ok());
    CHECK(std::any_of(r1->begin(), r1->end(), [](const auto& v) { return v.seq == 21; }));
}

TEST_CASE("a record that does not resolve is skipped, the rest indexed") {
    Log l = open_log();
    write_completions(*l.log, 10);
    REQUIRE(l.log->append({LeaseGranted{}}).is_ok());  // seq 11
    REQUIRE(l.log->put_meta(key(11), id('b', 11) + " " + id('c', 11) + " p").is_ok());
    write_completions(*l.log, 5);  // 12..16
    HistoryIndex h(*l.log);
    REQUIRE(h.catch_up().is_ok());
    CHECK(h.versions() == 8 + 4);
    CHECK(l.log->get_meta("history.indexed_through").value() == "16");
}

TEST_CASE("a damaged history record is an error, not a crash") {
    Log l = open_log();
    REQUIRE(l.log->put_meta(history_key("r1", "run", 5), "garbage").is_ok());
    HistoryIndex h(*l.log);
    REQUIRE(h.catch_up().is_ok());
    CHECK_FALSE(h.page("r1", "run", UINT64_MAX, 10).is_ok());
    CHECK_FALSE(h.all("r1", "run").is_ok());
    CHECK_FALSE(decode_version(""));
    CHECK_FALSE(decode_version(std::string("1\0x\0c\0b\0w\0p", 11)));
    const FileVersion v{7, -3, "c", "b", "a/b c", ""};
    CHECK(decode_version(encode_version(v)) == v);
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
    std::vector<GitAppliedRecord> records;
    REQUIRE((*log)
                ->scan_meta("gitwriter.applied.",
                            [&](std::string_view k, std::string_view v) {
                                records.push_back(*parse_applied_meta(k, v));
                                return true;
                            })
                .is_ok());
    auto entries = resolve_records(**log, records);
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

// An index built again after retention (its history.* keys removed): the git writer's
// records are all there, the oldest completions only in the archive.
TEST_CASE("a rebuilt index reads the completions retention archived") {
    Log l = open_log();
    write_completions(*l.log, 1000);  // seq s happens at 999 + s
    // The index had caught up (without it, its git writer records bound the cutoff).
    REQUIRE(
        l.log->put_meta_batch({{"gitwriter.cursor", "1000"}, {"history.indexed_through", "1000"}})
            .is_ok());
    RetentionOptions o;
    o.now = 1500 + 3600;
    o.max_age_seconds = 3600;
    o.archive_dir = (l.dir / "archive").string();
    o.newest_snapshot_seq = 1000;
    o.segment_max_events = 64;
    auto retained = apply_retention(*l.log, o);
    REQUIRE_MESSAGE(retained.is_ok(), retained.status().to_string());
    const std::uint64_t first = l.log->first_seq();
    REQUIRE(first > 400);
    REQUIRE(first < 600);
    REQUIRE(l.log->put_meta("history.indexed_through", "0").is_ok());  // built again
    auto with_commit = [](std::uint64_t from) {
        std::uint64_t n = 0;
        for (std::uint64_t seq = from; seq <= 1000; ++seq) n += seq % 5 ? 1 : 0;
        return n;
    };

    SUBCASE("with the archive, every version") {
        HistoryIndex h(*l.log,
                       [&](std::uint64_t from, std::uint64_t to, const EventLog::Visitor& visit) {
                           return scan_with_archive(*l.log, o.archive_dir, from, to, visit);
                       });
        REQUIRE(h.catch_up(64).is_ok());
        CHECK(h.versions() == with_commit(1));
        auto all = h.all("r0", "ver");
        REQUIRE(all.is_ok());
        CHECK(all->front().seq == 1);
        CHECK(all->front().time == 1000);
    }
    SUBCASE("with its segments gone, the rest; the archived ones are skipped at once") {
        std::filesystem::remove_all(o.archive_dir);
        HistoryIndex h(*l.log,
                       [&](std::uint64_t from, std::uint64_t to, const EventLog::Visitor& visit) {
                           return scan_with_archive(*l.log, o.archive_dir, from, to, visit);
                       });
        REQUIRE(h.catch_up(64).is_ok());
        CHECK(h.versions() == with_commit(first));
        CHECK(l.log->get_meta("history.indexed_through").value() == "1000");
    }
    SUBCASE("without one (--archive none), the rest; the deleted ones are skipped") {
        HistoryIndex h(*l.log);
        REQUIRE(h.catch_up(64).is_ok());
        CHECK(h.versions() == with_commit(first));
        CHECK(l.log->get_meta("history.indexed_through").value() == "1000");
    }
}
