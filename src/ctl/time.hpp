#pragma once
// Times on netkeepctl's command line and in its output. Pure: unit-tested directly.

#include <optional>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::ctl {

// "2026-11-28T03:00:00Z" (UTC, to the second): how every time is printed.
std::string format_time(unix_time t);

// A point in time as an operator writes it:
//   2026-11-28T03:00:00Z, 2026-11-28T03:00Z, 2026-11-28T03:00:00+02:00,
//   2026-11-28 03:00:00 (a space for the T), 2026-11-28 (midnight UTC), @1700000000 (unix).
// Without an offset or Z the time is UTC (servers log in UTC; the local zone is not
// guessed). InvalidArgument naming the text otherwise.
Result<unix_time> parse_time(std::string_view text);

// A decimal u64 and nothing else.
std::optional<std::uint64_t> parse_seq(std::string_view text);

}  // namespace netkeep::ctl
