// The git writer's public records (include/netkeep/git_records.hpp): meta keys, applied
// and quarantine records, commit trailers. Their one encoder and decoder.

#include "netkeep/git_records.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace netkeep::gitwriter {

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

Result<QuarantineList> read_quarantine(const EventLog& log, std::size_t max) {
    QuarantineList list;
    // Only the newest `max` are kept while the keys (in seq order) are walked.
    std::deque<QuarantineEntry> kept;
    Status s =
        log.scan_meta(k_quarantine_prefix, [&](std::string_view key, std::string_view value) {
            auto seq = parse_u64(key.substr(k_quarantine_prefix.size()));
            auto record = parse_quarantine_record(value);
            if (!seq || !record) return true;
            kept.push_back(QuarantineEntry{*seq, std::move(*record), {}});
            if (kept.size() > max) {
                kept.pop_front();
                list.truncated = true;
            }
            return true;
        });
    if (!s) return s;
    for (QuarantineEntry& e : kept) {
        Status read = log.scan(e.seq, e.seq, [&](EventRecord&& r) {
            if (auto* c = std::get_if<CompletionRecorded>(&r.event))
                e.what = c->device + "/" + c->job;
            else if (std::holds_alternative<InventoryApplied>(r.event))
                e.what = "inventory";
            return false;
        });
        if (!read) return read;
        list.entries.push_back(std::move(e));
    }
    return list;
}

}  // namespace netkeep::gitwriter
