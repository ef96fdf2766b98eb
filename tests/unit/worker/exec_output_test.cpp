// The exec channel's output filter (contract §4): "\r\n" folded, ANSI stripped when
// asked, --max-output, setup output discarded; stderr's first line.
#include <doctest/doctest.h>

#include <string>

#include "worker/exec_output.hpp"

using namespace netkeep;
using namespace netkeep::worker;

namespace {

std::string run(std::string_view in, std::size_t cut, bool strip) {
    std::string out;
    CliSession::Sink sink = [&](std::string_view b) {
        out.append(b);
        return Status::ok();
    };
    std::uint64_t total = 0;
    ExecOutput e(sink, strip, UINT64_MAX, total, false);
    REQUIRE(e.feed(in.substr(0, cut)).is_ok());
    REQUIRE(e.feed(in.substr(cut)).is_ok());
    REQUIRE(e.finish().is_ok());
    CHECK(total == out.size());
    return out;
}

}  // namespace

TEST_CASE("CR LF folds at any split; lone CRs stay; ANSI removed only when asked") {
    const std::string in = "a\r\nb\rc\r\r\n\x1b[1md\x1b[m\r";
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        REQUIRE(run(in, cut, true) == "a\nb\rc\r\nd\r");
        REQUIRE(run(in, cut, false) == "a\nb\rc\r\n\x1b[1md\x1b[m\r");
    }
}

TEST_CASE("max output counts across commands; setup output is discarded") {
    std::string out;
    CliSession::Sink sink = [&](std::string_view b) {
        out.append(b);
        return Status::ok();
    };
    std::uint64_t total = 0;
    ExecOutput setup(sink, false, 10, total, true);
    CHECK(setup.feed("0123456789abcdef\n").is_ok());
    CHECK(total == 0);
    ExecOutput first(sink, false, 10, total, false);
    CHECK(first.feed("12345\n").is_ok());
    ExecOutput second(sink, false, 10, total, false);
    CHECK(second.feed("abcd").is_ok());
    auto s = second.feed("ef");
    CHECK(s.code() == Status::Code::too_large);
    CHECK(s.message() == "too large: more than 10 bytes of output (--max-output)");
    CHECK(out == "12345\nabcd");
}

TEST_CASE("FirstLine keeps the first non-empty line, bounded") {
    FirstLine f;
    f.feed("\r\nerror: syntax ");
    f.feed("error\r\nsecond line\n");
    CHECK(f.text() == "error: syntax error");
    FirstLine big;
    big.feed(std::string(1000, 'x'));
    CHECK(big.text().size() == FirstLine::k_max);
}
