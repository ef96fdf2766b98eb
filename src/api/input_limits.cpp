#include "api/input_limits.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace netkeep::api {

std::string bounded_failure(std::string text) {
    if (!failure_too_long(text)) return text;
    const std::string marker = fmt::format(" [truncated: {} bytes sent]", text.size());
    std::size_t cut = k_max_failure_bytes - marker.size();
    // Back up to the first byte of a UTF-8 sequence (continuation bytes are 10xxxxxx), so
    // the kept part never ends in half a character. Text that is not UTF-8 at all backs
    // up at most three bytes more than needed; nothing is ever read past `cut`.
    for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++i)
        --cut;
    text.resize(cut);
    text += marker;
    return text;
}

std::optional<FieldError> check_completion_times(unix_time job_timestamp, unix_time start_timestamp,
                                                 unix_time end_timestamp, unix_time now) {
    const std::pair<const char*, unix_time> times[] = {{"job_timestamp", job_timestamp},
                                                       {"start_timestamp", start_timestamp},
                                                       {"end_timestamp", end_timestamp}};
    for (const auto& [field, t] : times)
        if (t < 0)
            return FieldError{field, fmt::format("{} must not be negative (got {})", field, t)};
    if (start_timestamp < job_timestamp)
        return FieldError{"start_timestamp",
                          fmt::format("start_timestamp {} precedes job_timestamp {}: a job "
                                      "does not start before it is due",
                                      start_timestamp, job_timestamp)};
    if (end_timestamp < start_timestamp)
        return FieldError{"end_timestamp",
                          fmt::format("end_timestamp {} precedes start_timestamp {}", end_timestamp,
                                      start_timestamp)};
    // Written as a subtraction: now + k_max_clock_ahead cannot overflow, end - now could.
    if (end_timestamp > now && end_timestamp - now > k_max_clock_ahead)
        return FieldError{"end_timestamp",
                          fmt::format("end_timestamp {} is more than {} s after the server's "
                                      "time {}: check the worker's clock",
                                      end_timestamp, k_max_clock_ahead, now)};
    return std::nullopt;
}

std::optional<std::string> worker_name_problem(std::string_view name) {
    if (name.size() > k_max_worker_name_bytes)
        return fmt::format("X-Netkeep-Worker is {} bytes; at most {} are accepted", name.size(),
                           k_max_worker_name_bytes);
    const bool control = std::any_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
    if (control) return std::string("X-Netkeep-Worker must not contain control characters");
    return std::nullopt;
}

}  // namespace netkeep::api
