#pragma once
// Line-ending and escape-code helpers the fake-device tests share: what a terminal sends
// ("\r\n", CSI codes) against the plain text the fixtures hold.

#include <string>
#include <string_view>

namespace netkeep::fake_device::test {

// "\n" → "\r\n", as the device sends lines.
inline std::string crlf(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// "\r\n" → "\n".
inline std::string lf(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
        out += text[i];
    }
    return out;
}

// CSI (ESC [ ... final byte) sequences removed, as a worker with strip_ansi does.
inline std::string strip_ansi(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
            i += 2;
            while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
            continue;
        }
        out += text[i];
    }
    return out;
}

inline std::string numbered_lines(int n) {
    std::string text;
    for (int i = 1; i <= n; ++i) text += "line " + std::to_string(i) + "\n";
    return text;
}

}  // namespace netkeep::fake_device::test
