// The request/response parser, fed the same bytes split at every position: the result
// must never depend on how TCP happened to cut the stream.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/parser.hpp"

using namespace netkeep::http;

namespace {

struct Parsed {
    std::vector<MessageHead> heads;
    std::vector<std::string> bodies;
    int ends = 0;
    ParseError error = ParseError::none;
    std::size_t max_chunk = 0;
};

Parsed parse_chunks(Parser& parser, const std::vector<std::string_view>& chunks) {
    Parsed out;
    for (auto chunk : chunks) {
        for (bool more = true; more;) {
            auto step = parser.feed(chunk);
            REQUIRE(step.consumed <= chunk.size());
            chunk.remove_prefix(step.consumed);
            switch (step.event) {
                case Parser::Event::head:
                    out.heads.push_back(parser.head());
                    out.bodies.emplace_back();
                    break;
                case Parser::Event::body:
                    REQUIRE(!out.bodies.empty());
                    REQUIRE(!step.body.empty());
                    out.bodies.back() += step.body;
                    out.max_chunk = std::max(out.max_chunk, step.body.size());
                    break;
                case Parser::Event::message_end:
                    ++out.ends;
                    break;
                case Parser::Event::error:
                    out.error = parser.error();
                    return out;
                case Parser::Event::need_more:
                    REQUIRE(chunk.empty());
                    more = false;
                    break;
            }
        }
    }
    return out;
}

Parsed parse(std::string_view input, Parser::Kind kind = Parser::Kind::request,
             Parser::Limits limits = {}) {
    Parser parser(kind, limits);
    return parse_chunks(parser, {input});
}

// Calls check(parsed) for the input whole, split in two at every position, and byte by byte.
template <typename Check>
void for_every_split(std::string_view input, Check check,
                     Parser::Kind kind = Parser::Kind::request) {
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        CAPTURE(cut);
        Parser parser(kind);
        check(parse_chunks(parser, {input.substr(0, cut), input.substr(cut)}));
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
    Parser parser(kind);
    check(parse_chunks(parser, bytes));
}

}  // namespace

TEST_CASE("parser: GET with headers, split anywhere") {
    std::string_view input =
        "GET /api/v1/tasks?tag=a&tag=b HTTP/1.1\r\n"
        "Host: example\r\n"
        "X-Spaces:   padded value  \r\n"
        "X-Empty:\r\n"
        "x-dup: 1\r\n"
        "X-Dup: 2\r\n"
        "\r\n";
    for_every_split(input, [](const Parsed& p) {
        REQUIRE(p.error == ParseError::none);
        REQUIRE(p.heads.size() == 1);
        REQUIRE(p.ends == 1);
        const auto& h = p.heads[0];
        CHECK(h.method == "GET");
        CHECK(h.target == "/api/v1/tasks?tag=a&tag=b");
        CHECK(h.version_major == 1);
        CHECK(h.version_minor == 1);
        CHECK(h.keep_alive);
        CHECK(!h.has_body());
        CHECK(h.headers.get("host") == "example");
        CHECK(h.headers.get("X-SPACES") == "padded value");
        CHECK(h.headers.get("x-empty") == "");
        CHECK(h.headers.get_all("X-Dup") == std::vector<std::string_view>{"1", "2"});
        CHECK(h.headers.size() == 5);
        CHECK(p.bodies[0].empty());
    });
}

TEST_CASE("parser: Content-Length body, split anywhere") {
    std::string_view input =
        "POST /worker/complete HTTP/1.1\r\n"
        "Content-Length: 11\r\n"
        "\r\n"
        "hello world";
    for_every_split(input, [](const Parsed& p) {
        REQUIRE(p.error == ParseError::none);
        REQUIRE(p.heads.size() == 1);
        CHECK(p.heads[0].content_length == 11u);
        CHECK(!p.heads[0].chunked);
        CHECK(p.bodies[0] == "hello world");
        CHECK(p.ends == 1);
    });
}

TEST_CASE("parser: chunked body with extension and trailer, split anywhere") {
    std::string_view input =
        "POST /up HTTP/1.1\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "5;name=value\r\nhello\r\n"
        "1\r\n \r\n"
        "A\r\n0123456789\r\n"
        "0\r\n"
        "X-Trailer: t\r\n"
        "\r\n";
    for_every_split(input, [](const Parsed& p) {
        REQUIRE(p.error == ParseError::none);
        REQUIRE(p.heads.size() == 1);
        CHECK(p.heads[0].chunked);
        CHECK(p.heads[0].has_body());
        CHECK(!p.heads[0].headers.contains("X-Trailer"));  // trailers are dropped
        CHECK(p.bodies[0] == "hello 0123456789");
        CHECK(p.ends == 1);
    });
}

TEST_CASE("parser: pipelined requests come out in order, split anywhere") {
    std::string_view input =
        "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        "PUT /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        "GET /four HTTP/1.1\r\nConnection: close\r\n\r\n";
    for_every_split(input, [](const Parsed& p) {
        REQUIRE(p.error == ParseError::none);
        REQUIRE(p.heads.size() == 4);
        CHECK(p.ends == 4);
        CHECK(p.heads[0].target == "/one");
        CHECK(p.heads[1].method == "POST");
        CHECK(p.bodies[1] == "abc");
        CHECK(p.heads[2].method == "PUT");
        CHECK(p.bodies[2] == "xy");
        CHECK(p.heads[3].target == "/four");
        CHECK(p.heads[0].keep_alive);
        CHECK(!p.heads[3].keep_alive);
    });
}

TEST_CASE("parser: the head event stops exactly before the body") {
    Parser parser(Parser::Kind::request);
    std::string_view input =
        "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\n\r\n";
    auto step = parser.feed(input);
    REQUIRE(step.event == Parser::Event::head);
    CHECK(input.substr(step.consumed).starts_with("bodyGET"));
    input.remove_prefix(step.consumed);
    step = parser.feed(input);
    REQUIRE(step.event == Parser::Event::body);
    CHECK(step.body == "body");
    CHECK(step.body.data() == input.data());  // a view into the input, not a copy
    input.remove_prefix(step.consumed);
    step = parser.feed(input);
    CHECK(step.event == Parser::Event::message_end);
    CHECK(step.consumed == 0);
    CHECK(!parser.in_message());
    step = parser.feed(input);
    CHECK(step.event == Parser::Event::head);
    CHECK(parser.head().method == "GET");
}

TEST_CASE("parser: HTTP/1.0 closes unless asked to keep alive; Expect: 100-continue") {
    auto p = parse("GET / HTTP/1.0\r\n\r\n");
    REQUIRE(p.heads.size() == 1);
    CHECK(!p.heads[0].keep_alive);
    p = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(p.heads.size() == 1);
    CHECK(p.heads[0].keep_alive);
    CHECK(p.heads[0].version_minor == 0);
    p = parse("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(p.heads.size() == 1);
    CHECK(p.heads[0].expects_continue());
}

TEST_CASE("parser: malformed requests are errors of kind malformed") {
    const char* inputs[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
        "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    };
    for (std::string input : inputs) {
        CAPTURE(input);
        Parser parser(Parser::Kind::request);
        auto p = parse_chunks(parser, {input});
        CHECK(p.error == ParseError::malformed);
        CHECK(parser.error_status().code() == netkeep::Status::Code::invalid_argument);
        CHECK(!parser.error_status().message().empty());
        // Once failed, it stays failed.
        CHECK(parser.feed("GET / HTTP/1.1\r\n\r\n").event == Parser::Event::error);
    }
}

TEST_CASE("parser: header block limit is exact") {
    const std::string prefix = "GET / HTTP/1.1\r\nX: ";
    const std::string suffix = "\r\n\r\n";
    const std::size_t limit = 16 * 1024;
    std::string fits = prefix + std::string(limit - prefix.size() - suffix.size(), 'a') + suffix;
    REQUIRE(fits.size() == limit);
    std::string over =
        prefix + std::string(limit + 1 - prefix.size() - suffix.size(), 'a') + suffix;

    auto ok = parse(fits);
    CHECK(ok.error == ParseError::none);
    CHECK(ok.heads.size() == 1);
    CHECK(parse(over).error == ParseError::head_too_large);

    // Split into small pieces: the limit counts bytes, not feeds.
    Parser parser(Parser::Kind::request);
    std::vector<std::string_view> pieces;
    std::string huge = prefix + std::string(100000, 'b') + suffix;
    for (std::size_t i = 0; i < huge.size(); i += 1000)
        pieces.push_back(std::string_view(huge).substr(i, 1000));
    CHECK(parse_chunks(parser, pieces).error == ParseError::head_too_large);
    CHECK(parser.error_status().code() == netkeep::Status::Code::too_large);

    // Many small fields add up too.
    std::string many = "GET / HTTP/1.1\r\n";
    while (many.size() < 20000) many += "X-Field: value\r\n";
    many += "\r\n";
    CHECK(parse(many).error == ParseError::head_too_large);

    // The limit is per message: two heads of 10 KiB each pipelined are fine.
    std::string ten_k = "GET / HTTP/1.1\r\nX: " + std::string(10000, 'c') + "\r\n\r\n";
    auto two = parse(ten_k + ten_k);
    CHECK(two.error == ParseError::none);
    CHECK(two.heads.size() == 2);
}

TEST_CASE("parser: request target limit") {
    std::string fits = "GET /" + std::string(8 * 1024 - 1, 'u') + " HTTP/1.1\r\n\r\n";
    std::string over = "GET /" + std::string(8 * 1024, 'u') + " HTTP/1.1\r\n\r\n";
    auto ok = parse(fits);
    CHECK(ok.error == ParseError::none);
    REQUIRE(ok.heads.size() == 1);
    CHECK(ok.heads[0].target.size() == 8 * 1024);

    Parser parser(Parser::Kind::request);
    CHECK(parse_chunks(parser, {over}).error == ParseError::target_too_large);
    CHECK(parser.error_status().code() == netkeep::Status::Code::too_large);

    // Also when the target arrives in pieces.
    Parser split(Parser::Kind::request);
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < over.size(); i += 100)
        pieces.push_back(std::string_view(over).substr(i, 100));
    CHECK(parse_chunks(split, pieces).error == ParseError::target_too_large);

    // A target far longer than the header limit is still reported as a long target.
    std::string very_long = "GET /" + std::string(40000, 'v') + " HTTP/1.1\r\n\r\n";
    CHECK(parse(very_long).error == ParseError::target_too_large);
}

TEST_CASE("parser: finish() tells a clean close from a cut message") {
    Parser idle(Parser::Kind::request);
    CHECK(idle.finish().event == Parser::Event::need_more);

    Parser cut(Parser::Kind::request);
    CHECK(cut.feed("GET / HT").event == Parser::Event::need_more);
    CHECK(cut.in_message());
    CHECK(cut.finish().event == Parser::Event::error);
    CHECK(cut.error() == ParseError::unexpected_eof);

    Parser body(Parser::Kind::request);
    CHECK(body.feed("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n").event == Parser::Event::head);
    CHECK(body.finish().event == Parser::Event::error);
    CHECK(body.error() == ParseError::unexpected_eof);
}

TEST_CASE("parser: responses") {
    SUBCASE("Content-Length, split anywhere") {
        for_every_split(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
            "2\r\n\r\n{}",
            [](const Parsed& p) {
                REQUIRE(p.error == ParseError::none);
                REQUIRE(p.heads.size() == 1);
                CHECK(p.heads[0].status == 404);
                CHECK(p.heads[0].reason == "Not Found");
                CHECK(p.bodies[0] == "{}");
                CHECK(p.ends == 1);
            },
            Parser::Kind::response);
    }
    SUBCASE("chunked, split anywhere") {
        for_every_split(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            [](const Parsed& p) {
                REQUIRE(p.error == ParseError::none);
                REQUIRE(p.heads.size() == 1);
                CHECK(p.bodies[0] == "abc");
                CHECK(p.ends == 1);
            },
            Parser::Kind::response);
    }
    SUBCASE("body until close") {
        Parser parser(Parser::Kind::response);
        auto p = parse_chunks(parser, {"HTTP/1.1 200 OK\r\n\r\nall of ", "this"});
        REQUIRE(p.heads.size() == 1);
        CHECK(p.ends == 0);
        CHECK(p.bodies[0] == "all of this");
        CHECK(parser.finish().event == Parser::Event::message_end);
        // Found by tests/fuzz (http_parser): llhttp_finish() stays in its "ends at EOF"
        // state, so each further finish() reported the same response again.
        CHECK(parser.finish().event == Parser::Event::need_more);
        CHECK(!parser.in_message());
    }
    SUBCASE("response to HEAD has no body whatever Content-Length says") {
        Parser parser(Parser::Kind::response);
        parser.expect_no_body(true);
        auto p = parse_chunks(parser, {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"});
        REQUIRE(p.heads.size() == 1);
        CHECK(p.heads[0].content_length == 100u);
        CHECK(p.ends == 1);
        CHECK(p.bodies[0].empty());
    }
    SUBCASE("100 Continue then the final response") {
        auto p =
            parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
                  Parser::Kind::response);
        REQUIRE(p.heads.size() == 2);
        CHECK(p.heads[0].status == 100);
        CHECK(p.heads[1].status == 201);
        CHECK(p.bodies[1] == "x");
        CHECK(p.ends == 2);
    }
    SUBCASE("garbage") {
        CHECK(parse("HTTP/1.1 abc OK\r\n\r\n", Parser::Kind::response).error ==
              ParseError::malformed);
    }
}

TEST_CASE("parser: a large body passes through in views, never collected") {
    std::string body(1 << 20, 'z');
    std::string input =
        "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    Parser parser(Parser::Kind::request);
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < input.size(); i += 4096)
        pieces.push_back(std::string_view(input).substr(i, 4096));
    auto p = parse_chunks(parser, pieces);
    REQUIRE(p.error == ParseError::none);
    CHECK(p.bodies[0] == body);
    CHECK(p.max_chunk <= 4096);
}

TEST_CASE("parser: moved parser keeps working") {
    Parser a(Parser::Kind::request);
    CHECK(a.feed("GET /x HT").event == Parser::Event::need_more);
    Parser b = std::move(a);
    auto step = b.feed("TP/1.1\r\n\r\n");
    CHECK(step.event == Parser::Event::head);
    CHECK(b.head().target == "/x");
}
