#pragma once
// Little-endian integers in byte strings: the fixed-width fields of the file formats
// (event records, archive segments, snapshots). Included as "core/little_endian.hpp".

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep {

// Appends the low `bytes` bytes of v (1..8), least significant first.
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads `bytes` bytes (1..8) at `at`; the caller has checked in.size() >= at + bytes.
inline std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= std::uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
    return v;
}

}  // namespace netkeep
