#pragma once
// Incremental HTTP/1.1 message parser: requests for the server, responses for the client.
//
// Pure: it never touches a socket. The caller feeds bytes as they arrive, in chunks of any
// size, and gets back one event at a time together with how many bytes that event used;
// unused bytes must be fed again (they belong to a later event, e.g. the next pipelined
// request). Body chunks are views into the bytes just fed, so a body of any size passes
// through without being copied or collected here.
//
// Limits are enforced while parsing, before anything is buffered: a head larger than
// `max_head_bytes` (request line + header fields + blank line) and a request target longer
// than `max_target_bytes` are errors of their own kind so the server can answer 431 / 414.
//
// The llhttp C parser stays inside parser.cpp; its error codes become a ParseError and a
// Status there, in one place.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

// The start line and header fields of one message.
struct MessageHead {
    std::string method;  // requests: "GET", "POST", ...
    std::string target;  // requests: the raw request target ("/a%20b?x=1")
    int status = 0;      // responses: 200, 404, ...
    std::string reason;  // responses: "OK"
    int version_major = 1;
    int version_minor = 1;
    Headers headers;
    bool keep_alive = true;  // from the version and the Connection field
    bool upgrade = false;    // the client asked to switch protocols; we never do
    bool chunked = false;
    std::optional<std::uint64_t> content_length;

    // A request whose body is neither chunked nor has a positive Content-Length has none.
    bool has_body() const { return chunked || content_length.value_or(0) > 0; }
    bool expects_continue() const;  // "Expect: 100-continue"
};

enum class ParseError {
    none,
    malformed,         // syntax error: answer 400
    head_too_large,    // answer 431
    target_too_large,  // answer 414
    unexpected_eof,    // finish() in the middle of a message
};

struct ParserLimits {
    std::size_t max_head_bytes = 16 * 1024;   // start line + header fields + blank line
    std::size_t max_target_bytes = 8 * 1024;  // request target as sent
};

class Parser {
public:
    enum class Kind { request, response };
    using Limits = ParserLimits;

    enum class Event {
        need_more,    // every byte fed was used; feed more
        head,         // head() is complete; the body (if any) follows
        body,         // Step::body holds the next piece of the body
        message_end,  // the message is complete; the next one may follow in the same bytes
        error,        // error() / error_status() explain; the parser is finished
    };

    struct Step {
        Event event = Event::need_more;
        std::size_t consumed = 0;  // bytes of the input this step used
        std::string_view body;     // Event::body: a view into the input just fed
    };

    explicit Parser(Kind kind, Limits limits = {});
    ~Parser();
    Parser(Parser&&) noexcept;
    Parser& operator=(Parser&&) noexcept;

    // Parses from the start of `data` until the next event. Never keeps a pointer into
    // `data` beyond the call, except through the returned Step::body.
    Step feed(std::string_view data);

    // The peer closed the connection. Completes a response whose body runs until EOF
    // (message_end); in the middle of any other message it is an unexpected_eof error;
    // between messages it is need_more (a clean close).
    Step finish();

    // Responses only: the request was HEAD (or the caller knows there is no body for
    // another reason). Must be called before the response's head is fed.
    void expect_no_body(bool value);

    const MessageHead& head() const;
    MessageHead take_head();

    ParseError error() const;
    const Status& error_status() const;

    // True between the first byte of a message and its message_end.
    bool in_message() const;

private:
    // The llhttp state keeps a pointer to its owner, so it lives on the heap where it stays
    // put when the Parser moves; this also keeps llhttp.h out of this header.
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace netkeep::http
