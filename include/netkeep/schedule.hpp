#pragma once
// When a task falls due: 5-field cron expressions (UTC) or fixed intervals with a
// per-task phase. Pure functions; no clock is read here.

#include <array>
#include <bitset>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// A parsed cron expression: the set of allowed values per field.
struct CronSchedule {
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days_of_month;  // bit 0 unused
    std::bitset<13> months;         // bit 0 unused
    std::bitset<7> days_of_week;    // 0 = Sunday (7 is accepted as Sunday when parsing)
    // Vixie cron: a day field is "restricted" when its text does not start with '*'
    // (so "*/2" counts as unrestricted, as in Vixie). When both day fields are restricted,
    // a day matches if EITHER matches; otherwise both must (the '*' one matches anyway,
    // or, for "*/2", restricts too).
    bool dom_restricted = false;
    bool dow_restricted = false;
    std::string expression;  // as written (surrounding blanks trimmed), for messages and output
    friend bool operator==(const CronSchedule&, const CronSchedule&) = default;
};

// Every `seconds` seconds; each task's slots are offset by a phase derived from its name.
struct IntervalSchedule {
    std::int64_t seconds = 0;
    friend bool operator==(const IntervalSchedule&, const IntervalSchedule&) = default;
};

using Schedule = std::variant<CronSchedule, IntervalSchedule>;

// What next_slot returns when there is no later slot: a CronSchedule that can never fire
// (parse_cron rejects those, so only a hand-built one), or a slot past the end of
// unix_time. Compares later than every real time, so "due when now >= slot" stays false.
inline constexpr unix_time k_no_slot = std::numeric_limits<unix_time>::max();

// Parses "m h dom mon dow" (lists, ranges, steps, names jan-dec and sun-sat, case-
// insensitive) or @hourly @daily @midnight @weekly @monthly @yearly @annually.
// Errors are InvalidArgument naming the field and the offending text.
// An expression that can never fire ("0 0 30 2 *", "0 0 31 4,6,9,11 *") is rejected
// too: the inventory author learns it at load time instead of the task silently never
// running. Only the day-of-month/month combination can make that happen, and only when
// a day field starts with '*' (with both day fields restricted, any weekday matches).
Result<CronSchedule> parse_cron(std::string_view expression);

// Whether the UTC minute containing t is one the expression fires in (its slot is that
// minute's second 0). Minute-by-minute reference for next_slot; used by tests.
bool cron_matches(const CronSchedule& schedule, unix_time t);

// The phase of a task ("device/job") on an interval: a stable hash (FNV-1a 64) of the
// task key modulo the interval, so tasks spread evenly over the interval and keep
// their phase across restarts and machines. An interval <= 0 is treated as 1 (phase 0):
// intervals are validated when the inventory is loaded; this only must not divide by 0.
std::int64_t interval_phase(std::string_view task_key, std::int64_t interval_seconds);

// The first slot strictly after t for the task named task_key, or k_no_slot.
// Cron: second 0 of the next matching UTC minute; task_key is not used (all tasks on one
// expression share its slots). The search skips whole non-matching months, days and
// hours, so even a once-in-8-years expression ("0 0 29 2 *") costs at most a few
// hundred steps; it gives up after 401 years (a full 400-year Gregorian cycle, so
// nothing can match later) with k_no_slot.
// Interval: the first k*N + interval_phase(task_key, N) > t, N <= 0 treated as 1.
unix_time next_slot(const Schedule& schedule, std::string_view task_key, unix_time t);

}  // namespace netkeep
