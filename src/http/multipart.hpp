#pragma once
// Incremental multipart/form-data parser (RFC 7578 on top of RFC 2046 section 5.1).
//
// Pure, like http::Parser: it never touches a socket or a file. The caller feeds the request
// body in chunks of any size, exactly as Body::read() hands them out, and gets back one
// event at a time together with how many bytes of the chunk that event used; unused bytes
// must be fed again. The loop is the same as for http::Parser:
//
//     for (;;) {
//         auto step = parser.feed(chunk);
//         chunk.remove_prefix(step.consumed);
//         ... handle step.event ...
//         if (step.event == Event::need_more || step.event == Event::error) break;
//     }
//     ... at the end of the body: Status s = parser.finish();
//
// Memory does not grow with the body or a part: part content is handed out as views, never
// collected. While the parser sees what may be the start of a boundary it holds those bytes
// back; they are always a prefix of "\r\n--boundary" (a CR only ever starts a delimiter,
// because a boundary cannot contain one), so they are handed out later as a view into the
// parser's copy of the delimiter and nothing is copied. What the parser does keep is bounded
// by the limits: the header block of the part being read and at most 73 held-back bytes.
//
// Accepted syntax, and what is deliberately not:
// - a preamble before the first boundary line and an epilogue after the closing one are
//   skipped (their size is the caller's body limit to enforce; they are not kept);
// - transport padding (spaces, tabs) after a boundary line is skipped; any other byte after
//   "--boundary" is an error, also inside a part (RFC 2046: the boundary must not occur in
//   the content, so "\r\n--boundaryX" is malformed, not content);
// - lines end with CRLF; a bare LF in a part's header block is an error, and a bare LF
//   never ends a part's content (it is content);
// - folded (obs-fold) header lines are an error, as RFC 7578 4.8 forbids them;
// - Content-Disposition must be "form-data" with a non-empty `name`; `filename` is optional.
//   Parameter values are tokens or quoted-strings with backslash escapes. `filename*`
//   (RFC 5987) is ignored: RFC 7578 4.2 says senders must not use it. Percent-encoding
//   that browsers apply to '"', CR and LF in names is not undone.
// - several parts with the same name are passed through; the caller decides.
// - the content of every part but Limits::unbounded_part is at most max_field_bytes, with or
//   without a filename.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

struct MultipartLimits {
    std::size_t max_parts = 16;
    // One part's header block: every header line with its CRLF, plus the blank line.
    std::size_t max_header_bytes = 8 * 1024;
    // Content of every part except the one named unbounded_part: a form field, whatever its
    // headers say. A `filename` parameter makes no difference, or any client could send a
    // field of any size by adding one.
    std::uint64_t max_field_bytes = 64 * 1024;
    // The name of the one part whose content is not limited here (an upload streamed to disk,
    // whose size the caller enforces itself). Empty: every part is limited.
    std::string unbounded_part;
};

// One part's header block, as given in its part_begin event.
struct MultipartPart {
    std::string name;                         // Content-Disposition name, never empty
    std::optional<std::string> filename;      // Content-Disposition filename, if given
    std::optional<std::string> content_type;  // the Content-Type field, trimmed, if given
    Headers headers;                          // every header field of the part, as sent

    bool is_file() const { return filename.has_value(); }
};

class MultipartParser {
public:
    using Limits = MultipartLimits;

    enum class Event {
        need_more,   // every byte fed was used; feed more
        part_begin,  // part() describes the part whose content follows
        part_data,   // Step::data holds the next piece of the current part's content
        part_end,    // the current part's content is complete
        body_end,    // the closing boundary was read; the rest of the body is ignored
        error,       // error_status() explains; every later call reports it again
    };

    struct Step {
        Event event = Event::need_more;
        std::size_t consumed = 0;  // bytes of the input this step used
        // Event::part_data only, never empty. A view into the input just fed, or into the
        // parser itself (bytes held back earlier); valid until the next call of feed() or
        // finish(), and only while the parser is neither moved nor destroyed.
        std::string_view data;
    };

    // `boundary` as returned by multipart_boundary(). An invalid boundary does not throw:
    // the parser starts in the error state and feed() reports it.
    explicit MultipartParser(std::string_view boundary, Limits limits = {});

    // Parses from the start of `data` until the next event. Keeps no pointer into `data`
    // beyond the call, except through the returned Step::data.
    Step feed(std::string_view data);

    // The body has ended. Ok once the closing boundary has been read (body_end); otherwise an
    // invalid_argument error (the body was cut short) that later calls report again.
    Status finish();

    // The part of the latest part_begin event; stays valid until the next part_begin.
    const MultipartPart& part() const { return part_; }

    const Status& error_status() const { return status_; }
    bool failed() const { return phase_ == Phase::failed; }

    // Bytes of input consumed but neither handed out nor dropped yet: held-back delimiter
    // bytes and the unfinished header line. Stays below the delimiter's length (at most
    // 74) while a part's content streams, and within max_header_bytes in its header block.
    std::size_t buffered_bytes() const;

private:
    enum class Phase {
        preamble,       // before the first boundary line: bytes are skipped
        boundary_line,  // after "--boundary": padding and CRLF, or "--"
        headers,        // a part's header block
        content,        // a part's content, until the next delimiter
        epilogue,       // after the closing boundary: bytes are skipped
        failed,
    };
    enum class LineState { start, dash, padding, cr };

    // Handlers for one phase. Each one either uses at least one byte of `data` or returns an
    // event, so feed() always makes progress. Event::need_more means "no event yet".
    Step scan_delimiter(std::string_view data);
    Step read_boundary_line(std::string_view data);
    Step read_headers(std::string_view data);
    Step emit_content(std::string_view content, std::size_t consumed);
    Step end_of_headers(std::size_t consumed);
    Status add_header_line(std::string_view line);
    Step fail(Status status);

    Limits limits_;
    std::string delimiter_;  // "\r\n--" + boundary
    Phase phase_ = Phase::preamble;
    // How many bytes of delimiter_ the input seen last ended with. In the preamble it starts
    // at 2: the CRLF before the first boundary line is optional (RFC 2046 5.1.1).
    std::size_t matched_ = 2;
    LineState line_state_ = LineState::start;
    std::string header_line_;       // the header line being read, without its line end
    std::size_t header_bytes_ = 0;  // of the current header block, counted as read
    MultipartPart next_part_;       // filled while its header block is read
    MultipartPart part_;
    std::size_t parts_ = 0;
    std::uint64_t content_bytes_ = 0;  // of the current part, as handed out
    bool part_bounded_ = true;         // the current part is held to max_field_bytes
    Status status_;
};

// The boundary parameter of a Content-Type field value such as
// `multipart/form-data; boundary="abc"` (media type and parameter names case-insensitive,
// value a token or a quoted-string). invalid_argument when the media type is not
// multipart/form-data, or the boundary is missing, repeated, or not 1..70 characters of
// RFC 2046's bchars (letters, digits, '()+_,-./:=? and space, not ending in a space).
Result<std::string> multipart_boundary(std::string_view content_type);

// The RFC 2046 rule used above, for a boundary from elsewhere.
bool is_valid_multipart_boundary(std::string_view boundary);

}  // namespace netkeep::http
