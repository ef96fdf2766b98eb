#include "http/cookie.hpp"

#include <string>

#include <doctest/doctest.h>

using netkeep::http::cookie_value;
using netkeep::http::Headers;
using netkeep::http::k_max_cookie_pairs;
using netkeep::http::set_cookie;

TEST_CASE("cookie_value finds a cookie among several fields and pairs") {
    Headers h;
    h.add("Cookie", "theme=dark; nk_session=abc123");
    h.add("Cookie", "other=1");
    CHECK(cookie_value(h, "nk_session") == "abc123");
    CHECK(cookie_value(h, "other") == "1");
    CHECK_FALSE(cookie_value(h, "nk").has_value());
    CHECK_FALSE(cookie_value(Headers{}, "nk_session").has_value());
}

TEST_CASE("cookie_value: spaces, quotes, pairs without '=' and the first of a repeated name") {
    Headers h;
    h.add("Cookie", "junk ;  nk_session = \"q1\" ; nk_session=second;");
    CHECK(cookie_value(h, "nk_session") == "q1");
    Headers empty_value;
    empty_value.add("Cookie", "nk_session=");
    CHECK(cookie_value(empty_value, "nk_session") == "");
}

TEST_CASE("cookie_value looks at a bounded number of pairs") {
    std::string many;
    for (std::size_t i = 0; i < k_max_cookie_pairs; ++i) many += "x=1;";
    Headers h;
    h.add("Cookie", many + "nk_session=late");
    CHECK_FALSE(cookie_value(h, "nk_session").has_value());
}

TEST_CASE("set_cookie: always HttpOnly and SameSite=Strict; Secure and Max-Age when asked") {
    CHECK(set_cookie("nk_session", "v", {}) == "nk_session=v; Path=/; HttpOnly; SameSite=Strict");
    CHECK(set_cookie("nk_session", "v", {.max_age = 3600, .secure = true}) ==
          "nk_session=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure");
    CHECK(set_cookie("nk_session", "", {.max_age = 0}) ==
          "nk_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}
