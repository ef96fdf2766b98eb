#pragma once
// Writing archive segments (docs/retention.md "Segment format"). Internal to src/store:
// retention writes them; everything else reads through netkeep/archive.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include "netkeep/archive.hpp"
#include "netkeep/status.hpp"

namespace netkeep::store {

inline constexpr char k_archive_magic[8] = {'N', 'K', 'A', 'R', 'C', 'S', 'E', 'G'};
inline constexpr std::uint32_t k_archive_version = 1;
inline constexpr std::uint32_t k_archive_codec_zstd = 1;
inline constexpr std::size_t k_archive_header_size = 64;

std::string archive_segment_name(std::uint64_t first_seq, std::uint64_t last_seq);

// The segment of the records first_seq, first_seq + 1, ... whose encoded values
// (event_format::encode) are `values`: compressed at zstd `level`, written atomically and
// durably (temp file, fsync, rename, fsync of dir). dir is created durably if missing.
Result<ArchiveSegment> write_archive_segment(const std::string& dir, std::uint64_t first_seq,
                                             const std::vector<std::string>& values, int level);

}  // namespace netkeep::store
