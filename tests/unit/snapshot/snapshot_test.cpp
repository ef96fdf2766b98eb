// Projection snapshots: snapshot + tail replay equals full replay on randomized logs built
// with the real decide_* functions (a property test over every event type), and damaged,
// hostile or foreign files are refused, never trusted.
#include <doctest/doctest.h>

#include <zstd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "core/crc32c.hpp"
#include "netkeep/snapshot.hpp"
#include "store/memory_event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr unix_time t0 = 1'700'000'000;

// An inventory of the devices in `present` (of d0..d(n-1)), tags t0/t1 by `tag_bits`,
// and the jobs in `jobs` (bit 0: "all" on every device, bit 1: "tagged" on t1, bit 2: a
// cron job "cron" on d0 and d1 by name when both are present).
InventoryFiles make_inventory(std::uint32_t present, std::uint32_t tag_bits, unsigned jobs) {
    std::string devices;
    for (int i = 0; i < 16; ++i) {
        if (!(present >> i & 1)) continue;
        devices += (devices.empty() ? "" : ",") + std::string(R"({"name": "d)") +
                   std::to_string(i) + R"(", "profile": "p", "tags": ["t)" +
                   std::to_string(tag_bits >> i & 1) + R"("]})";
    }
    std::string list;
    auto add = [&](std::string job) { list += (list.empty() ? "" : ",") + job; };
    if (jobs & 1)
        add(R"({"name": "all", "schedule": {"interval": 600}, "command": {"inline": ["x"]}, "max_attempts": 3, "retry_delay": 30})");
    if (jobs & 2)
        add(R"({"name": "tagged", "schedule": {"interval": 900}, "devices": {"tags": ["t1"]}, "command": {"inline": ["y"]}, "max_attempts": 2})");
    if ((jobs & 4) && (present & 3) == 3)
        add(R"({"name": "cron", "schedule": {"cron": "*/5 * * * *"}, "devices": {"names": ["d0", "d1"]}, "command": {"inline": ["z"]}})");
    if (list.empty())
        add(R"({"name": "all", "schedule": {"interval": 600}, "command": {"inline": ["x"]}})");
    return {
        R"({"credentials": {"c": {"user": "u"}}, "profiles": {"p": {"credentials": "c"}}, "devices": [)" +
            devices + "]}",
        R"({"jobs": [)" + list + "]}"};
}

// Full state, field by field (the byte compare below covers the same, this names the field).
void check_same(const Projection& a, const Projection& b) {
    REQUIRE(a.last_seq() == b.last_seq());
    REQUIRE(a.applied_files() == b.applied_files());
    REQUIRE(a.inventory_generation() == b.inventory_generation());
    REQUIRE(a.task_count() == b.task_count());
    for (task_id id = 0; id < a.task_count(); ++id) {
        const TaskState& x = a.task(id);
        const TaskState& y = b.task(id);
        INFO("task ", id, " ", x.device, "/", x.job);
        CHECK(x.device == y.device);
        CHECK(x.job == y.job);
        CHECK(x.device_index == y.device_index);
        CHECK(x.job_index == y.job_index);
        CHECK(x.timestamp == y.timestamp);
        CHECK(x.due == y.due);
        CHECK(x.failed_attempts == y.failed_attempts);
        CHECK(x.lease == y.lease);
        CHECK(x.leased_once == y.leased_once);
        CHECK(x.newest_holder == y.newest_holder);
        CHECK(x.closed == y.closed);
        CHECK(x.changed_by == y.changed_by);
        CHECK(x.trigger == y.trigger);
        CHECK(x.follow_up == y.follow_up);
        CHECK(x.follow_up_changed_by == y.follow_up_changed_by);
        CHECK(x.follow_up_trigger == y.follow_up_trigger);
        CHECK(x.last_success == y.last_success);
        CHECK(x.last_failure == y.last_failure);
        CHECK(x.last_completion == y.last_completion);
        CHECK(x.last_completion_seq == y.last_completion_seq);
    }
    // The indexes rebuilt after the load answer as the ones kept up event by event.
    const std::array<std::string, 1> t1{"t1"};
    CHECK(a.due({}, std::numeric_limits<unix_time>::max(), 1000) ==
          b.due({}, std::numeric_limits<unix_time>::max(), 1000));
    CHECK(a.due(t1, std::numeric_limits<unix_time>::max(), 1000) ==
          b.due(t1, std::numeric_limits<unix_time>::max(), 1000));
    CHECK(a.expired_leases(std::numeric_limits<unix_time>::max(), 1000) ==
          b.expired_leases(std::numeric_limits<unix_time>::max(), 1000));
    CHECK(a.next_deadline() == b.next_deadline());
    // Re-serialized, byte for byte.
    CHECK(encode_snapshot(a, 0) == encode_snapshot(b, 0));
}

// A randomized log built as the server builds it: decide_* on the live projection, then
// apply what was decided.
class Sim {
public:
    explicit Sim(unsigned seed) : rng_(seed) {}

    void record(std::vector<Event> events) {
        for (Event& e : events) {
            counts_[type_of(e)] += 1;
            EventRecord r{log_.size() + 1, std::move(e)};
            REQUIRE(live_.apply(r).is_ok());
            log_.push_back(std::move(r));
        }
    }

    void reload() {
        const auto files = make_inventory(pick(1, 0xffff), pick(0, 0xffff), unsigned(pick(1, 7)));
        auto parsed = parse_inventory(files, {.resolve_secrets = false, .secrets_dir = {}});
        REQUIRE(parsed.is_ok());
        record(decide_inventory(live_, *parsed, now_));
    }

    void step() {
        now_ += unix_time(pick(0, 400));
        switch (pick(0, 9)) {
            case 0:
                if (pick(0, 3) == 0) reload();
                break;
            case 1:
            case 2:
                for (task_id id : live_.due({}, now_, pick(1, 6)))
                    record({decide_grant(live_, id, now_, "w" + std::to_string(pick(0, 2)),
                                         pick(0, 1) ? "tok" + std::to_string(pick(0, 2)) : "")});
                break;
            case 3:
            case 4:
                complete();
                break;
            case 5:
                for (task_id id : live_.expired_leases(now_, 4))
                    record(decide_expiry(live_, id, now_));
                break;
            default:
                run_request();
                break;
        }
    }

    void complete() {
        std::vector<task_id> leased;
        for (task_id id = 0; id < live_.task_count(); ++id)
            if (live_.task(id).lease) leased.push_back(id);
        if (leased.empty()) return;
        const TaskState& t = live_.task(leased[pick(0, leased.size() - 1)]);
        CompletionRecorded c{now_,
                             std::string(t.device),
                             std::string(t.job),
                             t.timestamp,
                             now_ - 5,
                             now_,
                             pick(0, 3) == 0 ? std::optional<std::string>("timeout") : std::nullopt,
                             std::uint64_t(pick(0, 5000)),
                             std::string(32, char(pick(0, 255))),
                             "spool-" + std::to_string(log_.size()),
                             "w1"};
        auto d = decide_completion(live_, c);
        if (d.kind == CompletionDecision::Kind::accept) record(std::move(d.events));
    }

    void run_request() {
        if (live_.task_count() == 0) return;
        const TaskState& t = live_.task(task_id(pick(0, live_.task_count() - 1)));
        static const char* names[] = {"", "alice", "bob", "carol, dave"};
        const bool triggered = pick(0, 2) != 0;
        auto d = decide_run(live_, t.device, t.job, now_, "10.0.0.1",
                            triggered ? names[pick(0, 3)] : "", triggered ? "syslog" : "");
        if (d.kind == RunDecision::Kind::accept) record({std::move(d.event)});
    }

    std::size_t pick(std::size_t lo, std::size_t hi) {
        return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
    }

    Projection& live() { return live_; }
    const std::vector<EventRecord>& log() const { return log_; }
    std::map<EventType, int>& counts() { return counts_; }
    unix_time now() const { return now_; }

private:
    std::mt19937 rng_;
    Projection live_;
    std::vector<EventRecord> log_;
    unix_time now_ = t0;
    std::map<EventType, int> counts_;
};

bool any_follow_up(const Projection& p) {
    for (task_id id = 0; id < p.task_count(); ++id)
        if (p.task(id).follow_up) return true;
    return false;
}

void write_bytes(const fs::path& path, std::string_view bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void put_le(std::string& s, std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s[at + i] = char((v >> (8 * i)) & 0xff);
}
void reseal_header(std::string& s) { put_le(s, 76, crc32c(std::string_view(s).substr(0, 76)), 4); }

// A file whose checksums are right but whose body is `raw` (hostile content).
std::string with_body(std::string file, std::string_view raw, std::uint64_t tasks) {
    std::string stored(ZSTD_compressBound(raw.size()), '\0');
    stored.resize(ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), 1));
    file.resize(80);
    file += stored;
    put_le(file, 32, tasks, 8);
    put_le(file, 56, raw.size(), 8);
    put_le(file, 64, stored.size(), 8);
    put_le(file, 72, crc32c(stored), 4);
    reseal_header(file);
    return file;
}

// A small projection with one lease, one completion and one follow-up.
Sim small_sim() {
    Sim sim(7);
    sim.reload();
    for (int i = 0; i < 60; ++i) sim.step();
    return sim;
}

}  // namespace

TEST_CASE("property: snapshot at random points + tail replay equals full replay") {
    std::map<EventType, int> all_counts;
    int follow_ups_snapshotted = 0, snapshots = 0;
    for (unsigned seed = 1; seed <= 12; ++seed) {
        INFO("seed ", seed);
        Sim sim(seed);
        std::vector<std::pair<std::uint64_t, std::string>> taken;
        // Before any event too: the empty projection is a valid snapshot.
        taken.emplace_back(0, encode_snapshot(sim.live(), 0));
        sim.reload();
        for (int i = 0; i < 1500; ++i) {
            sim.step();
            if (sim.pick(0, 60) == 0) {
                taken.emplace_back(sim.live().last_seq(), encode_snapshot(sim.live(), sim.now()));
                follow_ups_snapshotted += any_follow_up(sim.live());
            }
        }
        for (auto& [type, n] : sim.counts()) all_counts[type] += n;
        for (const auto& [seq, bytes] : taken) {
            INFO("snapshot at seq ", seq);
            SnapshotHeader header;
            auto loaded = decode_snapshot(bytes, &header);
            REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().to_string());
            CHECK(header.seq == seq);
            Projection p = std::move(*loaded);
            CHECK(p.last_seq() == seq);
            p.defer_indexing();
            for (std::uint64_t s = seq + 1; s <= sim.log().size(); ++s)
                REQUIRE(p.apply(sim.log()[s - 1]).is_ok());
            p.resume_indexing();
            check_same(p, sim.live());
            ++snapshots;
        }
    }
    // Every event type and every close reason went through snapshots.
    for (EventType type :
         {EventType::inventory_applied, EventType::lease_granted, EventType::lease_expired,
          EventType::completion_recorded, EventType::occurrence_closed, EventType::run_requested}) {
        INFO(event_type_name(type));
        CHECK(all_counts[type] > 10);
    }
    CHECK(follow_ups_snapshotted > 0);
    CHECK(snapshots > 100);
}

TEST_CASE("property: a snapshot taken right after each event type round-trips") {
    Sim sim(99);
    sim.reload();
    std::map<EventType, int> seen;
    for (int i = 0; i < 3000 && seen.size() < 6; ++i) {
        const std::size_t before = sim.log().size();
        sim.step();
        if (sim.log().size() == before) continue;
        const EventType type = type_of(sim.log().back().event);
        if (seen[type]++ > 0) continue;
        INFO("after ", event_type_name(type));
        auto p = decode_snapshot(encode_snapshot(sim.live(), sim.now()));
        REQUIRE(p.is_ok());
        check_same(*p, sim.live());
    }
    CHECK(seen.size() == 6);
}

TEST_CASE("damaged snapshots are refused, never trusted") {
    Sim sim = small_sim();
    const std::string good = encode_snapshot(sim.live(), sim.now(), 1234);
    REQUIRE(decode_snapshot(good).is_ok());

    SUBCASE("empty and truncated") {
        CHECK(!decode_snapshot("").is_ok());
        for (std::size_t n = 0; n < good.size(); n += 1 + n / 7)
            CHECK(!decode_snapshot(std::string_view(good).substr(0, n)).is_ok());
        CHECK(!decode_snapshot(good + "x").is_ok());
    }
    SUBCASE("every flipped byte is detected") {
        for (std::size_t i = 0; i < good.size(); ++i) {
            std::string bad = good;
            bad[i] = char(bad[i] ^ 0x40);
            INFO("byte ", i);
            CHECK(!decode_snapshot(bad).is_ok());
        }
    }
    SUBCASE("another version") {
        std::string bad = good;
        put_le(bad, 8, 2, 4);
        reseal_header(bad);
        auto p = decode_snapshot(bad);
        REQUIRE(!p.is_ok());
        CHECK(p.status().code() == Status::Code::not_supported);
    }
    SUBCASE("huge length fields allocate nothing") {
        for (std::uint64_t raw : {~std::uint64_t(0), k_snapshot_max_body + 1, k_snapshot_max_body,
                                  std::uint64_t(1) << 33}) {
            std::string bad = good;
            put_le(bad, 56, raw, 8);
            reseal_header(bad);
            CHECK(!decode_snapshot(bad).is_ok());
        }
        std::string bad = good;
        put_le(bad, 64, ~std::uint64_t(0), 8);
        reseal_header(bad);
        CHECK(!decode_snapshot(bad).is_ok());
        bad = good;
        put_le(bad, 32, ~std::uint64_t(0), 8);  // tasks
        reseal_header(bad);
        CHECK(!decode_snapshot(bad).is_ok());
    }
    SUBCASE("hostile bodies with valid checksums") {
        CHECK(!decode_snapshot(with_body(good, "", 0)).is_ok());
        // A string length of 2^62 and a task count of 2^60.
        CHECK(!decode_snapshot(with_body(good, "\xff\xff\xff\xff\xff\xff\xff\xff\x3f", 0)).is_ok());
        const std::string raw = std::string("\0\0", 2) + "\x80\x80\x80\x80\x80\x80\x80\x80\x10";
        CHECK(!decode_snapshot(with_body(good, raw, std::uint64_t(1) << 60)).is_ok());
        // Inventory files that are not JSON, with an inventory generation.
        CHECK(!decode_snapshot(with_body(good, std::string("\x01{\x01[\x00", 5), 0)).is_ok());
        // An overlong varint.
        CHECK(!decode_snapshot(with_body(good, std::string(20, '\x80'), 0)).is_ok());
        // A valid body but one task short (the header's count and the inventory disagree).
        const std::string valid_raw = [&] {
            std::string file = good;
            std::string raw_out(std::size_t(1) << 20, '\0');
            raw_out.resize(ZSTD_decompress(raw_out.data(), raw_out.size(), file.data() + 80,
                                           file.size() - 80));
            return raw_out;
        }();
        REQUIRE(decode_snapshot(with_body(good, valid_raw, sim.live().task_count())).is_ok());
        CHECK(!decode_snapshot(with_body(good, valid_raw, sim.live().task_count() + 1)).is_ok());
        CHECK(!decode_snapshot(with_body(good, valid_raw.substr(0, valid_raw.size() - 1),
                                         sim.live().task_count()))
                   .is_ok());
        CHECK(!decode_snapshot(
                   with_body(good, valid_raw + std::string(1, '\0'), sim.live().task_count()))
                   .is_ok());
    }
}

TEST_CASE("files: atomic write, list newest first, load, fallback to an older one") {
    TempDir dir = TempDir::create("netkeep-snapshot-test").value();
    const std::string snaps = (dir.path() / "snapshots").string();
    CHECK(list_snapshots(snaps).empty());
    CHECK(!load_newest_snapshot(snaps));

    Sim sim(3);
    sim.reload();
    MemoryEventLog log;
    auto append_all = [&](std::uint64_t from) {
        for (std::uint64_t s = from; s <= sim.log().size(); ++s)
            REQUIRE(log.append({sim.log()[s - 1].event}).is_ok());
    };
    for (int i = 0; i < 100; ++i) sim.step();
    const std::uint64_t first = sim.live().last_seq();
    auto check_of = [&](std::uint64_t seq) {
        return snapshot_event_check(sim.log()[seq - 1].event);
    };
    REQUIRE(write_snapshot(snaps, sim.live(), sim.now(), check_of(first)).is_ok());
    for (int i = 0; i < 100; ++i) sim.step();
    const std::uint64_t second = sim.live().last_seq();
    REQUIRE(second > first);
    auto written = write_snapshot(snaps, sim.live(), sim.now(), check_of(second));
    REQUIRE(written.is_ok());
    CHECK(fs::path(written->path).filename() == snapshot_file_name(second));
    append_all(1);

    auto listed = list_snapshots(snaps);
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].seq == second);
    CHECK(listed[1].seq == first);
    CHECK(listed[0].bytes == fs::file_size(listed[0].path));

    auto newest = load_newest_snapshot(snaps, UINT64_MAX, INT64_MAX, snapshot_matches_log(log));
    REQUIRE(newest);
    CHECK(newest->info.seq == second);
    check_same(newest->projection, sim.live());

    SUBCASE("max_seq and max_at select an older one") {
        auto older = load_newest_snapshot(snaps, second - 1);
        REQUIRE(older);
        CHECK(older->info.seq == first);
        older = load_newest_snapshot(snaps, UINT64_MAX, newest->header.at - 1);
        REQUIRE(older);
        CHECK(older->info.seq == first);
        CHECK(!load_newest_snapshot(snaps, first - 1));
    }
    SUBCASE("a damaged newest one falls back to the older one") {
        std::string bytes = read_bytes(listed[0].path);
        bytes[bytes.size() / 2] ^= 1;
        write_bytes(listed[0].path, bytes);
        auto loaded = load_newest_snapshot(snaps, UINT64_MAX, INT64_MAX, snapshot_matches_log(log));
        REQUIRE(loaded);
        CHECK(loaded->info.seq == first);
        write_bytes(listed[1].path, "");  // empty: no snapshot at all
        CHECK(!load_newest_snapshot(snaps));
    }
    SUBCASE("a snapshot ahead of the log is skipped") {
        MemoryEventLog shorter;
        for (std::uint64_t s = 1; s <= first + 1; ++s)
            REQUIRE(shorter.append({sim.log()[s - 1].event}).is_ok());
        auto loaded =
            load_newest_snapshot(snaps, UINT64_MAX, INT64_MAX, snapshot_matches_log(shorter));
        REQUIRE(loaded);
        CHECK(loaded->info.seq == first);
    }
    SUBCASE("a snapshot of another log is skipped") {
        MemoryEventLog other;
        for (std::uint64_t s = 1; s <= second; ++s) {
            Event e = sim.log()[s - 1].event;
            if (s == second) std::visit([](auto& x) { x.at += 1; }, e);
            REQUIRE(other.append({e}).is_ok());
        }
        auto loaded =
            load_newest_snapshot(snaps, UINT64_MAX, INT64_MAX, snapshot_matches_log(other));
        REQUIRE(loaded);
        CHECK(loaded->info.seq == first);
    }
    SUBCASE("a file renamed to another seq is skipped") {
        fs::rename(listed[1].path, fs::path(snaps) / snapshot_file_name(second + 5));
        auto loaded = load_newest_snapshot(snaps);
        REQUIRE(loaded);
        CHECK(loaded->info.seq == second);
    }
}

TEST_CASE("thinning keeps the newest 3 and the first of each UTC day within keep_days") {
    TempDir dir = TempDir::create("netkeep-snapshot-thin").value();
    const std::string snaps = dir.path().string();
    Sim sim(5);
    sim.reload();
    const unix_time day = 86400;
    const unix_time base = (t0 / day) * day;
    // Day 0: seqs 1..3, day 1: 4..5, day 2: 6, day 10: 7..9 (the newest three).
    const std::vector<std::pair<std::uint64_t, unix_time>> plan = {
        {1, base + 10},       {2, base + 20},           {3, base + 30},
        {4, base + day + 5},  {5, base + day + 50},     {6, base + 2 * day},
        {7, base + 10 * day}, {8, base + 10 * day + 1}, {9, base + 10 * day + 2}};
    for (auto [seq, at] : plan) {
        while (sim.live().last_seq() < seq) sim.step();
        // Written under the planned seq's name: the content's seq may be later, which only
        // thinning's names and headers see.
        std::string bytes = encode_snapshot(sim.live(), at);
        write_bytes(dir.path() / snapshot_file_name(seq), bytes);
    }
    REQUIRE(thin_snapshots(snaps, 400, base + 10 * day).is_ok());
    std::vector<std::uint64_t> kept;
    for (const auto& info : list_snapshots(snaps)) kept.push_back(info.seq);
    CHECK(kept == std::vector<std::uint64_t>{9, 8, 7, 6, 4, 1});
    // Older than keep_days: only the newest three stay.
    REQUIRE(thin_snapshots(snaps, 5, base + 10 * day).is_ok());
    kept.clear();
    for (const auto& info : list_snapshots(snaps)) kept.push_back(info.seq);
    CHECK(kept == std::vector<std::uint64_t>{9, 8, 7});
}

TEST_CASE("the writer thread follows the log and writes every N events") {
    TempDir dir = TempDir::create("netkeep-snapshot-writer").value();
    const std::string snaps = (dir.path() / "snapshots").string();
    Sim sim(11);
    sim.reload();
    while (sim.log().size() < 1200) sim.step();
    MemoryEventLog log;
    for (const auto& r : sim.log()) REQUIRE(log.append({r.event}).is_ok());
    {
        SnapshotWriter writer(log, {.dir = snaps,
                                    .every = 500,
                                    .interval = std::chrono::seconds(0),
                                    .keep_days = 400,
                                    .now = {},
                                    .write_at_stop = true});
        writer.start();
        for (int i = 0; i < 200 && writer.stats().written < 2; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(writer.stats().written >= 2);
        writer.stop();  // a last one at the log's end
        CHECK(writer.stats().last_seq == log.last_seq());
    }
    auto listed = list_snapshots(snaps);
    REQUIRE(listed.size() >= 3);
    CHECK(listed[0].seq == log.last_seq());
    CHECK(listed[1].seq == 1000);
    CHECK(listed[2].seq == 500);
    auto loaded = load_newest_snapshot(snaps, UINT64_MAX, INT64_MAX, snapshot_matches_log(log));
    REQUIRE(loaded);
    check_same(loaded->projection, sim.live());
    CHECK(loaded->header.event_check == snapshot_event_check(sim.log().back().event));
}
