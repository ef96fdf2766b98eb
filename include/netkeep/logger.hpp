#pragma once
// Structured one-line logs on stderr:
//   2026-11-28T23:10:27Z info inventory.applied seq=12 devices=3 jobs=2
// Values with spaces, quotes or '=' are JSON-quoted so a line splits unambiguously.
// Never pass a secret as a value: lines go to journald and log shippers.
//
// Threads: any; each line is written with one write(2), so lines never interleave.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netkeep {

enum class LogLevel { debug, info, warn, error };

using LogFields = std::vector<std::pair<std::string_view, std::string>>;

// Writes the line unless its level is below the threshold.
void log_line(LogLevel level, std::string_view event, const LogFields& fields = {});

// Lines below `level` are dropped (default: info). Set once at start-up, before threads;
// the programs' --log-level sets it.
void set_log_threshold(LogLevel level);
// "debug", "info", "warn", "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

// Formats a line without writing it (tests, and the server's own log sink).
std::string format_log_line(LogLevel level, std::string_view event, const LogFields& fields,
                            long long unix_time);

}  // namespace netkeep
