#pragma once
// When a task falls due: 5-field cron expressions (UTC) or fixed intervals with a
// per-task phase. Pure functions; no clock is read here.

#include <array>
#include <bitset>
#include <cstdint>
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
    // Vixie cron: when both day fields are restricted (neither starts with '*'), a day
    // matches if EITHER matches; otherwise both must.
    bool dom_restricted = false;
    bool dow_restricted = false;
    std::string expression;  // as written, for messages and output
    friend bool operator==(const CronSchedule&, const CronSchedule&) = default;
};

// Every `seconds` seconds; each task's slots are offset by a phase derived from its name.
struct IntervalSchedule {
    std::int64_t seconds = 0;
    friend bool operator==(const IntervalSchedule&, const IntervalSchedule&) = default;
};

using Schedule = std::variant<CronSchedule, IntervalSchedule>;

// Parses "m h dom mon dow" (lists, ranges, steps, names jan-dec and sun-sat, case-
// insensitive) or @hourly @daily @midnight @weekly @monthly @yearly @annually.
// Errors are InvalidArgument naming the field and the offending text.
Result<CronSchedule> parse_cron(std::string_view expression);

// The phase of a task ("device/job") on an interval: a stable hash (FNV-1a 64) of the
// task key modulo the interval, so tasks spread evenly over the interval and keep
// their phase across restarts and machines.
std::int64_t interval_phase(std::string_view task_key, std::int64_t interval_seconds);

// The first slot strictly after t for the task named task_key.
unix_time next_slot(const Schedule& schedule, std::string_view task_key, unix_time t);

}  // namespace netkeep
