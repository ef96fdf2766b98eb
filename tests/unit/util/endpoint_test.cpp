#include <doctest/doctest.h>

#include "util/endpoint.hpp"

using namespace netkeep;

TEST_CASE("HOST:PORT parses names, IPv4 and bracketed IPv6, and formats back") {
    struct Case {
        const char* text;
        const char* host;
        std::uint16_t port;
    };
    for (const Case& c : {Case{"127.0.0.1:8080", "127.0.0.1", 8080}, Case{"[::1]:0", "::1", 0},
                          Case{"backup.example.net:65535", "backup.example.net", 65535},
                          Case{"[fe80::1%eth0]:22", "fe80::1%eth0", 22}}) {
        CAPTURE(c.text);
        auto e = parse_endpoint(c.text);
        REQUIRE_MESSAGE(e.is_ok(), e.status().to_string());
        CHECK(e->host == c.host);
        CHECK(e->port == c.port);
        CHECK(format_endpoint(*e) == c.text);
    }
}

TEST_CASE("a HOST:PORT without a host, a port or a number is refused, saying what is wrong") {
    for (const char* text : {"nope", ":8080", "host:", "host:http", "host:65536",
                             "host:99999999999", "host:-1", "host:80 "}) {
        CAPTURE(text);
        auto e = parse_endpoint(text);
        REQUIRE_FALSE(e.is_ok());
        CHECK(e.status().code() == Status::Code::invalid_argument);
        CHECK(e.status().message().find(text) != std::string::npos);
    }
}
