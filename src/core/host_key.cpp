#include "netkeep/host_key.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace netkeep {

namespace {

// The key types a device can present as its host key and libssh can compare. DSA is
// gone from OpenSSH and from Debian's libssh; certificates and security-key types are
// not host keys a network device has.
constexpr std::array<std::string_view, 5> k_types = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"};

bool is_type(std::string_view word) {
    for (auto t : k_types)
        if (t == word) return true;
    return false;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Standard base64 as OpenSSH writes it: padded to a multiple of 4, '=' only at the end,
// and the unused bits of the last character zero (one blob has one spelling).
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (text.back() == '=') ++pad;
    if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    std::uint32_t bits = 0;
    int nbits = 0;
    for (std::size_t i = 0; i < text.size() - pad; ++i) {
        const int v = base64_value(text[i]);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | std::uint32_t(v);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out += char((bits >> nbits) & 0xff);
        }
    }
    if (bits & ((1u << nbits) - 1)) return std::nullopt;  // non-zero leftover bits
    return out;
}

// Reads the SSH wire format's length-prefixed strings (RFC 4251 section 5).
class blob_reader {
public:
    explicit blob_reader(std::string_view blob) : rest_(blob) {}
    std::optional<std::string_view> string() {
        if (rest_.size() < 4) return std::nullopt;
        const auto* p = reinterpret_cast<const unsigned char*>(rest_.data());
        const std::uint32_t n = std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 |
                                std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
        if (rest_.size() - 4 < n) return std::nullopt;
        auto s = rest_.substr(4, n);
        rest_.remove_prefix(4 + std::size_t(n));
        return s;
    }
    bool at_end() const { return rest_.empty(); }

private:
    std::string_view rest_;
};

// The fields each type's public blob has after the type name; sizes where fixed.
Status check_blob(std::string_view type, std::string_view blob) {
    blob_reader r(blob);
    auto inner = r.string();
    if (!inner) return Status::invalid_argument("the key data is too short to be an SSH key");
    if (*inner != type)
        return Status::invalid_argument(
            fmt::format("the key data is of type '{}', not '{}'",
                        is_type(*inner) ? *inner : std::string_view("unknown"), type));
    const std::string_view bad = "the key data is not a complete key of its type";
    if (type == "ssh-ed25519") {
        auto pk = r.string();
        if (!pk || pk->size() != 32) return Status::invalid_argument(std::string(bad));
    } else if (type.starts_with("ecdsa-sha2-")) {
        const std::string_view curve = type.substr(std::string_view("ecdsa-sha2-").size());
        auto c = r.string();
        auto q = r.string();
        if (!c || *c != curve || !q || q->empty())
            return Status::invalid_argument(std::string(bad));
    } else {  // ssh-rsa: e, n
        auto e = r.string();
        auto n = r.string();
        if (!e || e->empty() || !n || n->empty()) return Status::invalid_argument(std::string(bad));
    }
    if (!r.at_end()) return Status::invalid_argument("the key data has bytes after the key");
    return Status::ok();
}

}  // namespace

std::string_view supported_host_key_types() {
    return "ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa";
}

Result<HostKey> parse_host_key_line(std::string_view line) {
    const auto w = words(line);
    if (w.empty()) return Status::invalid_argument("must not be empty");
    if (w[0].starts_with("@"))
        return Status::invalid_argument(
            fmt::format("'{}' lines are not supported: pin the device's own key", w[0]));
    if (w[0].starts_with("#")) return Status::invalid_argument("is a comment, not a key");
    // With a host field the type is the second word, else the first.
    std::size_t at = 0;
    if (!is_type(w[0])) {
        if (w.size() < 3 || !is_type(w[1]))
            return Status::invalid_argument(fmt::format(
                "not a known_hosts line: expected '[HOST]:PORT TYPE BASE64' or 'TYPE BASE64' "
                "with TYPE one of {}",
                supported_host_key_types()));
        at = 1;
    }
    if (w.size() < at + 2)
        return Status::invalid_argument(fmt::format("'{}' without the key data after it", w[at]));
    HostKey key{std::string(w[at]), std::string(w[at + 1])};
    auto blob = base64_decode(key.base64);
    if (!blob) return Status::invalid_argument("the key data is not valid base64");
    if (Status s = check_blob(key.type, *blob); !s) return s;
    return key;
}

}  // namespace netkeep
