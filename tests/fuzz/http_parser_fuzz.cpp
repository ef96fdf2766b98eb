// Fuzz target: the HTTP/1.1 message parser (src/http/parser), as the server uses it.
//
// Input: [flags] [split seed] bytes...
//   flags bit 0: small limits (head 256 B, target 64 B) so the limit paths are reached;
//   flags bit 1: parse responses (the client side) instead of requests;
//   flags bit 2: responses: the request was HEAD (expect_no_body).
// The bytes are parsed twice, fed whole and cut into chunks as a client might send them;
// both runs must report the same messages, bodies and error. Each step is checked against
// the parser's contract (parser.hpp): consumed bytes within what was fed, need_more only
// once everything was used, bodies are views into the input, limits hold, a
// Content-Length body is exactly that long, an error is final.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "http/parser.hpp"

using netkeep::fuzz::Chunker;
using netkeep::http::MessageHead;
using netkeep::http::ParseError;
using netkeep::http::Parser;

namespace {

struct Message {
    std::string method, target, reason;
    int status = 0, major = 0, minor = 0;
    bool keep_alive = false, chunked = false, upgrade = false;
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::uint64_t> content_length;
    std::string body;
    bool ended = false;
    bool operator==(const Message&) const = default;
};

struct Transcript {
    std::vector<Message> messages;
    ParseError error = ParseError::none;
    bool operator==(const Transcript&) const = default;
};

class Run {
public:
    Run(Parser::Kind kind, Parser::Limits limits, bool no_body)
        : parser_(kind, limits), kind_(kind), limits_(limits) {
        if (kind == Parser::Kind::response) parser_.expect_no_body(no_body);
    }

    // Feeds one chunk the way Connection does: what a step did not use is fed again.
    // Returns false once the parser failed.
    bool feed(std::string_view chunk) {
        pending_.append(chunk);
        std::string_view rest = pending_;
        int idle_steps = 0;
        for (;;) {
            auto step = parser_.feed(rest);
            FUZZ_CHECK(step.consumed <= rest.size());
            if (!check_step(step, rest)) return false;
            rest.remove_prefix(step.consumed);
            if (step.event == Parser::Event::need_more) {
                // "every byte fed was used" (parser.hpp)
                FUZZ_CHECK(rest.empty());
                break;
            }
            // An event may use no bytes (message_end right after a head), but never forever.
            idle_steps = step.consumed == 0 ? idle_steps + 1 : 0;
            FUZZ_CHECK(idle_steps < 4);
        }
        pending_.erase(0, pending_.size() - rest.size());
        return true;
    }

    void finish() {
        if (failed_) return;
        for (int i = 0; i < 4; ++i) {
            auto step = parser_.finish();
            FUZZ_CHECK(step.consumed == 0);
            if (!check_step(step, {})) return;
            if (step.event == Parser::Event::need_more) {
                FUZZ_CHECK(!parser_.in_message());
                return;
            }
        }
        FUZZ_CHECK(!"finish() never settles");
    }

    const Transcript& transcript() const { return transcript_; }

private:
    // Checks and records one step; false once the parser failed.
    bool check_step(const Parser::Step& step, std::string_view fed) {
        switch (step.event) {
            case Parser::Event::need_more:
                break;
            case Parser::Event::head: {
                FUZZ_CHECK(!in_body_);
                const MessageHead& h = parser_.head();
                if (kind_ == Parser::Kind::request) {
                    FUZZ_CHECK(!h.method.empty());
                    // llhttp takes "METHOD SP LF" as an HTTP/0.9 request with an empty
                    // target; the server refuses that target (parse_target).
                    FUZZ_CHECK(!h.target.empty() || h.version_major == 0);
                    FUZZ_CHECK(h.target.size() <= limits_.max_target_bytes);
                }
                FUZZ_CHECK(!(h.chunked && h.content_length.has_value()));
                std::size_t header_bytes = 0;
                Message m;
                m.method = h.method, m.target = h.target, m.reason = h.reason;
                m.status = h.status, m.major = h.version_major, m.minor = h.version_minor;
                m.keep_alive = h.keep_alive, m.chunked = h.chunked, m.upgrade = h.upgrade;
                m.content_length = h.content_length;
                for (const auto& [name, value] : h.headers) {
                    header_bytes += name.size() + value.size();
                    m.headers.emplace_back(name, value);
                }
                // Nothing kept of the head can be larger than the head limit.
                FUZZ_CHECK(header_bytes + h.target.size() <= limits_.max_head_bytes);
                transcript_.messages.push_back(std::move(m));
                in_body_ = true;
                break;
            }
            case Parser::Event::body: {
                FUZZ_CHECK(in_body_);
                FUZZ_CHECK(!step.body.empty());
                // A view into the bytes just fed, within what the step says it used.
                FUZZ_CHECK(step.body.data() >= fed.data());
                FUZZ_CHECK(step.body.data() + step.body.size() <= fed.data() + step.consumed);
                auto& m = transcript_.messages.back();
                m.body.append(step.body);
                if (m.content_length) FUZZ_CHECK(m.body.size() <= *m.content_length);
                break;
            }
            case Parser::Event::message_end: {
                FUZZ_CHECK(in_body_);
                auto& m = transcript_.messages.back();
                // Responses may have no body whatever Content-Length says (HEAD, 204, 304),
                // nor does a request that upgrades (CONNECT, Upgrade): llhttp ends it after
                // its head and the server closes the connection after answering it.
                if (kind_ == Parser::Kind::request && !m.upgrade && m.content_length && !m.chunked)
                    FUZZ_CHECK(m.body.size() == *m.content_length);
                m.ended = true;
                in_body_ = false;
                break;
            }
            case Parser::Event::error: {
                FUZZ_CHECK(parser_.error() != ParseError::none);
                FUZZ_CHECK(!parser_.error_status().is_ok());
                transcript_.error = parser_.error();
                // An error is final: every later call reports it again and uses nothing.
                auto again = parser_.feed("GET / HTTP/1.1\r\n\r\n");
                FUZZ_CHECK(again.event == Parser::Event::error && again.consumed == 0);
                FUZZ_CHECK(parser_.finish().event == Parser::Event::error);
                FUZZ_CHECK(parser_.error() == transcript_.error);
                failed_ = true;
                return false;
            }
        }
        return true;
    }

    Parser parser_;
    Parser::Kind kind_;
    Parser::Limits limits_;
    std::string pending_;
    bool in_body_ = false;
    bool failed_ = false;
    Transcript transcript_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = data[0];
    const std::uint8_t seed = data[1];
    const std::string_view bytes = netkeep::fuzz::as_text(data + 2, size - 2);

    Parser::Limits limits;
    if (flags & 1) limits = {.max_head_bytes = 256, .max_target_bytes = 64};
    const auto kind = (flags & 2) ? Parser::Kind::response : Parser::Kind::request;
    const bool no_body = (flags & 4) != 0;

    Run whole(kind, limits, no_body);
    if (whole.feed(bytes)) whole.finish();

    Run chunked(kind, limits, no_body);
    Chunker chunker(bytes, seed);
    bool alive = true;
    while (alive && !chunker.done()) alive = chunked.feed(chunker.next());
    if (alive) chunked.finish();

    // How the bytes were cut must not change what was parsed. One exception: a target
    // that is both too long and malformed is reported as whichever llhttp sees first, and
    // llhttp hands the target over at the end of each piece fed (414 or 400: refused
    // either way).
    Transcript a = whole.transcript();
    Transcript b = chunked.transcript();
    auto either = [](ParseError e) {
        return e == ParseError::target_too_large ? ParseError::malformed : e;
    };
    if (either(a.error) == either(b.error)) b.error = a.error;
    FUZZ_CHECK(a == b);
    return 0;
}
