#include "netkeep/json.hpp"

namespace netkeep {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at in[0], or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view in) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
    unsigned char c = byte(0);
    std::size_t need = 0;
    unsigned char lo = 0x80;  // allowed range of the second byte
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (in.size() < need) return 0;
    if (byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t i = 2; i < need; ++i) {
        if (!is_continuation(byte(i))) return 0;
    }
    return need;
}

}  // namespace

void json_escape_to(std::string& out, std::string_view in) {
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(out.size() + in.size());
    while (!in.empty()) {
        auto c = static_cast<unsigned char>(in.front());
        std::size_t used = 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else if (c < 0x80) {
                    out += static_cast<char>(c);
                } else if (auto n = utf8_sequence_length(in); n > 0) {
                    out.append(in.substr(0, n));
                    used = n;
                } else {
                    out += "\\ufffd";
                }
        }
        in.remove_prefix(used);
    }
}

std::string json_escape(std::string_view in) {
    std::string out;
    json_escape_to(out, in);
    return out;
}

std::string json_quote(std::string_view in) {
    std::string out;
    out.reserve(in.size() + 2);
    out += '"';
    json_escape_to(out, in);
    out += '"';
    return out;
}

std::string key_value_quote(std::string_view value) {
    bool plain = !value.empty();
    for (unsigned char c : value)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
    return plain ? std::string(value) : json_quote(value);
}

std::string json_path::str() const {
    std::string out = parent ? parent->str() : std::string();
    if (!parent && key.empty() && !index) return out;
    out += '/';
    if (index) return out + std::to_string(*index);
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

}  // namespace netkeep
