#include "core/crc32c.hpp"

#include <array>

namespace netkeep {

namespace {
// Slicing-by-8 tables: records are checked on every replay, so a byte-at-a-time loop
// would dominate start-up time for large logs.
constexpr std::uint32_t k_polynomial = 0x82f63b78;  // reflected Castagnoli

using table_set = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr table_set make_tables() {
    table_set t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ k_polynomial : c >> 1;
        t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
        for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    return t;
}

constexpr table_set k_tables = make_tables();
}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
    auto p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    crc = ~crc;
    while (n >= 8) {
        std::uint32_t lo = crc ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 |
                                  std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24);
        crc = k_tables[7][lo & 0xff] ^ k_tables[6][(lo >> 8) & 0xff] ^
              k_tables[5][(lo >> 16) & 0xff] ^ k_tables[4][lo >> 24] ^ k_tables[3][p[4]] ^
              k_tables[2][p[5]] ^ k_tables[1][p[6]] ^ k_tables[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ k_tables[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

}  // namespace netkeep
