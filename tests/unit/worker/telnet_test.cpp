// The telnet filter: data separated from commands, negotiation refused politely, at
// every split position.
#include <doctest/doctest.h>

#include <string>

#include "worker/telnet.hpp"

using namespace netkeep::worker::telnet;

namespace {

std::string cmd(unsigned char c, unsigned char opt) { return {char(k_iac), char(c), char(opt)}; }

struct Out {
    std::string data, reply;
};

Out feed_split(std::string_view raw, std::size_t cut) {
    Filter f;
    Out o;
    f.feed(raw.substr(0, cut), o.data, o.reply);
    f.feed(raw.substr(cut), o.data, o.reply);
    return o;
}

}  // namespace

TEST_CASE("the fake device's greeting: WILL ECHO, WILL SGA accepted, DO NAWS refused") {
    const std::string raw = cmd(k_will, k_opt_echo) + cmd(k_will, k_opt_sga) + cmd(k_do, 31) +
                            "\r\nUser Access Verification\r\n\r\nUsername: ";
    for (std::size_t cut = 0; cut <= raw.size(); ++cut) {
        auto o = feed_split(raw, cut);
        REQUIRE(o.data == "\r\nUser Access Verification\r\n\r\nUsername: ");
        REQUIRE(o.reply == cmd(k_do, k_opt_echo) + cmd(k_do, k_opt_sga) + cmd(k_wont, 31));
    }
}

TEST_CASE(
    "other WILLs are refused, each request is answered once, WONT of an accepted option "
    "acknowledged") {
    Filter f;
    std::string data, reply;
    f.feed(cmd(k_will, 24) + cmd(k_will, 24) + cmd(k_do, 24) + cmd(k_do, 24), data, reply);
    CHECK(reply == cmd(k_dont, 24) + cmd(k_wont, 24));
    reply.clear();
    f.feed(cmd(k_will, k_opt_echo) + cmd(k_will, k_opt_echo) + cmd(k_wont, k_opt_echo) +
               cmd(k_dont, 5),
           data, reply);
    CHECK(reply == cmd(k_do, k_opt_echo) + cmd(k_dont, k_opt_echo));
    CHECK(data.empty());
}

TEST_CASE("subnegotiation dropped, IAC IAC is 0xFF, CR NUL is CR, NOP ignored") {
    const std::string raw = std::string("a") + char(k_iac) + char(k_sb) + char(24) + "xyz" +
                            char(k_iac) + char(k_se) + "b" + char(k_iac) + char(k_iac) + "c\r" +
                            '\0' + "d\r\ne" + char(k_iac) + char(241) + "f";
    for (std::size_t cut = 0; cut <= raw.size(); ++cut) {
        auto o = feed_split(raw, cut);
        REQUIRE(o.data == std::string("ab") + char(k_iac) + "c\rd\r\nef");
        REQUIRE(o.reply.empty());
    }
    CHECK(Filter::escape(std::string("a") + char(k_iac) + "b") ==
          std::string("a") + char(k_iac) + char(k_iac) + "b");
}
