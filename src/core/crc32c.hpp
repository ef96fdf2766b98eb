#pragma once
// CRC-32C (Castagnoli), the checksum of event-log records. Private to core (included as
// "core/crc32c.hpp"): the record format and its tests use it.

#include <cstdint>
#include <string_view>

namespace netkeep {

std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

}  // namespace netkeep
