// Fuzz target: the multipart/form-data stream parser (src/http/multipart), fed the way
// POST /worker/complete feeds it: a request body in chunks of any size.
//
// Input: [flags] [split seed] BOUNDARY-LINE '\n' body...
//   flags bit 0: small limits (3 parts, 64-byte header blocks, 16-byte fields);
//   flags bit 1: BOUNDARY-LINE is a Content-Type value, read with multipart_boundary();
//                otherwise it is the boundary itself (an invalid one must fail at once).
// The body is parsed fed whole and cut into chunks; both runs must agree on every
// completed part and on the outcome. Each step is checked against multipart.hpp: consumed
// bytes within what was fed, part data never empty, no delimiter inside a part's content,
// fields within their limit, at most max_parts parts, bounded buffering, events in order,
// an error is final.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/multipart.hpp"

using netkeep::Status;
using netkeep::fuzz::Chunker;
using netkeep::http::MultipartParser;

namespace {

struct Part {
    std::string name;
    std::optional<std::string> filename;
    std::optional<std::string> content_type;
    std::string content;
    bool operator==(const Part&) const = default;
};

struct Outcome {
    std::vector<Part> parts;  // completed ones (part_end seen)
    bool body_end = false;
    bool failed = false;
    Status::Code code = Status::Code::ok;
    bool operator==(const Outcome&) const = default;
};

class Run {
public:
    Run(std::string_view boundary, MultipartParser::Limits limits)
        : parser_(boundary, limits),
          limits_(limits),
          delimiter_("\r\n--" + std::string(boundary)) {}

    // Returns false once the parser failed.
    bool feed(std::string_view chunk) {
        std::string_view rest = chunk;
        int idle_steps = 0;
        for (;;) {
            auto step = parser_.feed(rest);
            FUZZ_CHECK(step.consumed <= rest.size());
            rest.remove_prefix(step.consumed);
            idle_steps = step.consumed == 0 ? idle_steps + 1 : 0;
            FUZZ_CHECK(idle_steps < 3);
            check_buffering();
            switch (step.event) {
                case MultipartParser::Event::need_more:
                    FUZZ_CHECK(rest.empty());  // "every byte fed was used"
                    return true;
                case MultipartParser::Event::part_begin: {
                    FUZZ_CHECK(!in_part_ && !outcome_.body_end);
                    const auto& p = parser_.part();
                    FUZZ_CHECK(!p.name.empty());
                    FUZZ_CHECK(p.is_file() == p.filename.has_value());
                    FUZZ_CHECK(++parts_ <= limits_.max_parts);
                    current_ = Part{p.name, p.filename, p.content_type, {}};
                    in_part_ = true;
                    break;
                }
                case MultipartParser::Event::part_data: {
                    FUZZ_CHECK(in_part_);
                    FUZZ_CHECK(!step.data.empty());
                    // RFC 2046: the delimiter never occurs inside a part's content. Only
                    // the new bytes and the tail before them can hold a new occurrence.
                    const std::size_t before = current_.content.size();
                    current_.content.append(step.data);
                    const std::size_t from =
                        before >= delimiter_.size() ? before - delimiter_.size() + 1 : 0;
                    FUZZ_CHECK(current_.content.find(delimiter_, from) == std::string::npos);
                    // Only the part the caller names is unbounded; a filename lifts nothing.
                    if (limits_.unbounded_part.empty() || current_.name != limits_.unbounded_part)
                        FUZZ_CHECK(current_.content.size() <= limits_.max_field_bytes);
                    break;
                }
                case MultipartParser::Event::part_end:
                    FUZZ_CHECK(in_part_);
                    outcome_.parts.push_back(std::move(current_));
                    current_ = {};
                    in_part_ = false;
                    break;
                case MultipartParser::Event::body_end:
                    FUZZ_CHECK(!in_part_ && !outcome_.body_end);
                    outcome_.body_end = true;
                    break;
                case MultipartParser::Event::error:
                    record_failure();
                    return false;
            }
        }
    }

    void finish() {
        Status st = parser_.finish();
        FUZZ_CHECK(st.is_ok() == outcome_.body_end);
        if (!st) record_failure();
        // After the closing boundary the epilogue is ignored, whatever it holds.
        if (outcome_.body_end) {
            auto step = parser_.feed("\r\n--x\r\n");
            FUZZ_CHECK(step.event == MultipartParser::Event::need_more && step.consumed == 7);
            FUZZ_CHECK(parser_.finish().is_ok());
        }
    }

    const Outcome& outcome() const { return outcome_; }

private:
    void check_buffering() const {
        // multipart.hpp: at most the delimiter's length while content streams, and within
        // max_header_bytes in a header block.
        FUZZ_CHECK(parser_.buffered_bytes() <=
                   std::max(delimiter_.size(), limits_.max_header_bytes));
    }

    void record_failure() {
        FUZZ_CHECK(parser_.failed());
        FUZZ_CHECK(!parser_.error_status().is_ok());
        outcome_.failed = true;
        outcome_.code = parser_.error_status().code();
        // An error is final.
        auto again = parser_.feed("--");
        FUZZ_CHECK(again.event == MultipartParser::Event::error && again.consumed == 0);
        FUZZ_CHECK(!parser_.finish().is_ok());
    }

    MultipartParser parser_;
    MultipartParser::Limits limits_;
    std::string delimiter_;
    Outcome outcome_;
    Part current_;
    bool in_part_ = false;
    std::size_t parts_ = 0;
};

Outcome parse(std::string_view boundary, MultipartParser::Limits limits, std::string_view body,
              std::optional<std::uint8_t> seed) {
    Run run(boundary, limits);
    bool alive = true;
    if (!seed) {
        alive = run.feed(body);
    } else {
        Chunker chunker(body, *seed);
        while (alive && !chunker.done()) alive = run.feed(chunker.next());
    }
    if (alive) run.finish();
    return run.outcome();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = data[0];
    const std::uint8_t seed = data[1];
    std::string_view rest = netkeep::fuzz::as_text(data + 2, size - 2);
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return 0;
    const std::string_view line = rest.substr(0, nl);
    const std::string_view body = rest.substr(nl + 1);

    MultipartParser::Limits limits;
    if (flags & 1)
        limits = {
            .max_parts = 3, .max_header_bytes = 64, .max_field_bytes = 16, .unbounded_part = {}};
    if (flags & 4) limits.unbounded_part = "file";

    std::string boundary(line);
    if (flags & 2) {
        auto parsed = netkeep::http::multipart_boundary(line);
        if (!parsed) {
            FUZZ_CHECK(parsed.status().code() == Status::Code::invalid_argument);
            return 0;
        }
        FUZZ_CHECK(netkeep::http::is_valid_multipart_boundary(*parsed));
        boundary = *parsed;
    } else if (!netkeep::http::is_valid_multipart_boundary(boundary)) {
        // An invalid boundary puts the parser in the error state from the start.
        MultipartParser parser(boundary, limits);
        FUZZ_CHECK(parser.failed());
        FUZZ_CHECK(parser.feed(body).event == MultipartParser::Event::error);
        return 0;
    }

    const Outcome whole = parse(boundary, limits, body, std::nullopt);
    const Outcome chunked = parse(boundary, limits, body, seed);
    FUZZ_CHECK(whole == chunked);
    return 0;
}
