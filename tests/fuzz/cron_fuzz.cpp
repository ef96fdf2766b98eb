// Fuzz target: the schedule parser and slot arithmetic (src/core/schedule).
//
// Input: one line, then optionally a decimal unix time on the next line (default
// 2025-01-01 00:00 UTC). The line is a cron expression, or "interval N" for an interval
// schedule.
//
// Checks (schedule.hpp): an accepted expression parses again from its own `expression` to
// the same schedule; it can fire (parse_cron refuses the others), so from any time of the
// next few thousand years next_slot finds a slot; that slot is strictly later, on a minute,
// matches, and no minute in between matches (checked over the first 2000 minutes).
// Intervals: the phase lies in [0, N), the slot is within N of t and on the task's phase.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "netkeep/schedule.hpp"

using netkeep::CronSchedule;
using netkeep::IntervalSchedule;
using netkeep::k_no_slot;
using netkeep::unix_time;

namespace {

constexpr unix_time k_default_time = 1735689600;  // 2025-01-01 00:00:00 UTC
// Times the scheduler meets: from the epoch to a few thousand years ahead. Far beyond
// that a slot can lie past unix_time's end, which next_slot reports as k_no_slot.
constexpr unix_time k_max_time = unix_time{1} << 36;  // year ~4147
constexpr std::string_view k_task = "r1/show_run";

void check_cron(std::string_view expression, unix_time t) {
    auto parsed = netkeep::parse_cron(expression);
    if (!parsed) {
        FUZZ_CHECK(parsed.status().code() == netkeep::Status::Code::invalid_argument);
        return;
    }
    const CronSchedule& cron = *parsed;
    auto reparsed = netkeep::parse_cron(cron.expression);
    FUZZ_CHECK(reparsed.is_ok());
    FUZZ_CHECK(*reparsed == cron);

    const unix_time next = netkeep::next_slot(cron, k_task, t);
    if (t >= 0 && t < k_max_time) FUZZ_CHECK(next != k_no_slot);
    if (next == k_no_slot) return;
    FUZZ_CHECK(next > t);
    FUZZ_CHECK(next % 60 == 0);
    FUZZ_CHECK(netkeep::cron_matches(cron, next));
    // No matching minute is skipped: the minute after t's up to the slot's.
    unix_time minute = (t >= 0 ? t / 60 : (t - 59) / 60) * 60 + 60;
    for (int i = 0; i < 2000 && minute < next; ++i, minute += 60)
        FUZZ_CHECK(!netkeep::cron_matches(cron, minute));
}

void check_interval(std::int64_t seconds, unix_time t) {
    const std::int64_t n = seconds <= 0 ? 1 : seconds;
    const std::int64_t phase = netkeep::interval_phase(k_task, seconds);
    FUZZ_CHECK(phase >= 0 && phase < n);
    if (t < -k_max_time || t > k_max_time || n > k_max_time) return;
    const unix_time next = netkeep::next_slot(IntervalSchedule{seconds}, k_task, t);
    FUZZ_CHECK(next > t);
    FUZZ_CHECK(next - t <= n);
    FUZZ_CHECK(((next - phase) % n + n) % n == 0);
}

std::int64_t parse_int(std::string_view s, std::int64_t fallback) {
    std::int64_t v = fallback;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() ? v : fallback;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text = netkeep::fuzz::as_text(data, size);
    std::string_view line = text;
    unix_time t = k_default_time;
    if (auto nl = text.find('\n'); nl != std::string_view::npos) {
        line = text.substr(0, nl);
        t = parse_int(text.substr(nl + 1), k_default_time);
    }
    constexpr std::string_view k_interval = "interval ";
    if (line.substr(0, k_interval.size()) == k_interval) {
        check_interval(parse_int(line.substr(k_interval.size()), 0), t);
        return 0;
    }
    check_cron(line, t);
    return 0;
}
