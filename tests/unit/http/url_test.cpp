#include <doctest/doctest.h>

#include "http/url.hpp"

using namespace netkeep::http;

TEST_CASE("url: percent_decode") {
    CHECK(percent_decode("a%20b").value() == "a b");
    CHECK(percent_decode("%41%4a%4A").value() == "AJJ");
    CHECK(percent_decode("a+b").value() == "a+b");
    CHECK(percent_decode("a+b", PlusMeans::space).value() == "a b");
    CHECK(percent_decode("%2B", PlusMeans::space).value() == "+");
    CHECK(percent_decode("%00").value() == std::string(1, '\0'));
    CHECK(percent_decode("%ff").value() == "\xff");
    CHECK(percent_decode("").value() == "");
    CHECK(!percent_decode("%"));
    CHECK(!percent_decode("%4"));
    CHECK(!percent_decode("%zz"));
    CHECK(!percent_decode("abc%g1"));
    CHECK(percent_decode("%").status().code() == netkeep::Status::Code::invalid_argument);
}

TEST_CASE("url: parse_query keeps order and repeats") {
    auto q = parse_query("tag=a&tag=b&seconds=15&x=%26%3D&y=a+b&flag&&empty=");
    REQUIRE(q);
    QueryParams expected{{"tag", "a"}, {"tag", "b"}, {"seconds", "15"}, {"x", "&="},
                         {"y", "a b"}, {"flag", ""}, {"empty", ""}};
    CHECK(*q == expected);
    CHECK(parse_query("").value().empty());
    CHECK(parse_query("a%20b=c%2Bd").value() == QueryParams{{"a b", "c+d"}});
    CHECK(parse_query("k=v=w").value() == QueryParams{{"k", "v=w"}});
    CHECK(!parse_query("a=%zz"));
    CHECK(!parse_query("%=1"));
}

TEST_CASE("url: parse_target") {
    auto t = parse_target("/api/v1/tasks/a%2Fb?tag=x&tag=y#frag");
    REQUIRE(t);
    CHECK(t->raw_path == "/api/v1/tasks/a%2Fb");
    CHECK(t->path == "/api/v1/tasks/a/b");
    CHECK(t->raw_query == "tag=x&tag=y");
    CHECK(t->query == QueryParams{{"tag", "x"}, {"tag", "y"}});

    auto plain = parse_target("/healthz");
    REQUIRE(plain);
    CHECK(plain->path == "/healthz");
    CHECK(plain->query.empty());

    auto absolute = parse_target("http://example.com:8080/x%20y?a=1");
    REQUIRE(absolute);
    CHECK(absolute->path == "/x y");
    CHECK(absolute->query == QueryParams{{"a", "1"}});
    auto bare = parse_target("http://example.com");
    REQUIRE(bare);
    CHECK(bare->path == "/");
    auto bare_query = parse_target("http://example.com?z=1");
    REQUIRE(bare_query);
    CHECK(bare_query->path == "/");
    CHECK(bare_query->query == QueryParams{{"z", "1"}});

    CHECK(parse_target("*").value().path == "*");
    CHECK(!parse_target("example.com:443"));
    CHECK(!parse_target("/a%zz"));
    CHECK(!parse_target("/a?b=%"));
}
