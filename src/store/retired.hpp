#pragma once
// What retention (docs/retention.md) leaves of the log's prefix, as both event logs keep it
// in meta: `log.first_seq` (decimal) and `log.pinned` (the pinned seqs, decimal, space
// separated). Internal to src/store.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::store {

inline constexpr const char* k_first_seq_key = "log.first_seq";
inline constexpr const char* k_pinned_key = "log.pinned";
inline constexpr std::size_t k_max_pinned = 16;

struct RetiredPrefix {
    std::uint64_t first_seq = 1;
    std::vector<std::uint64_t> pinned;  // ascending, each < first_seq
};

// Checks a new prefix against the current one: pins ascending, below first_seq, bounded.
// The prefix to store: `current` when `next` would move first_seq back.
Result<RetiredPrefix> next_prefix(const RetiredPrefix& current, std::uint64_t first_seq,
                                  const std::vector<std::uint64_t>& pinned);

std::string format_pinned(const std::vector<std::uint64_t>& pinned);
// From the two meta values (absent: empty); Corruption naming the key when malformed.
Result<RetiredPrefix> parse_prefix(std::string_view first_seq, std::string_view pinned);

}  // namespace netkeep::store
