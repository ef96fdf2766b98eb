#include "http/parser.hpp"

#include <llhttp.h>

#include <fmt/format.h>

namespace netkeep::http {

bool MessageHead::expects_continue() const {
    auto expect = headers.get("Expect");
    return expect && iequals(trim_ows(*expect), "100-continue");
}

struct Parser::State {
    enum class Phase {
        idle,    // between messages: counting toward the head limit starts here
        head,    // inside the start line or header fields
        body,    // after the head, until message_end
        failed,  // an error was reported; every later call reports it again
    };

    llhttp_t parser{};
    // llhttp keeps a pointer to its settings, so they live exactly as long as the parser.
    llhttp_settings_t settings{};

    Kind kind;
    Limits limits;
    Phase phase = Phase::idle;
    std::size_t head_bytes = 0;
    bool no_body = false;
    bool pending_message_end = false;

    MessageHead head;
    std::string field;
    std::string value;

    // Set by the callbacks during one llhttp_execute() call.
    bool got_head = false;
    bool got_message_end = false;
    std::string_view body;
    ParseError callback_error = ParseError::none;
    std::string_view callback_reason;

    ParseError error = ParseError::none;
    Status error_status;

    State(Kind k, Limits l) : kind(k), limits(l) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = &State::on_message_begin;
        settings.on_url = &State::on_url;
        settings.on_status = &State::on_status;
        settings.on_header_field = &State::on_header_field;
        settings.on_header_value = &State::on_header_value;
        settings.on_header_value_complete = &State::on_header_value_complete;
        settings.on_headers_complete = &State::on_headers_complete;
        settings.on_body = &State::on_body;
        settings.on_message_complete = &State::on_message_complete;
        llhttp_init(&parser, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
        parser.data = this;
    }

    static State& self(llhttp_t* p) { return *static_cast<State*>(p->data); }

    static int on_message_begin(llhttp_t* p) {
        auto& s = self(p);
        s.head = MessageHead{};
        s.field.clear();
        s.value.clear();
        s.phase = Phase::head;
        return 0;
    }

    static int on_url(llhttp_t* p, const char* at, std::size_t len) {
        auto& s = self(p);
        if (s.head.target.size() + len > s.limits.max_target_bytes) {
            s.callback_error = ParseError::target_too_large;
            return -1;
        }
        s.head.target.append(at, len);
        return 0;
    }

    static int on_status(llhttp_t* p, const char* at, std::size_t len) {
        self(p).head.reason.append(at, len);
        return 0;
    }

    // Field and value spans may arrive in pieces (split across feeds); a field is complete
    // when its value is.
    static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
        auto& s = self(p);
        if (s.phase == Phase::head) s.field.append(at, len);
        return 0;
    }

    static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
        auto& s = self(p);
        if (s.phase == Phase::head) s.value.append(at, len);
        return 0;
    }

    static int on_header_value_complete(llhttp_t* p) {
        auto& s = self(p);
        // llhttp 8 lets spaces into field names ("Content-Length : 5"); RFC 9112 5.1 says to
        // reject them, and a name one peer reads differently from another is how requests
        // get smuggled.
        if (s.phase == Phase::head && !is_token(s.field)) {
            s.callback_error = ParseError::malformed;
            s.callback_reason = "invalid header field name";
            return -1;
        }
        // Trailer fields of a chunked body arrive after the head was handed out: drop them.
        if (s.phase == Phase::head)
            s.head.headers.add(std::move(s.field), std::string(trim_ows(s.value)));
        s.field.clear();
        s.value.clear();
        return 0;
    }

    static int on_headers_complete(llhttp_t* p) {
        auto& s = self(p);
        auto& h = s.head;
        if (s.kind == Kind::request) {
            h.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
        } else {
            h.status = llhttp_get_status_code(p);
        }
        h.version_major = llhttp_get_http_major(p);
        h.version_minor = llhttp_get_http_minor(p);
        h.keep_alive = llhttp_should_keep_alive(p) != 0;
        h.upgrade = llhttp_get_upgrade(p) != 0;
        h.chunked = (p->flags & F_CHUNKED) != 0;
        if ((p->flags & F_CONTENT_LENGTH) != 0) h.content_length = p->content_length;
        s.got_head = true;
        // 1 = "this message has no body": llhttp then completes it at once. Otherwise pause so
        // the caller sees the head before any body byte.
        if (s.kind == Kind::response && s.no_body) return 1;
        return HPE_PAUSED;
    }

    // llhttp documents only 0/-1/HPE_USER for data callbacks, but its generated code (8.x)
    // stores the next state before returning any non-zero code, so HPE_PAUSED resumes
    // correctly; the split-at-every-byte tests in tests/unit/http keep us honest.
    static int on_body(llhttp_t* p, const char* at, std::size_t len) {
        if (len == 0) return 0;
        self(p).body = std::string_view(at, len);
        return HPE_PAUSED;
    }

    static int on_message_complete(llhttp_t* p) {
        self(p).got_message_end = true;
        return HPE_PAUSED;
    }

    // The one place where llhttp's error codes become ours.
    void fail(llhttp_errno_t code) {
        phase = Phase::failed;
        if (callback_error != ParseError::none) {
            error = callback_error;
        } else if (code == HPE_INVALID_EOF_STATE) {
            error = ParseError::unexpected_eof;
        } else {
            error = ParseError::malformed;
        }
        const char* what = kind == Kind::request ? "request" : "response";
        switch (error) {
            case ParseError::head_too_large:
                error_status = Status::too_large(
                    fmt::format("{} header block exceeds {} bytes", what, limits.max_head_bytes));
                break;
            case ParseError::target_too_large:
                error_status = Status::too_large(
                    fmt::format("request target exceeds {} bytes", limits.max_target_bytes));
                break;
            case ParseError::unexpected_eof:
                error_status =
                    Status::io_error(fmt::format("connection closed in the middle of a {}", what));
                break;
            case ParseError::malformed:
            case ParseError::none: {
                std::string_view reason;
                if (!callback_reason.empty()) {
                    reason = callback_reason;
                } else if (code == HPE_PAUSED_H2_UPGRADE) {
                    reason = "HTTP/2 is not supported";
                } else if (code == HPE_PAUSED_UPGRADE) {
                    reason = "protocol upgrade is not supported";
                } else if (const char* r = llhttp_get_error_reason(&parser); r != nullptr) {
                    reason = r;
                } else {
                    reason = llhttp_errno_name(code);
                }
                error_status =
                    Status::invalid_argument(fmt::format("malformed {}: {}", what, reason));
                break;
            }
        }
    }

    void fail_head_too_large() {
        callback_error = ParseError::head_too_large;
        fail(HPE_USER);
    }

    Step report_failure(std::size_t consumed) const { return {Event::error, consumed, {}}; }
};

Parser::Parser(Kind kind, Limits limits) : state_(std::make_unique<State>(kind, limits)) {}
Parser::~Parser() = default;
Parser::Parser(Parser&&) noexcept = default;
Parser& Parser::operator=(Parser&&) noexcept = default;

Parser::Step Parser::feed(std::string_view data) {
    auto& s = *state_;
    if (s.phase == State::Phase::failed) return s.report_failure(0);
    if (s.pending_message_end) {
        s.pending_message_end = false;
        s.phase = State::Phase::idle;
        s.head_bytes = 0;
        return {Event::message_end, 0, {}};
    }

    // While in the head, hand llhttp at most one byte more than the limit: that is enough to
    // tell "too large" apart without ever accumulating more than the limit.
    std::string_view slice = data;
    const bool counting = s.phase != State::Phase::body;
    if (counting) {
        std::size_t allowance = s.limits.max_head_bytes + 1 - s.head_bytes;
        if (slice.size() > allowance) slice = slice.substr(0, allowance);
    }

    s.got_head = false;
    s.got_message_end = false;
    s.body = {};
    s.callback_error = ParseError::none;
    s.callback_reason = {};

    auto code = llhttp_execute(&s.parser, slice.data(), slice.size());
    std::size_t consumed = slice.size();
    if (code == HPE_PAUSED) {
        consumed = static_cast<std::size_t>(llhttp_get_error_pos(&s.parser) - slice.data());
        llhttp_resume(&s.parser);
    } else if (code != HPE_OK) {
        const char* pos = llhttp_get_error_pos(&s.parser);
        consumed = pos != nullptr && pos >= slice.data() && pos <= slice.data() + slice.size()
                       ? static_cast<std::size_t>(pos - slice.data())
                       : slice.size();
        s.fail(code);
        return s.report_failure(consumed);
    }
    if (counting) s.head_bytes += consumed;
    if (counting && s.head_bytes > s.limits.max_head_bytes) {
        s.fail_head_too_large();
        return s.report_failure(consumed);
    }

    if (s.got_head) {
        s.phase = State::Phase::body;
        if (s.got_message_end) s.pending_message_end = true;
        return {Event::head, consumed, {}};
    }
    if (!s.body.empty()) return {Event::body, consumed, s.body};
    if (s.got_message_end) {
        s.phase = State::Phase::idle;
        s.head_bytes = 0;
        return {Event::message_end, consumed, {}};
    }
    return {Event::need_more, consumed, {}};
}

Parser::Step Parser::finish() {
    auto& s = *state_;
    if (s.phase == State::Phase::failed) return s.report_failure(0);
    if (s.pending_message_end) return feed({});
    s.got_message_end = false;
    s.callback_error = ParseError::none;
    auto code = llhttp_finish(&s.parser);
    if (code == HPE_PAUSED || s.got_message_end) {
        llhttp_resume(&s.parser);
        // llhttp_finish() leaves llhttp in its "the body ends at EOF" state, so a second
        // finish() would complete the same message again; the stream is over: start clean.
        llhttp_reset(&s.parser);
        s.phase = State::Phase::idle;
        s.head_bytes = 0;
        return {Event::message_end, 0, {}};
    }
    if (code != HPE_OK) {
        s.fail(code);
        return s.report_failure(0);
    }
    if (s.phase != State::Phase::idle) {
        s.fail(HPE_INVALID_EOF_STATE);
        return s.report_failure(0);
    }
    return {Event::need_more, 0, {}};
}

void Parser::expect_no_body(bool value) { state_->no_body = value; }

const MessageHead& Parser::head() const { return state_->head; }
MessageHead Parser::take_head() { return std::move(state_->head); }

ParseError Parser::error() const { return state_->error; }
const Status& Parser::error_status() const { return state_->error_status; }

bool Parser::in_message() const {
    return state_->phase == State::Phase::head || state_->phase == State::Phase::body;
}

}  // namespace netkeep::http
