#include "telnet.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace netkeep::fake_device;
using namespace std::string_literals;  // the inputs hold NUL bytes

TEST_CASE("IAC negotiation is swallowed, data passes") {
    Telnet_filter f;
    // IAC DO ECHO, IAC WILL NAWS, IAC SB NAWS 0 80 0 24 IAC SE, then "r1\r\n".
    const std::string in = "\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0r1\r\n"s;
    CHECK(f.feed(in) == "r1\r\n");
}

TEST_CASE("IAC sequences split across reads are swallowed") {
    const std::string in =
        "a\xff\xfd\x01"
        "b\xff\xfa\x18\x00xterm\xff\xf0"
        "c\xff\xf1"  // NOP
        "d\xff\xff"  // a data byte 255
        "e"s;
    for (std::size_t split = 0; split <= in.size(); ++split) {
        CAPTURE(split);
        Telnet_filter f;
        std::string out = f.feed(in.substr(0, split));
        out += f.feed(in.substr(split));
        CHECK(out ==
              "abcd\xff"
              "e");
    }
    Telnet_filter one_by_one;
    std::string out;
    for (char c : in) out += one_by_one.feed(std::string(1, c));
    CHECK(out ==
          "abcd\xff"
          "e");
}

TEST_CASE("IAC inside a subnegotiation does not end it unless followed by SE") {
    Telnet_filter f;
    CHECK(f.feed("\xff\xfa\x18\xff\xffzz\xff\xf0ok") == "ok");
}

TEST_CASE("outgoing 255 bytes are doubled") {
    CHECK(telnet_escape("a\xff"
                        "b") ==
          "a\xff\xff"
          "b");
    CHECK(telnet_escape("plain") == "plain");
}

namespace {

Telnet_login make_login() {
    return Telnet_login([](const std::string& user, const std::string& password) {
        return user == "r1" && password == "pw";
    });
}

}  // namespace

TEST_CASE("login: username echoed, password not") {
    auto login = make_login();
    CHECK(Telnet_login::greeting() == "\r\nUser Access Verification\r\n\r\nUsername: ");
    auto p = login.feed("r1\r\n");
    CHECK(p.bytes == "r1\r\nPassword: ");
    CHECK(p.state == Telnet_login::State::pending);
    p = login.feed("pw\r\nshow run\r");
    CHECK(p.bytes == "");
    CHECK(p.state == Telnet_login::State::done);
    CHECK(login.user() == "r1");
    CHECK(login.rest() == "\nshow run\r");
}

TEST_CASE("login: a \\r before the handover is remembered") {
    auto login = make_login();
    login.feed("r1\r");
    auto p = login.feed("\npw\r");
    CHECK(p.state == Telnet_login::State::done);
    CHECK(login.rest().empty());
    CHECK(login.ended_with_cr());
}

TEST_CASE("login: three failures close") {
    auto login = make_login();
    auto p = login.feed("r1\rbad\r");
    CHECK(p.bytes == "r1\r\nPassword: \r\n% Authentication failed\r\n\r\nUsername: ");
    CHECK(p.state == Telnet_login::State::pending);
    p = login.feed("r2\rpw\r");
    CHECK(p.state == Telnet_login::State::pending);
    p = login.feed("r1\rnope\r");
    CHECK(p.bytes == "r1\r\nPassword: \r\n% Authentication failed\r\n");
    CHECK(p.state == Telnet_login::State::failed);
}

TEST_CASE("login: an empty username asks again without counting a failure") {
    auto login = make_login();
    CHECK(login.feed("\r").bytes == "\r\nUsername: ");
    CHECK(login.feed("r1\rpw\r").state == Telnet_login::State::done);
}
