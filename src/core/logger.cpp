#include "netkeep/logger.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep {

namespace {
std::atomic<LogLevel> threshold{LogLevel::info};

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "info";
}

}  // namespace

std::string format_log_line(LogLevel level, std::string_view event, const LogFields& fields,
                            long long unix_time) {
    std::time_t t = static_cast<std::time_t>(unix_time);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string line = fmt::format("{} {} {}", when, level_name(level), event);
    for (const auto& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        line += key_value_quote(value);
    }
    line += '\n';
    return line;
}

void set_log_threshold(LogLevel level) { threshold.store(level, std::memory_order_relaxed); }

std::optional<LogLevel> parse_log_level(std::string_view name) {
    for (LogLevel level : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error})
        if (name == level_name(level)) return level;
    return std::nullopt;
}

void log_line(LogLevel level, std::string_view event, const LogFields& fields) {
    if (level < threshold.load(std::memory_order_relaxed)) return;
    auto now = std::chrono::system_clock::now();
    std::string line = format_log_line(
        level, event, fields,
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
        if (n <= 0) break;
        rest.remove_prefix(std::size_t(n));
    }
}

}  // namespace netkeep
