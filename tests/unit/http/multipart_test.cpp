// The multipart/form-data parser, fed the same bodies cut in every possible way: what it
// hands out must never depend on where TCP (or Body::read) happened to split the stream,
// and what it keeps must not grow with the body.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "http/multipart.hpp"

using namespace netkeep::http;
using netkeep::Status;
using Event = MultipartParser::Event;

namespace {

struct Part {
    std::string name;
    std::optional<std::string> filename;
    std::optional<std::string> content_type;
    std::string content;
    bool ended = true;

    bool operator==(const Part&) const = default;
};

struct Outcome {
    std::vector<Part> parts;
    bool body_end = false;
    Status status;  // the first error, else what finish() said
    // The most the parser held while a part's content streamed.
    std::size_t max_content_buffered = 0;
};

// Feeds `chunks` in order with the loop the header documents, checking the event order
// and that no part_data view is larger than what could come from the chunk or the parser's
// held-back delimiter prefix (so nothing is being accumulated).
Outcome run(MultipartParser& parser, const std::vector<std::string_view>& chunks,
            std::size_t boundary_size, bool finish = true) {
    Outcome out;
    auto open = [&] { return !out.parts.empty() && !out.parts.back().ended; };
    for (auto chunk : chunks) {
        for (;;) {
            const std::size_t chunk_size = chunk.size();
            auto step = parser.feed(chunk);
            REQUIRE(step.consumed <= chunk.size());
            chunk.remove_prefix(step.consumed);
            switch (step.event) {
                case Event::part_begin:
                    REQUIRE(!out.body_end);
                    REQUIRE(!open());
                    out.parts.push_back({parser.part().name,
                                         parser.part().filename,
                                         parser.part().content_type,
                                         {},
                                         false});
                    break;
                case Event::part_data:
                    REQUIRE(open());
                    REQUIRE(!step.data.empty());
                    REQUIRE(step.data.size() <= std::max(chunk_size, boundary_size + 4));
                    out.parts.back().content += step.data;
                    break;
                case Event::part_end:
                    REQUIRE(open());
                    out.parts.back().ended = true;
                    break;
                case Event::body_end:
                    REQUIRE(!out.body_end);
                    REQUIRE(!open());
                    out.body_end = true;
                    break;
                case Event::error:
                    out.status = parser.error_status();
                    REQUIRE(!out.status.is_ok());
                    return out;
                case Event::need_more:
                    REQUIRE(chunk.empty());
                    break;
            }
            if (open()) {
                out.max_content_buffered =
                    std::max(out.max_content_buffered, parser.buffered_bytes());
            }
            if (step.event == Event::need_more) break;
        }
    }
    if (finish) out.status = parser.finish();
    return out;
}

Outcome run(std::string_view boundary, const std::vector<std::string_view>& chunks,
            MultipartLimits limits = {}) {
    MultipartParser parser(boundary, limits);
    return run(parser, chunks, boundary.size());
}

Outcome run_whole(std::string_view boundary, std::string_view body, MultipartLimits limits = {}) {
    return run(boundary, {body}, limits);
}

Outcome run_bytes(std::string_view boundary, std::string_view body, MultipartLimits limits = {}) {
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < body.size(); ++i) chunks.push_back(body.substr(i, 1));
    return run(boundary, chunks, limits);
}

Outcome run_split(std::string_view boundary, std::string_view body, std::size_t at,
                  MultipartLimits limits = {}) {
    return run(boundary, {body.substr(0, at), body.substr(at)}, limits);
}

std::string make_body(std::string_view boundary, const std::vector<Part>& parts,
                      std::string_view preamble = "", std::string_view epilogue = "") {
    std::string body(preamble);
    for (const auto& p : parts) {
        body += "--";
        body += boundary;
        body += "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
        if (p.filename) body += "; filename=\"" + *p.filename + "\"";
        body += "\r\n";
        if (p.content_type) body += "Content-Type: " + *p.content_type + "\r\n";
        body += "\r\n";
        body += p.content;
        body += "\r\n";
    }
    body += "--";
    body += boundary;
    body += "--";
    body += epilogue;
    return body;
}

Part field(std::string name, std::string content) {
    return {std::move(name), std::nullopt, std::nullopt, std::move(content)};
}

Part file(std::string name, std::string filename, std::string content,
          std::optional<std::string> content_type = "application/octet-stream") {
    return {std::move(name), std::move(filename), std::move(content_type), std::move(content)};
}

constexpr std::string_view k_boundary = "----netkeepAaB03x";

// Binary content full of things that look like the start of a delimiter but are not.
std::string tricky_content(std::string_view boundary) {
    std::string b(boundary);
    std::string c;
    c += std::string("\0\x01\xff binary\r\n--", 14);
    c += "\r\n--" + b.substr(0, b.size() - 1) + "X";   // all but the last byte match
    c += "\r\n-\r\n--\r\n--" + b.substr(0, 3) + "\r";  // shorter prefixes, then CR
    c += "\r\r\n--" + b.substr(0, 5);                  // CR before the delimiter's CR
    c += "x--" + b + "\r\n";                           // the boundary without CRLF before it
    c += "\n--" + b + "--\r\n";                        // after a bare LF: content
    c += "\r--" + b + "\r\n";                          // after a bare CR: content
    c += "--\r\n--" + b.substr(0, b.size() - 1);       // a near match ends the content
    return c;
}

std::vector<Part> worker_complete_parts() {
    return {
        field("device", "device1.local"),
        field("job_timestamp", "1700000000"),
        field("start_timestamp", "1700000001"),
        field("end_timestamp", "1700000002"),
        file("file", "cisco_show_run", tricky_content(k_boundary)),
        field("failure", ""),
        field("note", "ends in CR\r"),
    };
}

}  // namespace

TEST_CASE("a well-formed body gives the same parts however it is split") {
    const auto expected = worker_complete_parts();
    const std::string body = make_body(k_boundary, expected);

    SUBCASE("whole") {
        auto out = run_whole(k_boundary, body);
        CHECK(out.status.is_ok());
        CHECK(out.body_end);
        CHECK(out.parts == expected);
    }
    SUBCASE("split into two chunks at every position") {
        for (std::size_t at = 0; at <= body.size(); ++at) {
            CAPTURE(at);
            auto out = run_split(k_boundary, body, at);
            REQUIRE(out.status.is_ok());
            REQUIRE(out.body_end);
            REQUIRE(out.parts == expected);
        }
    }
    SUBCASE("one byte at a time") {
        auto out = run_bytes(k_boundary, body);
        CHECK(out.status.is_ok());
        CHECK(out.body_end);
        CHECK(out.parts == expected);
        CHECK(out.max_content_buffered < k_boundary.size() + 4);
    }
}

TEST_CASE("a 5 MB file streams through a small, fixed buffer") {
    // Content with a near match of the delimiter every few hundred bytes, some of them
    // straddling the 64 KiB chunk edges.
    std::mt19937 rng(42);
    std::string content;
    content.reserve(5 * 1024 * 1024 + 1024);
    const std::string near = "\r\n--" + std::string(k_boundary.substr(0, k_boundary.size() - 1));
    while (content.size() < 5 * 1024 * 1024) {
        for (int i = std::uniform_int_distribution<int>(0, 600)(rng); i > 0; --i) {
            content += static_cast<char>(rng() & 0xff);
        }
        content += near.substr(0, std::uniform_int_distribution<std::size_t>(1, near.size())(rng));
        content += '.';  // the delimiter has no '.': the near match stays a near match
    }
    const std::vector<Part> expected = {field("device", "d1"), file("file", "big", content)};
    const std::string body = make_body(k_boundary, expected);

    std::vector<std::string_view> chunks;
    for (std::size_t at = 0; at < body.size(); at += 64 * 1024) {
        chunks.push_back(std::string_view(body).substr(at, 64 * 1024));
    }
    MultipartParser parser(k_boundary, {.unbounded_part = "file"});
    auto out = run(parser, chunks, k_boundary.size());
    INFO(out.status.to_string());
    CHECK(out.status.is_ok());
    CHECK(out.body_end);
    CHECK(out.parts == expected);
    // Held back: at most a delimiter prefix, never the part.
    CHECK(out.max_content_buffered < k_boundary.size() + 4);
    CHECK(parser.buffered_bytes() == 0);
}

TEST_CASE("preamble, transport padding and epilogue are skipped") {
    const std::string b(k_boundary);
    const std::vector<Part> expected = {field("a", "1"), file("f", "x.txt", "data")};
    const std::string body =
        "This is a preamble.\r\n--" + b.substr(0, 5) + "\r\nnot yet\r\n--" + b + " \t \r\n" +
        "Content-Disposition: form-data; name=a\r\n\r\n1\r\n--" + b + "\t\r\n" +
        "Content-Disposition: form-data; name=f; filename=x.txt\r\n"
        "Content-Type: application/octet-stream\r\n\r\ndata\r\n--" +
        b + "--  \r\nThis is the epilogue. --" + b + "\r\n--" + b + "x garbage\r\n";
    for (std::size_t at = 0; at <= body.size(); ++at) {
        CAPTURE(at);
        auto out = run_split(k_boundary, body, at);
        REQUIRE(out.status.is_ok());
        REQUIRE(out.body_end);
        REQUIRE(out.parts == expected);
    }
}

TEST_CASE("empty parts and an empty form") {
    SUBCASE("an empty file part and an empty field") {
        const std::vector<Part> expected = {file("file", "empty.txt", ""), field("failure", ""),
                                            file("blank", "", "", std::nullopt)};
        const std::string body = make_body(k_boundary, expected);
        for (std::size_t at = 0; at <= body.size(); ++at) {
            auto out = run_split(k_boundary, body, at);
            REQUIRE(out.status.is_ok());
            REQUIRE(out.parts == expected);
            REQUIRE(out.parts[2].filename == "");  // present but empty: still a file part
        }
    }
    SUBCASE("no parts at all") {
        auto out = run_whole(k_boundary, make_body(k_boundary, {}, "", "\r\n"));
        CHECK(out.status.is_ok());
        CHECK(out.body_end);
        CHECK(out.parts.empty());
    }
    SUBCASE("content that starts like a boundary line") {
        const std::vector<Part> expected = {field("a", "--" + std::string(k_boundary) + "--")};
        auto out = run_bytes(k_boundary, make_body(k_boundary, expected));
        CHECK(out.status.is_ok());
        CHECK(out.parts == expected);
    }
}

TEST_CASE("part headers: Content-Disposition parameters and Content-Type") {
    const std::string b(k_boundary);
    const std::string body =
        "--" + b +
        "\r\n"
        "content-disposition:FORM-DATA ; NAME=device;FileName=\"a\\\\b\\\"c;d.txt\"; "
        "filename*=UTF-8''ignored.txt; size=12\r\n"
        "CONTENT-TYPE:  text/plain; charset=utf-8 \r\n"
        "X-Other: kept\r\n"
        "\r\nx\r\n--" +
        b + "--";
    MultipartParser parser(k_boundary);
    bool seen = false;
    for (std::string_view rest = body;;) {
        auto step = parser.feed(rest);
        rest.remove_prefix(step.consumed);
        REQUIRE(step.event != Event::error);
        if (step.event == Event::part_begin) {
            const auto& p = parser.part();
            CHECK(p.name == "device");
            CHECK(p.filename == "a\\b\"c;d.txt");
            CHECK(p.is_file());
            CHECK(p.content_type == "text/plain; charset=utf-8");
            CHECK(p.headers.size() == 3);
            CHECK(p.headers.get("x-other") == "kept");
            seen = true;
        }
        if (step.event == Event::need_more) break;
    }
    CHECK(seen);
    CHECK(parser.finish().is_ok());
}

TEST_CASE("several parts may share a name: the caller decides") {
    const std::vector<Part> expected = {field("x", "1"), field("x", "2")};
    auto out = run_whole(k_boundary, make_body(k_boundary, expected));
    CHECK(out.status.is_ok());
    CHECK(out.parts == expected);
}

TEST_CASE("limits") {
    SUBCASE("number of parts") {
        std::vector<Part> parts(16, field("f", "v"));
        CHECK(run_whole(k_boundary, make_body(k_boundary, parts)).status.is_ok());
        parts.push_back(field("g", "v"));
        auto out = run_whole(k_boundary, make_body(k_boundary, parts));
        CHECK(out.status.code() == Status::Code::too_large);
        CHECK(out.status.message() == "multipart body has more than 16 parts");
        CHECK(out.parts.size() == 16);

        MultipartLimits limits;
        limits.max_parts = 2;
        CHECK(run_bytes(k_boundary, make_body(k_boundary, {field("a", ""), field("b", "")}), limits)
                  .status.is_ok());
        CHECK(run_bytes(k_boundary, make_body(k_boundary, std::vector<Part>(3, field("a", ""))),
                        limits)
                  .status.code() == Status::Code::too_large);
    }
    SUBCASE("header block size") {
        const std::string b(k_boundary);
        const std::string disposition = "Content-Disposition: form-data; name=a\r\n";
        auto body_with_block = [&](std::size_t block_size) {
            const std::size_t pad = block_size - disposition.size() - 7 - 2 - 2;
            return "--" + b + "\r\n" + disposition + "X-Pad: " + std::string(pad, 'p') +
                   "\r\n\r\nv\r\n--" + b + "--";
        };
        auto ok = run_whole(k_boundary, body_with_block(8 * 1024));
        CHECK(ok.status.is_ok());
        CHECK(ok.parts == std::vector<Part>{field("a", "v")});
        for (auto out : {run_whole(k_boundary, body_with_block(8 * 1024 + 1)),
                         run_bytes(k_boundary, body_with_block(8 * 1024 + 1))}) {
            CHECK(out.status.code() == Status::Code::too_large);
            CHECK(out.status.message() == "header block of multipart part 1 exceeds 8192 bytes");
        }
    }
    SUBCASE("a header line that never ends is refused without being kept") {
        const std::string start = "--" + std::string(k_boundary) + "\r\nX-Long: ";
        MultipartParser parser(k_boundary);
        auto step = parser.feed(start);
        REQUIRE(step.event == Event::need_more);
        const std::string filler(1000, 'x');
        std::size_t fed = 0;
        for (; fed < 100; ++fed) {
            step = parser.feed(filler);
            CHECK(parser.buffered_bytes() <= 8 * 1024);
            if (step.event == Event::error) break;
        }
        CHECK(fed < 10);
        CHECK(parser.error_status().code() == Status::Code::too_large);
    }
    SUBCASE("field content size; only the unbounded part is not limited") {
        MultipartLimits limits;
        limits.unbounded_part = "f";
        const std::string at_limit(64 * 1024, 'v');
        const std::vector<Part> ok_parts = {field("a", at_limit),
                                            file("f", "big", std::string(200 * 1024, 'f'))};
        auto ok = run_whole(k_boundary, make_body(k_boundary, ok_parts), limits);
        CHECK(ok.status.is_ok());
        CHECK(ok.parts == ok_parts);

        auto out =
            run_whole(k_boundary, make_body(k_boundary, {field("a", at_limit + "v")}), limits);
        CHECK(out.status.code() == Status::Code::too_large);
        CHECK(out.status.message() == "multipart field 'a' exceeds 65536 bytes");

        // Without unbounded_part every part is a field, also "f".
        out = run_whole(k_boundary, make_body(k_boundary, ok_parts));
        CHECK(out.status.code() == Status::Code::too_large);
        CHECK(out.status.message() == "multipart field 'f' exceeds 65536 bytes");
    }
    SUBCASE("a filename does not lift the field limit (issue 11: a 100 MB 'failure')") {
        MultipartLimits limits;
        limits.unbounded_part = "file";
        const std::string big(64 * 1024 + 1, 'x');
        for (const Part& p :
             {file("failure", "x.txt", big), file("failure", "", big), file("other", "f", big)}) {
            CAPTURE(p.name);
            auto out = run_bytes(k_boundary, make_body(k_boundary, {p}), limits);
            CHECK(out.status.code() == Status::Code::too_large);
        }
        auto ok =
            run_whole(k_boundary, make_body(k_boundary, {file("file", "show_run", big)}), limits);
        CHECK(ok.status.is_ok());
    }
    SUBCASE("field content size counts held-back bytes, wherever the body is split") {
        MultipartLimits limits;
        limits.max_field_bytes = 5;
        const std::string fits = make_body(k_boundary, {field("a", "abc\r\n")});
        const std::string too_big = make_body(k_boundary, {field("a", "abc\r\n-")});
        for (std::size_t at = 0; at <= too_big.size(); ++at) {
            CAPTURE(at);
            if (at <= fits.size()) REQUIRE(run_split(k_boundary, fits, at, limits).status.is_ok());
            REQUIRE(run_split(k_boundary, too_big, at, limits).status.code() ==
                    Status::Code::too_large);
        }
    }
}

TEST_CASE("after an error every call reports it again") {
    MultipartParser parser(k_boundary);
    const std::string body = "--" + std::string(k_boundary) + "\r\nBad Header\r\n\r\n";
    std::string_view rest = body;
    MultipartParser::Step step;
    do {
        step = parser.feed(rest);
        rest.remove_prefix(step.consumed);
    } while (step.event == Event::need_more && !rest.empty());
    REQUIRE(step.event == Event::error);
    const Status first = parser.error_status();
    CHECK(first.code() == Status::Code::invalid_argument);
    CHECK(parser.failed());
    for (int i = 0; i < 3; ++i) {
        step = parser.feed("--" + std::string(k_boundary) + "--");
        CHECK(step.event == Event::error);
        CHECK(step.consumed == 0);
        CHECK(parser.error_status().message() == first.message());
    }
    Status finished = parser.finish();
    CHECK(finished.message() == first.message());
    CHECK(parser.feed("").event == Event::error);
}

TEST_CASE("malformed bodies are invalid_argument, however they are split") {
    const std::string b(k_boundary);
    const std::string cd = "Content-Disposition: form-data; name=a\r\n";
    struct Case {
        const char* what;
        std::string body;
        std::string_view message;  // a part of the expected message
    };
    const std::vector<Case> cases = {
        {"empty body", "", "has no boundary line"},
        {"no boundary", "just some text\r\nand more", "has no boundary line"},
        {"a different boundary", "--other\r\n" + cd + "\r\nv\r\n--other--", "has no boundary line"},
        {"garbage after the first boundary", "--" + b + "x\r\n" + cd, "after a boundary"},
        {"garbage after padding", "--" + b + "  x\r\n" + cd, "after a boundary"},
        {"a single dash", "--" + b + "-x", "after a boundary"},
        {"CR without LF", "--" + b + "\rx", "after a boundary"},
        {"boundary then garbage inside a part",
         "--" + b + "\r\n" + cd + "\r\nv\r\n--" + b + "zz\r\n", "after a boundary"},
        {"header line without a colon", "--" + b + "\r\nContent-Disposition form-data\r\n\r\n",
         "without ':'"},
        {"header line ending in a bare LF",
         "--" + b + "\r\nContent-Disposition: form-data; name=a\n\r\n", "not terminated by CRLF"},
        {"blank line as a bare LF", "--" + b + "\r\n" + cd + "\n", "not terminated by CRLF"},
        {"folded header line", "--" + b + "\r\n" + cd + " continued\r\n\r\n", "folded"},
        {"invalid header name", "--" + b + "\r\nBad Name: x\r\n" + cd + "\r\n",
         "invalid header field name"},
        {"control character in a header", "--" + b + "\r\nX-A: a\x01z\r\n" + cd + "\r\n",
         "control character"},
        {"no Content-Disposition",
         "--" + b + "\r\nContent-Type: text/plain\r\n\r\nv\r\n--" + b + "--",
         "multipart part 1: no Content-Disposition"},
        {"no headers at all", "--" + b + "\r\n\r\nv\r\n--" + b + "--", "no Content-Disposition"},
        {"two Content-Dispositions", "--" + b + "\r\n" + cd + cd + "\r\n", "more than one"},
        {"not form-data", "--" + b + "\r\nContent-Disposition: attachment; name=a\r\n\r\n",
         "'attachment', not form-data"},
        {"no name", "--" + b + "\r\nContent-Disposition: form-data; filename=x\r\n\r\n",
         "has no name"},
        {"empty name", "--" + b + "\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n",
         "has no name"},
        {"name twice", "--" + b + "\r\nContent-Disposition: form-data; name=a; NAME=b\r\n\r\n",
         "given twice"},
        {"unterminated quoted name",
         "--" + b + "\r\nContent-Disposition: form-data; name=\"a\r\n\r\n", "unterminated"},
        {"parameter without a value", "--" + b + "\r\nContent-Disposition: form-data; name\r\n\r\n",
         "has no value"},
        {"garbage between parameters",
         "--" + b + "\r\nContent-Disposition: form-data; name=\"a\" x\r\n\r\n", "expected ';'"},
        {"second part malformed",
         "--" + b + "\r\n" + cd + "\r\nv\r\n--" + b + "\r\nContent-Disposition: form-data\r\n\r\n",
         "multipart part 2: Content-Disposition has no name"},
        {"truncated in the preamble", "--" + b.substr(0, 4), "has no boundary line"},
        {"truncated in the boundary line", "--" + b, "ended before its closing boundary"},
        {"truncated after padding", "--" + b + "  ", "ended before its closing boundary"},
        {"truncated in the headers", "--" + b + "\r\nContent-Disp",
         "ended before its closing boundary"},
        {"truncated in the content", "--" + b + "\r\n" + cd + "\r\nsome val",
         "ended before its closing boundary"},
        {"truncated in a held-back delimiter",
         "--" + b + "\r\n" + cd + "\r\nv\r\n--" + b.substr(0, 3),
         "ended before its closing boundary"},
        {"truncated after a part's delimiter", "--" + b + "\r\n" + cd + "\r\nv\r\n--" + b,
         "ended before its closing boundary"},
        {"truncated in the closing dashes", "--" + b + "\r\n" + cd + "\r\nv\r\n--" + b + "-",
         "ended before its closing boundary"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto whole = run_whole(k_boundary, c.body);
        CHECK(whole.status.code() == Status::Code::invalid_argument);
        CHECK(whole.status.message().find(c.message) != std::string::npos);
        CHECK(!whole.body_end);
        for (std::size_t at = 0; at <= c.body.size(); ++at) {
            auto split = run_split(k_boundary, c.body, at);
            REQUIRE(split.status.message() == whole.status.message());
        }
        CHECK(run_bytes(k_boundary, c.body).status.message() == whole.status.message());
    }
}

TEST_CASE("an invalid boundary given to the parser is an error, not a crash") {
    for (std::string_view bad :
         {std::string_view(""), std::string_view("a\r\nb"), std::string_view("trailing ")}) {
        MultipartParser parser(bad);
        CHECK(parser.feed("--a\r\n").event == Event::error);
        CHECK(parser.error_status().code() == Status::Code::invalid_argument);
        CHECK(parser.finish().code() == Status::Code::invalid_argument);
    }
}

TEST_CASE("multipart_boundary reads the boundary from a Content-Type value") {
    auto ok = [](std::string_view content_type) {
        auto r = multipart_boundary(content_type);
        INFO(content_type, " -> ", r.status().to_string());
        REQUIRE(r.is_ok());
        return *r;
    };
    CHECK(ok("multipart/form-data; boundary=AaB03x") == "AaB03x");
    CHECK(ok("Multipart/Form-Data;BOUNDARY=AaB03x") == "AaB03x");
    CHECK(ok("multipart/form-data; boundary=\"AaB03x\"") == "AaB03x");
    CHECK(ok("multipart/form-data; charset=utf-8; boundary=\"a b:c=d?'()+_,-./\"") ==
          "a b:c=d?'()+_,-./");
    CHECK(ok("multipart/form-data; boundary=\"ab\\c\"") == "abc");
    CHECK(ok("  multipart/form-data ; boundary = ----=_Part_1 ; charset=\"x;y\";") ==
          "----=_Part_1");
    CHECK(ok("multipart/form-data; boundary=" + std::string(70, 'b')) == std::string(70, 'b'));

    auto error = [](std::string_view content_type) {
        auto r = multipart_boundary(content_type);
        INFO(content_type);
        REQUIRE(!r.is_ok());
        CHECK(r.status().code() == Status::Code::invalid_argument);
        return r.status().message();
    };
    CHECK(error("application/json") ==
          "Content-Type must be multipart/form-data, not 'application/json'");
    CHECK(error("multipart/mixed; boundary=abc") ==
          "Content-Type must be multipart/form-data, not 'multipart/mixed'");
    CHECK(error("text/plain; boundary=abc") ==
          "Content-Type must be multipart/form-data, not 'text/plain'");
    CHECK(error("") == "Content-Type must be multipart/form-data, not empty");
    CHECK(error("multipart/form-data") == "multipart/form-data Content-Type has no boundary");
    CHECK(error("multipart/form-data; charset=utf-8").find("has no boundary") != std::string::npos);
    for (std::string_view bad : {std::string_view("multipart/form-data; boundary=\"\""),
                                 std::string_view("multipart/form-data; boundary=\"abc \""),
                                 std::string_view("multipart/form-data; boundary=ab@c"),
                                 std::string_view("multipart/form-data; boundary=\"a\\\"b\""),
                                 std::string_view("multipart/form-data; boundary=\"a\rb\"")}) {
        CHECK(error(bad).find("invalid multipart boundary") == 0);
    }
    CHECK(error("multipart/form-data; boundary=" + std::string(71, 'b')).find("must be 1 to 70") !=
          std::string::npos);
    CHECK(error("multipart/form-data; boundary=a; Boundary=b").find("more than one boundary") !=
          std::string::npos);
    CHECK(error("multipart/form-data; boundary=\"abc").find("malformed") == 0);
    CHECK(error("multipart/form-data; boundary=").find("malformed") == 0);
    CHECK(error("multipart/form-data; boundary=abc def").find("malformed") == 0);

    CHECK(is_valid_multipart_boundary("a"));
    CHECK(!is_valid_multipart_boundary("a\nb"));
}

TEST_CASE("random bodies give the same parts whole and in random pieces") {
    std::mt19937 rng(20240601);
    auto pick = [&](std::size_t lo, std::size_t hi) {
        return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
    };
    const std::string_view bchars =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";

    for (int round = 0; round < 300; ++round) {
        CAPTURE(round);
        std::string boundary;
        for (std::size_t n = pick(1, pick(0, 3) == 0 ? 70 : 8); boundary.size() < n;) {
            boundary += bchars[pick(0, bchars.size() - 1)];
        }
        if (boundary.back() == ' ') boundary.back() = '-';
        REQUIRE(is_valid_multipart_boundary(boundary));
        const std::string delimiter = "\r\n--" + boundary;

        // Content made of pieces that often look like the start of a delimiter.
        auto random_content = [&] {
            for (;;) {
                std::string c;
                for (std::size_t pieces = pick(0, 12); pieces > 0; --pieces) {
                    switch (pick(0, 6)) {
                        case 0:
                            c += static_cast<char>(pick(0, 255));
                            break;
                        case 1:
                            c += '\r';
                            break;
                        case 2:
                            c += "\r\n";
                            break;
                        case 3:
                            c += '-';
                            break;
                        case 4:
                            c += delimiter.substr(0, pick(1, delimiter.size() - 1));
                            break;
                        case 5:
                            c += delimiter.substr(2, pick(1, delimiter.size() - 2));
                            break;
                        default:
                            c += std::string(pick(1, 40), static_cast<char>('a' + pick(0, 25)));
                    }
                }
                // Keep only content the sender could legally have framed with this boundary.
                if ((c + delimiter).find(delimiter) == c.size()) return c;
            }
        };
        std::vector<Part> parts;
        for (std::size_t n = pick(0, 5); n > 0; --n) {
            std::string name(pick(1, 6), static_cast<char>('a' + pick(0, 25)));
            if (pick(0, 1) == 0) {
                parts.push_back(field(name, random_content()));
            } else {
                parts.push_back(file(name, name + ".bin", random_content()));
            }
        }
        const std::string preamble =
            pick(0, 2) == 0 ? "preamble\r\n\r\nx-" + boundary + "\r\n" : "";
        const std::string epilogue = pick(0, 1) == 0 ? "\r\n" + random_content() + delimiter : "";
        const std::string body = make_body(boundary, parts, preamble, epilogue);

        const auto whole = run_whole(boundary, body);
        REQUIRE(whole.status.is_ok());
        REQUIRE(whole.body_end);
        REQUIRE(whole.parts == parts);

        for (int cut = 0; cut < 8; ++cut) {
            std::vector<std::size_t> points;
            for (std::size_t n = pick(1, 12); n > 0; --n) points.push_back(pick(0, body.size()));
            std::sort(points.begin(), points.end());
            std::vector<std::string_view> chunks;
            std::size_t from = 0;
            for (auto p : points) {
                chunks.push_back(std::string_view(body).substr(from, p - from));
                from = p;
            }
            chunks.push_back(std::string_view(body).substr(from));
            auto pieces = run(boundary, chunks);
            REQUIRE(pieces.status.is_ok());
            REQUIRE(pieces.body_end == whole.body_end);
            REQUIRE(pieces.parts == whole.parts);
            REQUIRE(pieces.max_content_buffered < delimiter.size());
        }
        REQUIRE(run_bytes(boundary, body).parts == whole.parts);
    }
}
