#include "gitwriter/format.hpp"

#include <algorithm>
#include <charconv>
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

std::string applied_key(std::uint64_t seq) {
    return fmt::format("{}{:020}", k_applied_prefix, seq);
}

std::string format_applied_record(const AppliedRecord& record) {
    return fmt::format("{} {} {}", record.blob, record.commit.empty() ? "-" : record.commit,
                       record.path);
}

std::optional<AppliedRecord> parse_applied_record(std::string_view value) {
    auto first = value.find(' ');
    if (first == std::string_view::npos) return std::nullopt;
    auto second = value.find(' ', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    AppliedRecord r{std::string(value.substr(0, first)),
                    std::string(value.substr(first + 1, second - first - 1)),
                    std::string(value.substr(second + 1))};
    if (r.commit == "-") r.commit.clear();
    if (r.blob.size() != 40 || r.path.empty() || (!r.commit.empty() && r.commit.size() != 40))
        return std::nullopt;
    return r;
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

}  // namespace

std::string format_commit_message(std::uint64_t seq, const CompletionRecorded& c,
                                  std::optional<std::uint64_t> retried_after) {
    std::string message = fmt::format(
        "{}: {} at {}\n"
        "\n"
        "worker {}; job {} ({}), started {} ({}), ended {} ({})\n"
        "\n"
        "{}: {}\n"
        "{}: {}\n",
        c.device, c.job, iso8601_utc(c.end_timestamp), one_line(c.worker),
        iso8601_utc(c.job_timestamp), c.job_timestamp, iso8601_utc(c.start_timestamp),
        c.start_timestamp, iso8601_utc(c.end_timestamp), c.end_timestamp, k_seq_trailer, seq,
        k_job_timestamp_trailer, c.job_timestamp);
    if (retried_after) message += fmt::format("{}: {}\n", k_retried_after_trailer, *retried_after);
    return message;
}

namespace {

constexpr std::pair<QuarantineState, std::string_view> k_states[] = {
    {QuarantineState::quarantined, "quarantined"},
    {QuarantineState::held, "held"},
    {QuarantineState::retry, "retry"},
    {QuarantineState::retrying, "retrying"},
    {QuarantineState::applied, "applied"},
    {QuarantineState::superseded, "superseded"},
};

}  // namespace

std::string_view state_name(QuarantineState state) {
    for (const auto& [s, name] : k_states)
        if (s == state) return name;
    return "?";
}

std::optional<QuarantineState> parse_state(std::string_view name) {
    for (const auto& [s, n] : k_states)
        if (n == name) return s;
    return std::nullopt;
}

std::string quarantine_key(std::uint64_t seq) {
    return fmt::format("{}{:020}", k_quarantine_prefix, seq);
}

std::string format_quarantine_record(const QuarantineRecord& r) {
    // The detail is free text, last: one line, so a record is always one line.
    std::string detail = r.detail;
    std::replace_if(
        detail.begin(), detail.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return fmt::format("{} {} {} {} {} {}", state_name(r.state), r.attempts, r.at, r.order, r.after,
                       detail);
}

std::optional<QuarantineRecord> parse_quarantine_record(std::string_view value) {
    std::string_view fields[5];
    for (auto& f : fields) {
        auto space = value.find(' ');
        if (space == std::string_view::npos) return std::nullopt;
        f = value.substr(0, space);
        value.remove_prefix(space + 1);
    }
    QuarantineRecord r;
    auto state = parse_state(fields[0]);
    auto attempts = parse_u64(fields[1]);
    auto order = parse_u64(fields[3]);
    auto after = parse_u64(fields[4]);
    std::int64_t at = 0;
    auto [end, ec] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), at);
    if (!state || !attempts || *attempts > UINT32_MAX || !order || !after || ec != std::errc() ||
        end != fields[2].data() + fields[2].size())
        return std::nullopt;
    r.state = *state;
    r.attempts = std::uint32_t(*attempts);
    r.at = at;
    r.order = *order;
    r.after = *after;
    r.detail = std::string(value);
    return r;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t v = 0;
    if (text.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> parse_seq_trailer(std::string_view message) {
    return parse_u64_trailer(message, k_seq_trailer);
}

std::optional<std::uint64_t> parse_position(std::string_view message) {
    auto seq = parse_seq_trailer(message);
    if (!seq) return std::nullopt;
    if (auto after = parse_u64_trailer(message, k_retried_after_trailer)) return after;
    return seq;
}

std::optional<std::uint64_t> parse_u64_trailer(std::string_view message, std::string_view key) {
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
        message.remove_suffix(1);
    auto gap = message.rfind("\n\n");
    if (gap == std::string_view::npos) return std::nullopt;  // a subject alone has no trailers
    std::string_view block = message.substr(gap + 2);
    std::optional<std::uint64_t> found;
    while (!block.empty()) {
        auto nl = block.find('\n');
        std::string_view line = block.substr(0, nl);
        block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > key.size() + 2 && line.starts_with(key) &&
            line.substr(key.size(), 2) == ": ") {
            // Two different values would mean a hand-edited message: trust neither.
            auto v = parse_u64(line.substr(key.size() + 2));
            if (!v || (found && *found != *v)) return std::nullopt;
            found = v;
        }
    }
    return found;
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
