// Syslog headers and TCP framing (syslog/message.hpp).

#include "syslog/message.hpp"

#include <algorithm>
#include <array>

namespace netkeep::syslog {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Printable US-ASCII without space: what RFC 5424 allows in its header fields.
bool is_printusascii(char c) { return c > 0x20 && c < 0x7f; }

std::string_view trim_end(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '\0'))
        s.remove_suffix(1);
    return s;
}

// "<PRI>": 1 to 3 digits, at most 191. The rest after it, or nullopt.
std::optional<std::string_view> take_priority(std::string_view s, int& priority) {
    if (s.size() < 3 || s[0] != '<') return std::nullopt;
    std::size_t i = 1;
    int value = 0;
    while (i < s.size() && i <= 4 && is_digit(s[i])) value = value * 10 + (s[i++] - '0');
    if (i == 1 || i > 4 || i >= s.size() || s[i] != '>' || value > 191) return std::nullopt;
    if (i > 2 && s[1] == '0') return std::nullopt;  // no leading zero (but "<0>" is fine)
    priority = value;
    return s.substr(i + 1);
}

// The next token up to a space (or the end); `s` then starts after that space.
std::string_view take_token(std::string_view& s) {
    std::size_t sp = s.find(' ');
    std::string_view token = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
    return token;
}

bool header_field(std::string_view token, std::size_t max) {
    return !token.empty() && token.size() <= max &&
           std::all_of(token.begin(), token.end(), is_printusascii);
}

// RFC 5424 after PRI: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
// then STRUCTURED-DATA [SP MSG], all kept as text.
std::optional<Message> parse_5424(std::string_view rest, int priority) {
    std::string_view s = rest;
    std::string_view version = take_token(s);
    if (version.empty() || version.size() > 3 || version[0] == '0' ||
        !std::all_of(version.begin(), version.end(), is_digit))
        return std::nullopt;
    std::array<std::string_view, 4> fields;  // timestamp, hostname, app, procid
    const std::array<std::size_t, 4> max{64, 255, 48, 128};
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (s.empty()) return std::nullopt;
        fields[i] = take_token(s);
        if (!header_field(fields[i], max[i])) return std::nullopt;
    }
    // MSGID stays in the text: it names the event (JunOS: "UI_COMMIT [junos@... ]").
    std::string_view probe = s;
    if (!header_field(take_token(probe), 32)) return std::nullopt;
    Message m;
    m.format = Message::Format::rfc5424;
    m.priority = priority;
    m.hostname = fields[1] == "-" ? std::string_view() : fields[1];
    m.app = fields[2] == "-" ? std::string_view() : fields[2];
    m.text = s;
    return m;
}

constexpr std::array<std::string_view, 12> k_months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// "Mmm dd hh:mm:ss" (day padded with a space or a zero), then one space: its length.
std::size_t bsd_timestamp(std::string_view s) {
    if (s.size() < 16) return 0;
    if (std::find(k_months.begin(), k_months.end(), s.substr(0, 3)) == k_months.end()) return 0;
    const std::string_view t = s.substr(3, 13);  // " dd hh:mm:ss "
    const bool ok = t[0] == ' ' && (t[1] == ' ' || is_digit(t[1])) && is_digit(t[2]) &&
                    t[3] == ' ' && is_digit(t[4]) && is_digit(t[5]) && t[6] == ':' &&
                    is_digit(t[7]) && is_digit(t[8]) && t[9] == ':' && is_digit(t[10]) &&
                    is_digit(t[11]) && t[12] == ' ';
    return ok ? 16 : 0;
}

// "2023-11-14T22:13:20Z" and the like (rsyslog's RFC 3339 dates in a BSD header): the
// token's length plus its space.
std::size_t iso_timestamp(std::string_view s) {
    if (s.size() < 20 || !is_digit(s[0]) || !is_digit(s[3]) || s[4] != '-' || s[10] != 'T')
        return 0;
    std::size_t sp = s.find(' ');
    if (sp == std::string_view::npos || sp > 40) return 0;
    return sp + 1;
}

// RFC 3164 after PRI: TIMESTAMP SP HOSTNAME SP CONTENT (the TAG is the start of CONTENT).
// A token after the timestamp that ends in ':' or holds '[' is a tag: the sender left out
// its hostname (as some do).
std::optional<Message> parse_3164(std::string_view rest, int priority) {
    std::size_t skip = bsd_timestamp(rest);
    if (skip == 0) skip = iso_timestamp(rest);
    if (skip == 0) return std::nullopt;
    std::string_view s = rest.substr(skip);
    Message m;
    m.format = Message::Format::rfc3164;
    m.priority = priority;
    std::string_view probe = s;
    std::string_view first = take_token(probe);
    // ',' too: RouterOS sends its topics ("system,info") where the hostname would be.
    const bool is_tag =
        first.empty() || first.back() == ':' || first.find_first_of("[,") != std::string_view::npos;
    if (!is_tag && header_field(first, 255)) {
        m.hostname = first;
        s = probe;
    }
    m.text = s;
    // The tag: up to '[' or ':' within the first 48 bytes.
    std::size_t end = s.find_first_of("[: ");
    if (end != std::string_view::npos && end <= 48 && end < s.size() && s[end] != ' ')
        m.app = s.substr(0, end);
    return m;
}

}  // namespace

Message parse_message(std::string_view bytes) {
    bytes = trim_end(bytes);
    Message bare;
    bare.text = bytes;
    int priority = -1;
    auto rest = take_priority(bytes, priority);
    if (!rest) return bare;
    if (auto m = parse_5424(*rest, priority)) return *m;
    if (auto m = parse_3164(*rest, priority)) return *m;
    bare.priority = priority;
    bare.text = *rest;
    return bare;
}

bool Framer::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_frame) {
    while (!bad_ && !bytes.empty()) {
        switch (state_) {
            case State::start:
            case State::count:
                // One byte at a time: a count is at most a few digits.
                if (!step(bytes.front())) bad_ = true;
                bytes.remove_prefix(1);
                break;
            case State::counted: {
                const std::size_t n = std::min(want_, bytes.size());
                buffer_.append(bytes.substr(0, n));
                bytes.remove_prefix(n);
                want_ -= n;
                if (want_ == 0) {
                    on_frame(buffer_);
                    buffer_.clear();
                    state_ = State::start;
                }
                break;
            }
            case State::line: {
                const std::size_t lf = bytes.find('\n');
                const std::size_t n = std::min(lf, bytes.size());
                if (buffer_.size() + n > max_frame_) {
                    bad_ = true;
                    break;
                }
                buffer_.append(bytes.substr(0, n));
                bytes.remove_prefix(n);
                if (lf != std::string_view::npos) {
                    bytes.remove_prefix(1);
                    std::string_view frame = buffer_;
                    if (!frame.empty() && frame.back() == '\r') frame.remove_suffix(1);
                    on_frame(frame);
                    buffer_.clear();
                    state_ = State::start;
                }
                break;
            }
        }
    }
    if (bad_) buffer_.clear();
    return !bad_;
}

// The start of a frame and the digits of a count.
bool Framer::step(char c) {
    if (state_ == State::start) {
        if (c == '\n') return true;  // an empty line between frames: nothing
        if (c >= '1' && c <= '9') {
            state_ = State::count;
            want_ = std::size_t(c - '0');
            return true;
        }
        state_ = State::line;
        buffer_.assign(1, c);
        return true;
    }
    // State::count
    if (is_digit(c)) {
        want_ = want_ * 10 + std::size_t(c - '0');
        return want_ <= max_frame_;
    }
    if (c != ' ') return false;
    state_ = State::counted;
    if (want_ == 0) state_ = State::start;
    return true;
}

void Framer::finish(const std::function<void(std::string_view)>& on_frame) {
    if (!bad_ && state_ == State::line && !buffer_.empty()) {
        std::string_view frame = buffer_;
        if (frame.back() == '\r') frame.remove_suffix(1);
        on_frame(frame);
    }
    buffer_.clear();
    state_ = State::start;
}

}  // namespace netkeep::syslog
