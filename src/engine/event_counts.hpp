#pragma once
// What the engine counts of the events it appends (the event counters of /metrics).

#include <cstdint>
#include <vector>

#include "netkeep/events.hpp"

namespace netkeep::engine {

// The events this process made durable, by kind (the event counters of /metrics).
struct EventCounts {
    std::uint64_t leases_granted = 0;
    std::uint64_t leases_expired = 0;
    std::uint64_t completions_ok = 0;
    std::uint64_t completions_failed = 0;
    std::uint64_t bytes_ingested = 0;  // content bytes of recorded completions
    std::uint64_t run_requests = 0;
    std::uint64_t occurrences_failed = 0;  // closed after max_attempts

    void count(const std::vector<Event>& events);
};

}  // namespace netkeep::engine
