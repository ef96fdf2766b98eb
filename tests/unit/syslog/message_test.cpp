#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "syslog/message.hpp"

using namespace netkeep::syslog;

TEST_CASE("an RFC 5424 message: header fields, structured data and text") {
    const std::string m =
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\"] An application event\n";
    Message msg = parse_message(m);
    CHECK(msg.format == Message::Format::rfc5424);
    CHECK(msg.priority == 165);
    CHECK(msg.hostname == "mymachine.example.com");
    CHECK(msg.app == "evntslog");
    CHECK(msg.text == "ID47 [exampleSDID@32473 iut=\"3\"] An application event");
    // "-" is a nil value.
    Message nil = parse_message("<14>1 - - - - - - hello");
    CHECK(nil.format == Message::Format::rfc5424);
    CHECK(nil.hostname.empty());
    CHECK(nil.app.empty());
    CHECK(nil.text == "- - hello");
}

TEST_CASE("a JunOS structured-data UI_COMMIT (RFC 5424)") {
    Message msg = parse_message(
        "<189>1 2026-12-05T23:01:02.123Z r1-edge mgd 5432 UI_COMMIT [junos@2636.1.1.1.2.18 "
        "username=\"alice\" command=\"commit\" message=\"\"] User 'alice' requested 'commit' "
        "operation (comment: none)");
    CHECK(msg.format == Message::Format::rfc5424);
    CHECK(msg.hostname == "r1-edge");
    CHECK(msg.app == "mgd");
    CHECK(msg.text.find("User 'alice' requested 'commit'") != std::string_view::npos);
}

TEST_CASE("an RFC 3164 message with and without its hostname") {
    Message msg = parse_message("<34>Oct 11 22:14:15 mymachine su: 'su root' failed on /dev/pts/8");
    CHECK(msg.format == Message::Format::rfc3164);
    CHECK(msg.priority == 34);
    CHECK(msg.hostname == "mymachine");
    CHECK(msg.app == "su");
    CHECK(msg.text == "su: 'su root' failed on /dev/pts/8");

    Message no_host = parse_message("<13>Feb  5 17:32:18 mgd[123]: UI_COMMIT: User 'bob'");
    CHECK(no_host.format == Message::Format::rfc3164);
    CHECK(no_host.hostname.empty());
    CHECK(no_host.app == "mgd");
    CHECK(no_host.text == "mgd[123]: UI_COMMIT: User 'bob'");

    Message routeros = parse_message("<30>Dec  5 23:01:02 system,info address changed by admin");
    CHECK(routeros.hostname.empty());
    CHECK(routeros.text == "system,info address changed by admin");

    Message iso = parse_message("<13>2026-12-05T23:01:02+01:00 fw1 app: text");
    CHECK(iso.format == Message::Format::rfc3164);
    CHECK(iso.hostname == "fw1");
}

TEST_CASE("a Cisco message (sequence number, no BSD header) is bare: its text after PRI") {
    Message msg = parse_message(
        "<189>123: *Dec  5 23:01:02.123: %SYS-5-CONFIG_I: Configured from console by alice on "
        "vty0 (10.0.0.5)\r\n");
    CHECK(msg.format == Message::Format::bare);
    CHECK(msg.priority == 189);
    CHECK(msg.hostname.empty());
    CHECK(msg.text.rfind("123: *Dec", 0) == 0);
    CHECK(msg.text.back() == ')');
}

TEST_CASE("junk is bare and whole; a bad PRI is not a PRI") {
    for (std::string junk :
         {std::string(""), std::string("\0\1\2\xff", 4), std::string("<"), std::string("<999>1 x"),
          std::string("<01>x"), std::string("<1234>"), std::string("<>"), std::string(300, '<')}) {
        Message msg = parse_message(junk);
        CHECK(msg.format == Message::Format::bare);
        CHECK(msg.priority == -1);
    }
    CHECK(parse_message("<0>x").priority == 0);
    CHECK(parse_message("<191>x").priority == 191);
    CHECK(parse_message("<192>x").priority == -1);
}

namespace {

// Feeds `stream` cut at `cuts` (positions) and returns the frames, or "BAD" once bad.
std::vector<std::string> frames_of(const std::string& stream, const std::vector<std::size_t>& cuts,
                                   std::size_t max = k_max_frame, bool finish = true) {
    Framer framer(max);
    std::vector<std::string> out;
    auto sink = [&](std::string_view f) { out.emplace_back(f); };
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        if (!framer.feed(std::string_view(stream).substr(at, cut - at), sink)) {
            out.emplace_back("BAD");
            return out;
        }
        at = cut;
    }
    if (!framer.feed(std::string_view(stream).substr(at), sink)) {
        out.emplace_back("BAD");
        return out;
    }
    if (finish) framer.finish(sink);
    return out;
}

}  // namespace

TEST_CASE("TCP framing gives the same frames at every split position") {
    const std::string counted_msg = "<189>1 - r1 - - - - changed\nline";  // LF inside: counted
    const std::string stream = std::to_string(counted_msg.size()) + " " + counted_msg +
                               "<13>Oct 11 22:14:15 r2 app: plain\r\n" + "\n" + "5 hello" +
                               "<14>last without LF";
    const std::vector<std::string> want{counted_msg, "<13>Oct 11 22:14:15 r2 app: plain", "hello",
                                        "<14>last without LF"};
    CHECK(frames_of(stream, {}) == want);
    for (std::size_t i = 0; i <= stream.size(); ++i) {
        CAPTURE(i);
        CHECK(frames_of(stream, {i}) == want);
        for (std::size_t j = i; j <= stream.size(); j += 7)
            CHECK(frames_of(stream, {i, j}) == want);
    }
    // Byte by byte.
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    CHECK(frames_of(stream, every) == want);
}

TEST_CASE("a partial octet-counted frame at the end of the stream is no frame") {
    CHECK(frames_of("10 abc", {}).empty());
    CHECK(frames_of("10 abc", {2}).empty());
}

TEST_CASE("oversized frames and bad counts make the stream bad, with bounded buffering") {
    // A count over the limit is refused as soon as its digits say so.
    CHECK(frames_of("65537 x", {}) == std::vector<std::string>{"BAD"});
    CHECK(frames_of("99999999999999999999999 x", {}) == std::vector<std::string>{"BAD"});
    CHECK(frames_of("12x", {}) == std::vector<std::string>{"BAD"});
    // A line longer than the limit.
    CHECK(frames_of("<1>" + std::string(100, 'a') + "\n", {}, 64) ==
          std::vector<std::string>{"BAD"});
    // Exactly at the limit is fine, both ways.
    CHECK(frames_of("64 " + std::string(64, 'a'), {}, 64) ==
          std::vector<std::string>{std::string(64, 'a')});
    CHECK(frames_of("<" + std::string(63, 'a') + "\n", {}, 64) ==
          std::vector<std::string>{"<" + std::string(63, 'a')});
    Framer framer(64);
    std::size_t frames = 0;
    for (int i = 0; i < 1000; ++i) {
        framer.feed(std::string(10, 'b'), [&](std::string_view) { ++frames; });
        CHECK(framer.buffered() <= 64);
    }
    CHECK(framer.bad());
    CHECK(frames == 0);
    // After bad, nothing more is framed.
    CHECK_FALSE(framer.feed("\n5 hello", [&](std::string_view) { ++frames; }));
    CHECK(frames == 0);
}
