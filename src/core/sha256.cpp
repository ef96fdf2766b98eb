#include "netkeep/sha256.hpp"

#include <new>
#include <stdexcept>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

namespace netkeep {

namespace {
// An EVP call failed with a context that was allocated: a broken or misconfigured library
// (e.g. a FIPS provider without SHA-256), not memory; say which call and OpenSSL's reason.
[[noreturn]] void evp_failed(const char* call) {
    char reason[256] = "no OpenSSL error queued";
    if (unsigned long err = ERR_get_error(); err != 0)
        ERR_error_string_n(err, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("SHA-256: ") + call + " failed: " + reason);
}
}  // namespace

// The only place that includes OpenSSL.
struct Sha256::context {
    struct deleter {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, deleter> ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : context_(std::make_unique<context>()) {
    if (!context_->ctx) throw std::bad_alloc();
    if (EVP_DigestInit_ex(context_->ctx.get(), EVP_sha256(), nullptr) != 1)
        evp_failed("EVP_DigestInit_ex");
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
    if (EVP_DigestUpdate(context_->ctx.get(), data.data(), data.size()) != 1)
        evp_failed("EVP_DigestUpdate");
}

std::array<std::uint8_t, 32> Sha256::finish() {
    std::array<std::uint8_t, 32> out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(context_->ctx.get(), out.data(), &len) != 1 || len != out.size())
        evp_failed("EVP_DigestFinal_ex");
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
