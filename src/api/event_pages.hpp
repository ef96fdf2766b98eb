#pragma once
// Reading a page of GET /api/v1/events from the log: forward from a seq, or (tail) newest
// first below a seq, with the type and device filters. The log scans forward only, so the
// tail reads windows backwards, each forward. Every request examines a bounded number of
// events (k_events_max_scan) however rare its matches, and renders only what it returns.
//
// Threads: any; blocking (reads the log). netkeepd calls these on the blocking pool.

#include <cstdint>
#include <optional>
#include <string>

#include "api/operator_query.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"

namespace netkeep::api {

struct EventsPage {
    std::string events;  // the events' JSON objects, comma separated (in answer order)
    std::uint64_t count = 0;
    std::uint64_t next = 0;  // forward: the `from` of the next page
    // tail: the `before` of the next page; none once the scan reached seq 1.
    std::optional<std::uint64_t> next_before;
    std::uint64_t scanned = 0;  // events examined
};

// Events from..last_seq in order, at most query.limit matching ones; `next` follows the last
// event examined, so a filtered request that matched nothing in its bounded scan still moves on.
Result<EventsPage> read_events_forward(const EventLog& log, const EventsQuery& query,
                                       std::uint64_t last_seq, std::uint64_t max_scan);

// The query.limit newest matching events with seq < before (default last_seq + 1), newest
// first, examining at most max_scan events.
Result<EventsPage> read_events_tail(const EventLog& log, const EventsQuery& query,
                                    std::uint64_t last_seq, std::uint64_t max_scan);

}  // namespace netkeep::api
