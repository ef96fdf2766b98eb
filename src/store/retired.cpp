#include "retired.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace netkeep::store {

namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
    if (text.empty() || text.size() > 20) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<RetiredPrefix> next_prefix(const RetiredPrefix& current, std::uint64_t first_seq,
                                  const std::vector<std::uint64_t>& pinned) {
    if (first_seq <= current.first_seq) return current;
    if (pinned.size() > k_max_pinned)
        return Status::invalid_argument(
            fmt::format("retention: {} pinned records (at most {})", pinned.size(), k_max_pinned));
    for (std::size_t i = 0; i < pinned.size(); ++i) {
        if (pinned[i] == 0 || pinned[i] >= first_seq || (i > 0 && pinned[i] <= pinned[i - 1]))
            return Status::invalid_argument(
                fmt::format("retention: pinned seq {} is not ascending below first_seq {}",
                            pinned[i], first_seq));
    }
    return RetiredPrefix{first_seq, pinned};
}

std::string format_pinned(const std::vector<std::uint64_t>& pinned) {
    return fmt::format("{}", fmt::join(pinned, " "));
}

Result<RetiredPrefix> parse_prefix(std::string_view first_seq, std::string_view pinned) {
    RetiredPrefix out;
    if (!first_seq.empty() && (!parse_u64(first_seq, out.first_seq) || out.first_seq == 0))
        return Status::corruption(
            fmt::format("meta {}: not a sequence number: '{}'", k_first_seq_key, first_seq));
    while (!pinned.empty()) {
        auto space = pinned.find(' ');
        std::uint64_t seq = 0;
        if (!parse_u64(pinned.substr(0, space), seq) || seq == 0 || seq >= out.first_seq ||
            (!out.pinned.empty() && seq <= out.pinned.back()) || out.pinned.size() >= k_max_pinned)
            return Status::corruption(
                fmt::format("meta {}: not ascending seqs below {}", k_pinned_key, out.first_seq));
        out.pinned.push_back(seq);
        pinned = space == std::string_view::npos ? std::string_view{} : pinned.substr(space + 1);
    }
    return out;
}

}  // namespace netkeep::store
