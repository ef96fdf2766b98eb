#include "worker/server_clock.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace netkeep::worker {

std::optional<std::int64_t> parse_server_time(std::string_view value) {
    // 253402300800000: 10000-01-01, far beyond any real clock, far from overflow.
    constexpr std::int64_t k_max = 253'402'300'800'000;
    std::int64_t ms = 0;
    if (value.empty() || value.size() > 15) return std::nullopt;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ec != std::errc() || end != value.data() + value.size() || ms < 0 || ms > k_max)
        return std::nullopt;
    return ms;
}

ServerClock::Report ServerClock::observe(std::int64_t server_ms, std::int64_t sent_ms,
                                         std::int64_t received_ms) {
    const std::int64_t midpoint = sent_ms + (received_ms - sent_ms) / 2;
    const std::int64_t offset = server_ms - midpoint;
    offset_.store(offset, std::memory_order_relaxed);
    if (std::llabs(offset) > k_report_ms) {
        if (reported_ && std::llabs(offset - reported_ms_) <= k_report_ms) return Report::none;
        reported_ = true;
        reported_ms_ = offset;
        return Report::skewed;
    }
    if (!reported_) return Report::none;
    reported_ = false;
    return Report::in_step;
}

std::int64_t ServerClock::local_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t ServerClock::now_ms() const { return now_ms(local_ms()); }

std::int64_t ServerClock::now_seconds() const {
    const std::int64_t ms = now_ms();
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

std::chrono::milliseconds job_budget(std::int64_t timeout_seconds, std::int64_t lease_expires,
                                     std::int64_t server_now_ms) {
    using std::chrono::milliseconds;
    const milliseconds timeout(timeout_seconds * 1000);
    const milliseconds lease_left(lease_expires * 1000 - server_now_ms - 500);
    return std::max(milliseconds(1000), std::min(timeout, lease_left));
}

}  // namespace netkeep::worker
