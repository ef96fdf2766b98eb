#pragma once
// SHA-256, incremental: completions are hashed as they stream to the spool, so the
// content is never held in memory. Backed by OpenSSL's libcrypto, which uses the CPU's
// SHA instructions where present (several GB/s; a portable C++ loop manages ~270 MB/s,
// which would cap every upload).
//
// Errors: std::bad_alloc when no context can be allocated; std::runtime_error naming the
// EVP call and OpenSSL's reason when libcrypto itself fails (a broken or restricted
// provider), which no input can cause.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace netkeep {

class Sha256 {
public:
    Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    ~Sha256();

    void update(std::string_view data);
    // The 32-byte digest; the object must not be updated afterwards.
    std::array<std::uint8_t, 32> finish();

private:
    struct context;
    std::unique_ptr<context> context_;
};

std::string to_hex(std::string_view bytes);
std::string sha256_hex(std::string_view data);

}  // namespace netkeep
