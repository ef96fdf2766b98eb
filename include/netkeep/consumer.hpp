#pragma once
// What every consumer of the event log other than the git writer shares: notification
// targets (src/notify) and git mirrors (src/mirror). Each reads from its own durable
// cursor, delivers at least once, retries with its own backoff, and reports the same
// health, so /metrics, /readyz and `netkeepctl consumers` show them alike.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"

namespace netkeep {

// A snapshot for /metrics, /readyz and netkeepctl: cheap, callable from any thread.
struct ConsumerHealth {
    std::string name;                   // "notify.<target>", "mirror.<remote>"
    std::uint64_t cursor = 0;           // last seq delivered (durable in meta)
    std::uint64_t lag = 0;              // events (or applied seqs, for a mirror) not delivered yet
    std::uint64_t delivered_total = 0;  // deliveries of this process
    std::uint64_t errors_total = 0;     // failed attempts of this process
    std::uint64_t consecutive_failures = 0;  // since the last success (0: healthy)
    std::string last_error;                  // of the last failed attempt; no secret, no body
    unix_time last_success = 0;              // 0: none in this process
};

// The meta key of a consumer's cursor: decimal seq, written after what it covers was
// delivered. Names are "notify.<target>" or "mirror.<remote>".
inline std::string consumer_cursor_key(std::string_view name) {
    return "consumer." + std::string(name) + ".cursor";
}
inline constexpr std::string_view k_consumer_meta_prefix = "consumer.";

// Doubling backoff between attempts of one delivery, reset by a success.
class ConsumerBackoff {
public:
    ConsumerBackoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
        : first_(first), max_(max), next_(first) {}
    std::chrono::milliseconds next() {
        auto current = next_;
        next_ = std::min(max_, next_ * 2);
        return current;
    }
    void reset() { next_ = first_; }

private:
    std::chrono::milliseconds first_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds next_;
};

}  // namespace netkeep
