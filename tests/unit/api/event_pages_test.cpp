// Pages of GET /api/v1/events read from an in-memory log: forward and tail, with the
// type and device filters, bounded scans, and walks that visit each event once.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/event_pages.hpp"
#include "netkeep/git_records.hpp"
#include "store/memory_event_log.hpp"

using namespace netkeep;
using namespace netkeep::api;

namespace {

// 1 InventoryApplied, then for i = 0..: LeaseGranted and CompletionRecorded on device
// d<i % 5>, and a RunRequested every 10th: `n` events.
std::unique_ptr<MemoryEventLog> filled_log(std::uint64_t n) {
    auto log = std::make_unique<MemoryEventLog>();
    std::vector<Event> events;
    events.emplace_back(InventoryApplied{1, "{}", "{}"});
    for (std::uint64_t i = 0; events.size() < n; ++i) {
        std::string device = fmt::format("d{}", i % 5);
        if (i % 10 == 9) {
            events.emplace_back(RunRequested{unix_time(i), device, "run", 0, "127.0.0.1"});
        } else if (i % 2 == 0) {
            events.emplace_back(
                LeaseGranted{unix_time(i), device, "run", 0, unix_time(i + 100), 1, "w", {}});
        } else {
            events.emplace_back(CompletionRecorded{unix_time(i), device, "run", 0, 0, 0,
                                                   std::nullopt, 1, std::string(32, '\0'), "s",
                                                   "w"});
        }
    }
    REQUIRE(log->append(events).is_ok());
    return log;
}

// The seqs of a page, in answer order (each event's JSON begins {"seq":N,).
std::vector<std::uint64_t> seqs(const EventsPage& page) {
    std::vector<std::uint64_t> out;
    const std::string marker = R"({"seq":)";
    for (std::size_t at = page.events.find(marker); at != std::string::npos;
         at = page.events.find(marker, at + 1))
        out.push_back(std::stoull(page.events.substr(at + marker.size(), 20)));
    REQUIRE(out.size() == page.count);
    return out;
}

// The seqs of every event matching q, oldest first (a brute-force scan).
std::vector<std::uint64_t> matching(const EventLog& log, const EventsQuery& q) {
    std::vector<std::uint64_t> out;
    REQUIRE(log.scan(1, log.last_seq(),
                     [&](EventRecord&& r) {
                         if (event_matches(q, r.event)) out.push_back(r.seq);
                         return true;
                     })
                .is_ok());
    return out;
}

// Every tail page from the newest, following next_before; the seqs newest first.
std::vector<std::uint64_t> tail_walk(const EventLog& log, EventsQuery q, std::uint64_t max_scan) {
    std::vector<std::uint64_t> out;
    q.tail = true;
    q.before.reset();
    for (int pages = 0;; ++pages) {
        REQUIRE(pages < 100'000);
        auto page = read_events_tail(log, q, log.last_seq(), max_scan);
        REQUIRE(page.is_ok());
        CHECK(page->scanned <= max_scan);
        CHECK(page->count <= q.limit);
        auto s = seqs(*page);
        out.insert(out.end(), s.begin(), s.end());
        if (!page->next_before) break;
        if (q.before) CHECK(*page->next_before < *q.before);  // always progresses
        q.before = page->next_before;
    }
    return out;
}

http::QueryParams params(std::initializer_list<std::pair<std::string, std::string>> list) {
    return {list};
}

}  // namespace

TEST_CASE("events forward: unfiltered pages as before; filtered scans are bounded") {
    auto log = filled_log(500);
    EventsQuery q;
    q.from = 10;
    q.limit = 5;
    auto page = read_events_forward(*log, q, log->last_seq(), k_events_max_scan);
    REQUIRE(page.is_ok());
    CHECK(seqs(*page) == std::vector<std::uint64_t>{10, 11, 12, 13, 14});
    CHECK(page->next == 15);
    q.from = 501;
    page = read_events_forward(*log, q, log->last_seq(), k_events_max_scan);
    CHECK(page->count == 0);
    CHECK(page->next == 501);

    EventsQuery runs;
    runs.types = {EventType::run_requested};
    runs.devices = {"d4"};
    runs.limit = 3;
    const auto expected = matching(*log, runs);
    REQUIRE(expected.size() > 3);
    page = read_events_forward(*log, runs, log->last_seq(), k_events_max_scan);
    CHECK(seqs(*page) == std::vector<std::uint64_t>(expected.begin(), expected.begin() + 3));
    CHECK(page->next == expected[2] + 1);
    // A scan bound that ends before any match: nothing, but `next` moves past what was seen.
    runs.from = expected[0] + 1;
    page = read_events_forward(*log, runs, log->last_seq(), 5);
    CHECK(page->count == 0);
    CHECK(page->scanned == 5);
    CHECK(page->next == runs.from + 5);
}

TEST_CASE("events tail: newest first, next_before walks every event once, bounded scans") {
    auto log = filled_log(1234);
    EventsQuery q;
    q.tail = true;
    q.limit = 10;
    auto page = read_events_tail(*log, q, log->last_seq(), k_events_max_scan);
    REQUIRE(page.is_ok());
    CHECK(seqs(*page).front() == 1234);
    CHECK(seqs(*page).back() == 1225);
    CHECK(page->next_before == 1225);
    CHECK(page->scanned == 10);
    q.before = 3;
    page = read_events_tail(*log, q, log->last_seq(), k_events_max_scan);
    CHECK(seqs(*page) == std::vector<std::uint64_t>{2, 1});
    CHECK_FALSE(page->next_before);
    q.before = 1;
    page = read_events_tail(*log, q, log->last_seq(), k_events_max_scan);
    CHECK(page->count == 0);
    CHECK_FALSE(page->next_before);
    q.before = 99'999;  // past the end: the newest
    page = read_events_tail(*log, q, log->last_seq(), k_events_max_scan);
    CHECK(seqs(*page).front() == 1234);

    std::vector<std::uint64_t> all;
    for (std::uint64_t s = 1234; s >= 1; --s) all.push_back(s);
    q.before.reset();
    CHECK(tail_walk(*log, q, k_events_max_scan) == all);

    for (std::uint64_t max_scan : {std::uint64_t(7), std::uint64_t(300), k_events_max_scan})
        for (std::uint64_t limit : {std::uint64_t(1), std::uint64_t(4), std::uint64_t(1000)}) {
            CAPTURE(max_scan);
            CAPTURE(limit);
            EventsQuery f;
            f.limit = limit;
            f.devices = {"d3"};
            f.types = {EventType::run_requested, EventType::completion_recorded};
            auto expected = matching(*log, f);
            std::reverse(expected.begin(), expected.end());
            REQUIRE(expected.size() > 20);
            CHECK(tail_walk(*log, f, max_scan) == expected);
        }
    // A filter nothing matches ends after scanning everything, in bounded steps.
    EventsQuery none;
    none.devices = {"nope"};
    CHECK(tail_walk(*log, none, 100).empty());
}

TEST_CASE("events query: type, device, tail and before; before only with tail") {
    EventsQuery q;
    CHECK_FALSE(parse_events_query(params({{"type", "RunRequested"},
                                           {"type", "LeaseExpired"},
                                           {"device", "r1"},
                                           {"tail", "1"},
                                           {"before", "77"},
                                           {"limit", "5"}}),
                                   q));
    CHECK(q.types == std::vector<EventType>{EventType::run_requested, EventType::lease_expired});
    CHECK(q.devices == std::vector<std::string>{"r1"});
    CHECK(q.tail);
    CHECK(q.before == 77);
    for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{{"type", "Lease"},
                                                                               {"type", ""},
                                                                               {"device", ""},
                                                                               {"tail", "yes"},
                                                                               {"before", "0"},
                                                                               {"before", "x"}}) {
        CAPTURE(name);
        CAPTURE(value);
        EventsQuery x;
        auto e = parse_events_query(params({{"tail", "1"}, {name, value}}), x);
        REQUIRE(e);
        CHECK(e->parameter == name);
    }
    EventsQuery x;
    auto e = parse_events_query(params({{"before", "5"}}), x);
    REQUIRE(e);
    CHECK(e->parameter == "before");
    EventsQuery y;
    e = parse_events_query(params({{"tail", "1"}, {"from", "5"}}), y);
    REQUIRE(e);
    CHECK(e->parameter == "from");
}

TEST_CASE("quarantine records: the newest within the bound, with what each is about") {
    auto log = filled_log(50);
    // Seq 1 is the inventory, 3 a completion (d1/run), and an unparsable record is skipped.
    for (std::uint64_t seq : {1, 3, 5, 7, 9}) {
        gitwriter::QuarantineRecord r{gitwriter::QuarantineState::quarantined,
                                      3,
                                      unix_time(100 + seq),
                                      0,
                                      0,
                                      "git: disk full"};
        REQUIRE(
            log->put_meta(gitwriter::quarantine_key(seq), gitwriter::format_quarantine_record(r))
                .is_ok());
    }
    REQUIRE(log->put_meta(gitwriter::quarantine_key(11), "garbage").is_ok());
    auto all = gitwriter::read_quarantine(*log, 1000);
    REQUIRE(all.is_ok());
    REQUIRE(all->entries.size() == 5);
    CHECK_FALSE(all->truncated);
    CHECK(all->entries[0].seq == 1);
    CHECK(all->entries[0].what == "inventory");
    CHECK(all->entries[1].what == "d1/run");
    CHECK(all->entries[1].record.detail == "git: disk full");
    CHECK(all->entries[1].record.at == 103);
    auto newest = gitwriter::read_quarantine(*log, 2);
    REQUIRE(newest.is_ok());
    CHECK(newest->truncated);
    REQUIRE(newest->entries.size() == 2);
    CHECK(newest->entries[0].seq == 7);
    CHECK(newest->entries[1].seq == 9);
}
