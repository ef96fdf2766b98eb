#pragma once
// Structured one-line logs on stderr:
//   2026-11-28T23:10:27Z info inventory.applied seq=12 devices=3 jobs=2
// Values with spaces, quotes or '=' are JSON-quoted so a line splits unambiguously.
// Never pass a secret as a value: lines go to journald and log shippers.
//
// Threads: any; each line is written with one write(2), so lines never interleave.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace netkeep {

enum class LogLevel { debug, info, warn, error };

using LogFields = std::vector<std::pair<std::string_view, std::string>>;

void log_line(LogLevel level, std::string_view event, const LogFields& fields = {});

// Formats a line without writing it (tests, and the server's own log sink).
std::string format_log_line(LogLevel level, std::string_view event, const LogFields& fields, long long unix_time);

}  // namespace netkeep
