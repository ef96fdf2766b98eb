#pragma once
// SHA-256 (FIPS 180-4), incremental: completions are hashed as they stream to the
// spool, so the content is never held in memory.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep {

class Sha256 {
public:
    Sha256();
    void update(std::string_view data);
    // The 32-byte digest; the object must not be updated afterwards.
    std::array<std::uint8_t, 32> finish();

private:
    void compress(const std::uint8_t* block);

    std::array<std::uint32_t, 8> state_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t length_ = 0;  // bytes
};

std::string to_hex(std::string_view bytes);
std::string sha256_hex(std::string_view data);

}  // namespace netkeep
