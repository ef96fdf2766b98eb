#pragma once
// Syslog messages as bytes: the header of RFC 5424 and of RFC 3164 (BSD syslog, as
// network devices send it), and the two TCP framings of RFC 6587. Pure: no sockets, no
// clock, no allocation of the message (views into the bytes given); the listener
// (syslog/listener.hpp) does the I/O and the fuzz target (tests/fuzz/syslog_fuzz.cpp)
// feeds these functions whatever it likes. docs/syslog.md describes what is accepted.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace netkeep::syslog {

// The largest message accepted over UDP, and the largest TCP frame (docs/syslog.md).
inline constexpr std::size_t k_max_datagram = 8 * 1024;
inline constexpr std::size_t k_max_frame = 64 * 1024;

struct Message {
    enum class Format : std::uint8_t { rfc5424, rfc3164, bare };
    Format format = Format::bare;
    int priority = -1;          // PRI (facility * 8 + severity), -1 when absent
    std::string_view hostname;  // empty when absent or "-"
    std::string_view app;       // RFC 5424 APP-NAME or RFC 3164 TAG; may be empty
    // The rest: RFC 5424's MSGID, STRUCTURED-DATA and MSG (the patterns of some platforms
    // read the MSGID and structured data: JunOS "UI_COMMIT [junos@... username=...]"),
    // RFC 3164's CONTENT (its TAG included), or every byte of a message without a header.
    std::string_view text;
};

// Never fails: a message whose header does not parse is Format::bare, its text all of
// it (devices send odd headers; the patterns still get a chance). Every view points into
// `bytes`. Trailing CR, LF and NUL bytes are not part of the text.
Message parse_message(std::string_view bytes);

// RFC 6587 framing of a TCP stream: octet counting ("LEN SP MSG", LEN a decimal without
// leading zero) when a frame starts with a digit 1-9, else non-transparent framing (the
// message ends at LF; a CR before it is dropped). Frames are handed out whole, at most
// `max_frame` bytes; a frame that would be longer, or a count that is not a number, makes
// the stream bad (the listener then closes the connection). Buffers at most max_frame
// plus the count's digits, whatever the input.
class Framer {
public:
    explicit Framer(std::size_t max_frame = k_max_frame) : max_frame_(max_frame) {}

    // Feeds a piece of the stream; calls on_frame for each frame completed, in order.
    // Returns false once the stream is bad (then and afterwards nothing more is framed).
    bool feed(std::string_view bytes, const std::function<void(std::string_view)>& on_frame);
    // The stream ended: a non-transparent frame without its LF is still a frame (many
    // senders close right after the last message); a partial octet-counted one is not.
    void finish(const std::function<void(std::string_view)>& on_frame);

    bool bad() const { return bad_; }
    std::size_t buffered() const { return buffer_.size(); }

private:
    enum class State : std::uint8_t { start, count, counted, line };
    bool step(char c);

    std::size_t max_frame_;
    State state_ = State::start;
    std::size_t want_ = 0;  // octet counting: bytes of the frame still to come
    std::string buffer_;
    bool bad_ = false;
};

}  // namespace netkeep::syslog
