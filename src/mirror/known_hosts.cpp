#include "mirror/known_hosts.hpp"

#include <optional>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace netkeep::mirror {

namespace {

// Standard base64 (with padding) as known_hosts uses it; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view in) {
    if (in.empty() || in.size() % 4 != 0 || in.size() > 16384) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
    if (n < 0) return std::nullopt;
    std::size_t size = std::size_t(n);
    // EVP_DecodeBlock counts the padding as zero bytes.
    if (in.ends_with("=="))
        size -= 2;
    else if (in.ends_with('='))
        size -= 1;
    out.resize(size);
    return out;
}

std::string base64_encode_unpadded(std::string_view in) {
    std::string out((in.size() + 2) / 3 * 4 + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
    out.resize(std::size_t(n));
    while (out.ends_with('=')) out.pop_back();
    return out;
}

// |1|salt|hash: HMAC-SHA1 of the name under the salt.
bool hashed_matches(std::string_view pattern, const std::string& name) {
    pattern.remove_prefix(3);
    auto bar = pattern.find('|');
    if (bar == std::string_view::npos) return false;
    auto salt = base64_decode(pattern.substr(0, bar));
    auto hash = base64_decode(pattern.substr(bar + 1));
    if (!salt || !hash || hash->size() != 20) return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha1(), salt->data(), int(salt->size()),
              reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &len))
        return false;
    return len == 20 && std::string_view(reinterpret_cast<char*>(mac), len) == *hash;
}

// OpenSSH's match_pattern: '*' any run, '?' one character, case-insensitive; nothing
// else is special (a "[host]:port" name is literal, unlike in fnmatch).
bool wildcard_match(std::string_view pattern, std::string_view name) {
    std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    while (n < name.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(name[n]))) {
            ++p;
            ++n;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

// Whether the comma-separated patterns name `name` (OpenSSH's rules: a negated pattern
// that matches excludes the line).
bool patterns_match(std::string_view patterns, const std::string& name) {
    if (patterns.starts_with("|1|")) return hashed_matches(patterns, name);
    bool matched = false;
    while (!patterns.empty()) {
        auto comma = patterns.find(',');
        std::string one(patterns.substr(0, comma));
        patterns =
            comma == std::string_view::npos ? std::string_view() : patterns.substr(comma + 1);
        const bool negated = one.starts_with('!');
        if (negated) one.erase(0, 1);
        if (!wildcard_match(one, name)) continue;
        if (negated) return false;
        matched = true;
    }
    return matched;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size() && out.size() < 4) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

}  // namespace

HostKeyMatch check_known_hosts(std::string_view text, std::string_view host, std::uint16_t port,
                               std::string_view key_blob) {
    const std::string name =
        port == 22 ? std::string(host) : "[" + std::string(host) + "]:" + std::to_string(port);
    bool host_seen = false;
    bool key_seen = false;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        auto f = fields(line);
        if (f.empty() || f[0].starts_with('#')) continue;
        std::string_view marker;
        if (f[0].starts_with('@')) {
            marker = f[0];
            f.erase(f.begin());
        }
        if (f.size() < 3 || marker == "@cert-authority") continue;
        if (!patterns_match(f[0], name)) continue;
        auto key = base64_decode(f[2]);
        const bool same = key && *key == key_blob;
        if (marker == "@revoked") {
            if (same) return HostKeyMatch::revoked;
            continue;
        }
        host_seen = true;
        key_seen = key_seen || same;
    }
    if (key_seen) return HostKeyMatch::known;
    return host_seen ? HostKeyMatch::mismatch : HostKeyMatch::unknown;
}

std::string key_fingerprint(std::string_view key_blob) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(key_blob.data()), key_blob.size(), digest);
    return "SHA256:" +
           base64_encode_unpadded(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

}  // namespace netkeep::mirror
