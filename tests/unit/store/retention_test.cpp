// Retention (docs/retention.md) against both event logs: the cutoff rules one by one,
// pinning, scans across first_seq, scan_with_archive, damaged segments, the crash points
// of a pass, and (RocksDB) the space a pass reclaims.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/crc32c.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/retention.hpp"
#include "store/memory_event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr unix_time k_t0 = 1'700'000'000;

struct RocksLog {
    TempDir dir = TempDir::create("netkeep-retention").value();
    std::unique_ptr<EventLog> log;
    RocksLog() { log = open_event_log((dir / "log").string()).value(); }
    void reopen() {
        log->close();
        log.reset();
        log = open_event_log((dir / "log").string()).value();
    }
};

struct MemoryLog {
    TempDir dir = TempDir::create("netkeep-retention").value();
    std::shared_ptr<MemoryEventStore> store;
    std::unique_ptr<EventLog> log;
    MemoryLog() {
        auto memory = std::make_unique<MemoryEventLog>();
        store = memory->store();
        log = std::move(memory);
    }
    void reopen() {
        log->close();
        log.reset();
        log = MemoryEventLog::open(store).value();
    }
};

// seq i (1-based) happens at k_t0 + i; InventoryApplied at the seqs in `inventories`.
void fill(EventLog& log, std::uint64_t n, const std::vector<std::uint64_t>& inventories = {1}) {
    std::vector<Event> batch;
    for (std::uint64_t seq = log.last_seq() + 1; seq <= n; ++seq) {
        const unix_time at = k_t0 + static_cast<unix_time>(seq);
        if (std::find(inventories.begin(), inventories.end(), seq) != inventories.end())
            batch.push_back(InventoryApplied{at, "{\"inv\":" + std::to_string(seq) + "}", "{}"});
        else
            batch.push_back(LeaseExpired{at, "dev-" + std::to_string(seq % 97), "job", at});
        if (batch.size() == 1000) {
            REQUIRE(log.append(batch).is_ok());
            batch.clear();
        }
    }
    if (!batch.empty()) REQUIRE(log.append(batch).is_ok());
    // Everything consumed: only the rule under test holds the cutoff back.
    REQUIRE(log.put_meta("gitwriter.cursor", std::to_string(n)).is_ok());
}

// Keeps records with at >= k_t0 + keep_from.
RetentionOptions options(const TempDir& dir, std::uint64_t keep_from,
                         std::optional<std::uint64_t> snapshot = UINT64_MAX - 1) {
    RetentionOptions o;
    o.now = k_t0 + 1'000'000;
    o.max_age_seconds = o.now - (k_t0 + static_cast<unix_time>(keep_from));
    o.archive_dir = (dir / "archive").string();
    o.newest_snapshot_seq = snapshot;
    o.segment_max_events = 64;
    return o;
}

std::vector<std::uint64_t> seqs(const EventLog& log, std::uint64_t from = 1,
                                std::uint64_t to = UINT64_MAX) {
    std::vector<std::uint64_t> out;
    Status s = log.scan(from, to, [&](EventRecord&& r) {
        out.push_back(r.seq);
        return true;
    });
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return out;
}

std::vector<EventRecord> all_with_archive(const EventLog& log, const std::string& dir,
                                          Status* status = nullptr) {
    std::vector<EventRecord> out;
    Status s = scan_with_archive(log, dir, 1, UINT64_MAX, [&](EventRecord&& r) {
        out.push_back(std::move(r));
        return true;
    });
    if (status)
        *status = s;
    else
        REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    return out;
}

std::vector<EventRecord> everything(const EventLog& log) {
    std::vector<EventRecord> out;
    REQUIRE(log.scan(1, UINT64_MAX,
                     [&](EventRecord&& r) {
                         out.push_back(std::move(r));
                         return true;
                     })
                .is_ok());
    return out;
}

std::uint64_t pass(EventLog& log, const RetentionOptions& o) {
    auto r = apply_retention(log, o);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return r->first_seq_after;
}

}  // namespace

TEST_CASE_TEMPLATE("retention removes old records up to every cutoff rule", L, RocksLog,
                   MemoryLog) {
    L l;
    fill(*l.log, 1000);
    auto o = options(l.dir, 600);

    SUBCASE("no snapshot: nothing") {
        o.newest_snapshot_seq = 0;
        auto r = apply_retention(*l.log, o);
        REQUIRE(r.is_ok());
        CHECK(r->first_seq_after == 1);
        CHECK(r->limited_by == "no snapshot");
    }
    SUBCASE("snapshots by file name") {
        o.newest_snapshot_seq.reset();
        o.snapshots_dir = (l.dir / "snapshots").string();
        fs::create_directories(o.snapshots_dir);
        std::ofstream(fs::path(o.snapshots_dir) / "snap-00000000000000000300.nks") << "x";
        std::ofstream(fs::path(o.snapshots_dir) / "snap-00000000000000000200.nks") << "x";
        std::ofstream(fs::path(o.snapshots_dir) / "snap-junk.nks") << "x";
        // Ahead of the log (which ends at 1000): stale, not a bound.
        std::ofstream(fs::path(o.snapshots_dir) / "snap-00000000000000005000.nks") << "x";
        CHECK(pass(*l.log, o) == 301);
    }
    SUBCASE("time") { CHECK(pass(*l.log, o) == 600); }
    SUBCASE("snapshot") {
        o.newest_snapshot_seq = 250;
        CHECK(pass(*l.log, o) == 251);
    }
    SUBCASE("git writer cursor") {
        REQUIRE(l.log->put_meta("gitwriter.cursor", "120").is_ok());
        CHECK(pass(*l.log, o) == 121);
    }
    SUBCASE("no git writer cursor: nothing") {
        REQUIRE(l.log->put_meta("gitwriter.cursor", "0").is_ok());
        CHECK(pass(*l.log, o) == 1);
    }
    SUBCASE("consumer cursors") {
        REQUIRE(l.log->put_meta("consumer.mirror-a.cursor", "400").is_ok());
        REQUIRE(l.log->put_meta("consumer.notify.cursor", "333").is_ok());
        CHECK(pass(*l.log, o) == 334);
    }
    SUBCASE("history index, else the applied records") {
        REQUIRE(l.log->put_meta("gitwriter.applied.00000000000000000150", "x").is_ok());
        REQUIRE(l.log->put_meta("gitwriter.applied.00000000000000000170", "x").is_ok());
        CHECK(pass(*l.log, o) == 150);
        REQUIRE(l.log->put_meta("history.indexed_through", "450").is_ok());
        CHECK(pass(*l.log, o) == 451);
    }
    SUBCASE("open quarantine records, not resolved ones") {
        REQUIRE(l.log->put_meta("gitwriter.quarantine.00000000000000000090", "applied 3 0 0 0 abc")
                    .is_ok());
        REQUIRE(
            l.log->put_meta("gitwriter.quarantine.00000000000000000210", "quarantined 3 0 0 0 why")
                .is_ok());
        CHECK(pass(*l.log, o) == 210);
    }
    // Whatever the rule, nothing is lost: the archive and the log hold it all, in order.
    const auto whole = all_with_archive(*l.log, o.archive_dir);
    REQUIRE(whole.size() == 1000);
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(whole[i].seq == i + 1);
}

// Without an archive nothing could fill the gap below a damaged newest snapshot: the
// cutoff keeps the second newest one's events.
TEST_CASE_TEMPLATE("without an archive, the second newest snapshot by file name bounds it", L,
                   RocksLog, MemoryLog) {
    L l;
    fill(*l.log, 1000);
    auto o = options(l.dir, 600);
    o.archive_dir.clear();
    o.newest_snapshot_seq.reset();
    o.snapshots_dir = (l.dir / "snapshots").string();
    fs::create_directories(o.snapshots_dir);
    std::ofstream(fs::path(o.snapshots_dir) / "snap-00000000000000000300.nks") << "x";
    std::ofstream(fs::path(o.snapshots_dir) / "snap-00000000000000000200.nks") << "x";
    CHECK(pass(*l.log, o) == 201);
}

// netkeepd stopping during a long first pass: the pass ends at the next 4,096-record mark,
// retires what it archived, leaves the space to the next pass, and loses nothing.
TEST_CASE_TEMPLATE("a stop ends a pass early; the next pass finishes it", L, RocksLog, MemoryLog) {
    L l;
    fill(*l.log, 10'000);
    auto o = options(l.dir, 9'000);
    o.segment_max_events = 1'000'000;
    o.stop = [] { return true; };
    CHECK(pass(*l.log, o) == 4096);
    o.stop = {};
    CHECK(pass(*l.log, o) == 9000);
    const auto whole = all_with_archive(*l.log, o.archive_dir);
    REQUIRE(whole.size() == 10'000);
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(whole[i].seq == i + 1);
}

TEST_CASE_TEMPLATE("the last inventory below the cutoff stays pinned; scans skip to first_seq", L,
                   RocksLog, MemoryLog) {
    L l;
    fill(*l.log, 500, {1, 40, 130});
    auto o = options(l.dir, 200);
    REQUIRE(pass(*l.log, o) == 200);
    CHECK(l.log->first_seq() == 200);
    CHECK(l.log->pinned_seqs() == std::vector<std::uint64_t>{130});
    auto from_1 = seqs(*l.log);
    REQUIRE(from_1.size() == 302);
    CHECK(from_1[0] == 130);
    CHECK(from_1[1] == 200);
    CHECK(from_1.back() == 500);
    CHECK(seqs(*l.log, 130, 130) == std::vector<std::uint64_t>{130});
    CHECK(seqs(*l.log, 131, 199).empty());
    CHECK(seqs(*l.log, 150, 202) == std::vector<std::uint64_t>{200, 201, 202});

    // Survives a restart (meta), and the next pass moves the pin only with a newer inventory.
    l.reopen();
    CHECK(l.log->first_seq() == 200);
    CHECK(l.log->pinned_seqs() == std::vector<std::uint64_t>{130});
    REQUIRE(pass(*l.log, options(l.dir, 300)) == 300);
    CHECK(l.log->pinned_seqs() == std::vector<std::uint64_t>{130});
    CHECK(seqs(*l.log, 1, 300) == std::vector<std::uint64_t>{130, 300});
    // Old pins are reclaimed once a newer inventory replaces them.
    fill(*l.log, 600, {550});
    REQUIRE(pass(*l.log, options(l.dir, 580)) == 580);
    CHECK(l.log->pinned_seqs() == std::vector<std::uint64_t>{550});
    CHECK(seqs(*l.log, 1, 580) == std::vector<std::uint64_t>{550, 580});

    const auto whole = all_with_archive(*l.log, o.archive_dir);
    REQUIRE(whole.size() == 600);
    CHECK(std::holds_alternative<InventoryApplied>(whole[129].event));
    for (std::size_t i = 0; i < whole.size(); ++i) REQUIRE(whole[i].seq == i + 1);
}

TEST_CASE_TEMPLATE("scan_with_archive equals the log before retention, from anywhere", L, RocksLog,
                   MemoryLog) {
    L l;
    fill(*l.log, 700, {1, 333});
    const auto before = everything(*l.log);
    auto o = options(l.dir, 450);
    REQUIRE(pass(*l.log, o) == 450);
    CHECK(all_with_archive(*l.log, o.archive_dir) == before);
    for (std::uint64_t from : {1, 63, 64, 65, 449, 450, 451, 700}) {
        std::vector<EventRecord> part;
        REQUIRE(scan_with_archive(*l.log, o.archive_dir, from, from + 80, [&](EventRecord&& r) {
                    part.push_back(std::move(r));
                    return true;
                }).is_ok());
        const std::uint64_t end = std::min<std::uint64_t>(from + 80, 700);
        REQUIRE(part.size() == end - from + 1);
        CHECK(part.front() == before[from - 1]);
        CHECK(part.back() == before[end - 1]);
    }
    // Stops early when asked, in the archive and in the log.
    int n = 0;
    REQUIRE(scan_with_archive(*l.log, o.archive_dir, 1, 700, [&](EventRecord&&) {
                return ++n < 10;
            }).is_ok());
    CHECK(n == 10);
}

TEST_CASE_TEMPLATE("a damaged, missing or unknown segment is a corruption naming the file", L,
                   RocksLog, MemoryLog) {
    L l;
    fill(*l.log, 300);
    auto o = options(l.dir, 200);
    REQUIRE(pass(*l.log, o) == 200);
    auto segments = list_archive_segments(o.archive_dir);
    REQUIRE(segments.size() == 4);  // 64 records each, then the rest
    const ArchiveSegment victim = segments[1];
    std::string bytes;
    {
        std::ifstream in(victim.path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto write = [&](const std::string& content) {
        std::ofstream(victim.path, std::ios::binary | std::ios::trunc) << content;
    };
    auto expect_named = [&](std::string_view what) {
        Status s;
        (void)all_with_archive(*l.log, o.archive_dir, &s);
        CHECK_MESSAGE(s.code() == Status::Code::corruption, what);
        CHECK_MESSAGE(
            s.message().find(victim.path.substr(victim.path.rfind('/') + 1)) != std::string::npos,
            s.to_string());
        CHECK(!read_archive_segment(victim, [](EventRecord&&) { return true; }));
    };
    SUBCASE("a flipped byte in the payload") {
        std::string bad = bytes;
        bad[bad.size() / 2] ^= 0x20;
        write(bad);
        expect_named("payload");
    }
    SUBCASE("a flipped byte in the header") {
        std::string bad = bytes;
        bad[20] ^= 0x01;
        write(bad);
        expect_named("header");
    }
    SUBCASE("truncated") {
        write(bytes.substr(0, bytes.size() - 7));
        expect_named("truncated");
    }
    SUBCASE("only a header") {
        write(bytes.substr(0, 64));
        expect_named("header only");
    }
    SUBCASE("empty") {
        write("");
        expect_named("empty");
    }
    SUBCASE("a newer version, with a valid header checksum") {
        std::string bad = bytes;
        bad[8] = 2;
        // The header CRC recomputed, so that only the version is wrong.
        const std::uint32_t crc = crc32c(std::string_view(bad).substr(0, 60));
        for (int i = 0; i < 4; ++i) bad[60 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
        write(bad);
        Status s = read_archive_segment(victim, [](EventRecord&&) { return true; });
        CHECK(s.code() == Status::Code::corruption);
        CHECK_MESSAGE(s.message().find("version 2") != std::string::npos, s.to_string());
    }
    SUBCASE("huge sizes in the header") {
        std::string bad = bytes;
        for (int i = 32; i < 48; ++i) bad[i] = '\xff';
        write(bad);
        expect_named("sizes");
    }
    SUBCASE("missing") {
        fs::remove(victim.path);
        Status s;
        (void)all_with_archive(*l.log, o.archive_dir, &s);
        CHECK(s.code() == Status::Code::corruption);
        CHECK_MESSAGE(s.message().find("seq 65") != std::string::npos, s.to_string());
    }
    // The log's own records still read.
    CHECK(seqs(*l.log, 200).size() == 101);
}

TEST_CASE_TEMPLATE("a pass interrupted at any step is finished by the next, nothing lost", L,
                   RocksLog, MemoryLog) {
    for (std::string_view stop : {"archived", "retired", "reclaimed"}) {
        CAPTURE(stop);
        L l;
        fill(*l.log, 400, {1, 100});
        const auto before = everything(*l.log);
        auto o = options(l.dir, 250);
        o.test_after_step = [&](std::string_view step) { return step != stop; };
        REQUIRE(apply_retention(*l.log, o).is_ok());
        l.reopen();  // the crash
        CHECK(all_with_archive(*l.log, o.archive_dir) == before);
        o.test_after_step = {};
        REQUIRE(pass(*l.log, o) == 250);
        CHECK(all_with_archive(*l.log, o.archive_dir) == before);
        CHECK(seqs(*l.log, 1, 250) == std::vector<std::uint64_t>{100, 250});
        CHECK(list_archive_segments(o.archive_dir).size() == 4);
        // Again: nothing to do, nothing changes.
        auto again = apply_retention(*l.log, o);
        REQUIRE(again.is_ok());
        CHECK(again->archived == 0);
        CHECK(again->first_seq_after == 250);
        CHECK(all_with_archive(*l.log, o.archive_dir) == before);
    }
}

TEST_CASE_TEMPLATE("--archive none deletes; the archive scan then names the hole", L, RocksLog,
                   MemoryLog) {
    L l;
    fill(*l.log, 300);
    auto o = options(l.dir, 200);
    o.archive_dir.clear();
    REQUIRE(pass(*l.log, o) == 200);
    CHECK(seqs(*l.log, 200).size() == 101);
    Status s;
    (void)all_with_archive(*l.log, (l.dir / "archive").string(), &s);
    CHECK(s.code() == Status::Code::corruption);
    CHECK_MESSAGE(s.message().find("seq 1:") != std::string::npos, s.to_string());
}

namespace {

std::uint64_t dir_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) total += e.file_size();
    return total;
}

// A run as netkeepd logs it: lease, completion, close (hourly, per task).
void fill_runs(EventLog& log, std::uint64_t n) {
    std::vector<Event> batch;
    REQUIRE(log.append({InventoryApplied{k_t0, "{\"devices\":[]}", "{\"jobs\":[]}"}}).is_ok());
    for (std::uint64_t i = 1; log.last_seq() + batch.size() < n; ++i) {
        const unix_time at = k_t0 + static_cast<unix_time>(i);
        const std::string device = "device-" + std::to_string(i % 10000);
        batch.push_back(
            LeaseGranted{at, device, "running-config", at, at + 300, 1, "worker-1", "worker-1"});
        batch.push_back(CompletionRecorded{at, device, "running-config", at, at, at + 2,
                                           std::nullopt, 51200, std::string(32, char(i & 0xff)),
                                           "spool-" + std::to_string(i), "worker-1"});
        batch.push_back(OccurrenceClosed{at, device, "running-config", at, CloseReason::succeeded});
        if (batch.size() >= 3000) {
            REQUIRE(log.append(batch).is_ok());
            batch.clear();
        }
    }
    if (!batch.empty()) REQUIRE(log.append(batch).is_ok());
    REQUIRE(log.put_meta("gitwriter.cursor", std::to_string(log.last_seq())).is_ok());
}

}  // namespace

// The figures in docs/retention.md: NETKEEP_RETENTION_BENCH=<events> runs it.
TEST_CASE("space reclaimed by a pass (RocksDB; NETKEEP_RETENTION_BENCH=events)") {
    const char* env = std::getenv("NETKEEP_RETENTION_BENCH");
    const std::uint64_t n = env ? std::strtoull(env, nullptr, 10) : 30000;
    RocksLog l;
    fill_runs(*l.log, n);
    l.reopen();  // flushed to SST files, as a long-running log is
    const auto log_dir = l.dir / "log";
    const std::uint64_t before = dir_bytes(log_dir);
    auto o = options(l.dir, n * 9 / 10 / 3);  // about 90% of the log is old enough
    o.segment_max_events = RetentionOptions{}.segment_max_events;
    const auto started = std::chrono::steady_clock::now();
    auto r = apply_retention(*l.log, o);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    l.reopen();
    const std::uint64_t after = dir_bytes(log_dir);
    MESSAGE(fmt::format(
        "{} events: archived {} in {} segments, {:.0f} events/s (whole pass {:.2f} s); raw {} B, "
        "stored {} B, ratio {:.2f}; log dir {} B before, {} B after",
        n, r->archived, r->segments, r->archived / seconds, seconds, r->raw_bytes, r->stored_bytes,
        double(r->raw_bytes) / double(std::max<std::uint64_t>(1, r->stored_bytes)), before, after));
    CHECK(r->archived > n * 8 / 10);
    CHECK(after < before);
    CHECK(all_with_archive(*l.log, o.archive_dir).size() == l.log->last_seq());
}
