// The private pure half of the git writer (gitwriter/format.hpp).

#include "gitwriter/format.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace netkeep::gitwriter {

std::string iso8601_utc(unix_time t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (::gmtime_r(&tt, &tm) == nullptr) return fmt::format("@{}", t);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string tree_path(PathLayout layout, std::string_view group, std::string_view device,
                      std::string_view job) {
    if (layout == PathLayout::device) return fmt::format("{}/{}", device, job);
    return fmt::format("{}/{}/{}", group.empty() ? k_no_group : group, device, job);
}

namespace {

// The worker names itself (peer address or token name): keep a hostile or odd name
// from adding lines, and so fake trailers, to the message.
std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out.empty() ? std::string("unknown") : out;
}

// At most `max` bytes of one_line(text), never cutting a UTF-8 sequence.
std::string one_line_cut(std::string_view text, std::size_t max) {
    if (text.size() > max) {
        std::size_t n = max;
        while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;
        text = text.substr(0, n);
    }
    return one_line(text);
}

}  // namespace

std::string format_commit_message(std::uint64_t seq, const CompletionRecorded& c,
                                  std::optional<std::uint64_t> retried_after) {
    const std::string by =
        c.changed_by.empty() ? std::string() : one_line_cut(c.changed_by, k_changed_by_shown);
    std::string message = fmt::format(
        "{}: {} at {}{}\n"
        "\n"
        "worker {}; job {} ({}), started {} ({}), ended {} ({})\n"
        "\n"
        "{}: {}\n"
        "{}: {}\n",
        c.device, c.job, iso8601_utc(c.end_timestamp),
        by.empty() ? std::string() : ", configured by " + by, one_line(c.worker),
        iso8601_utc(c.job_timestamp), c.job_timestamp, iso8601_utc(c.start_timestamp),
        c.start_timestamp, iso8601_utc(c.end_timestamp), c.end_timestamp, k_seq_trailer, seq,
        k_job_timestamp_trailer, c.job_timestamp);
    if (!by.empty()) message += fmt::format("{}: {}\n", k_changed_by_trailer, by);
    if (!c.trigger.empty())
        message += fmt::format("{}: {}\n", k_trigger_trailer, one_line_cut(c.trigger, 64));
    if (retried_after) message += fmt::format("{}: {}\n", k_retried_after_trailer, *retried_after);
    return message;
}

Result<std::uint64_t> resume_cursor(std::optional<std::uint64_t> meta_cursor,
                                    std::optional<std::uint64_t> head_trailer,
                                    std::uint64_t log_last_seq) {
    if (meta_cursor && *meta_cursor > log_last_seq) {
        return Status::conflict(
            fmt::format("{} is {} but the log ends at seq {}: the cursor belongs to another log",
                        k_cursor_key, *meta_cursor, log_last_seq));
    }
    if (head_trailer && *head_trailer > log_last_seq) {
        return Status::conflict(fmt::format(
            "the repository's last commit has {}: {} but the log ends at seq {}: the repository "
            "belongs to another log",
            k_seq_trailer, *head_trailer, log_last_seq));
    }
    return std::max(meta_cursor.value_or(0), head_trailer.value_or(0));
}

}  // namespace netkeep::gitwriter
