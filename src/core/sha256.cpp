#include "netkeep/sha256.hpp"

#include <new>

#include <openssl/evp.h>

namespace netkeep {

// The only place that includes OpenSSL. EVP calls fail only on allocation failure or a
// broken library; both are treated as out of memory.
struct Sha256::context {
    struct deleter {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, deleter> ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : context_(std::make_unique<context>()) {
    if (!context_->ctx || EVP_DigestInit_ex(context_->ctx.get(), EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
    if (EVP_DigestUpdate(context_->ctx.get(), data.data(), data.size()) != 1) throw std::bad_alloc();
}

std::array<std::uint8_t, 32> Sha256::finish() {
    std::array<std::uint8_t, 32> out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(context_->ctx.get(), out.data(), &len) != 1 || len != out.size()) throw std::bad_alloc();
    return out;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    auto d = h.finish();
    return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace netkeep
