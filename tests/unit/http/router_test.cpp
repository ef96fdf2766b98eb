#include <doctest/doctest.h>

#include "http/router.hpp"

using namespace netkeep::http;

namespace {

Handler tagged(std::string tag) {
    return [tag](Request&) -> asio::awaitable<Response> { co_return text_response(200, tag); };
}

const std::string& pattern_of(const Router::Match& m) {
    REQUIRE(m.kind == Router::Match::Kind::found);
    return m.route->pattern;
}

}  // namespace

TEST_CASE("router: captures, 404 and 405") {
    Router router;
    REQUIRE(router.add("GET", "/healthz", tagged("health")).is_ok());
    REQUIRE(router.add("GET", "/api/v1/tasks", tagged("tasks")).is_ok());
    REQUIRE(router.add("POST", "/api/v1/tasks/{device}/{job}/run", tagged("run")).is_ok());
    REQUIRE(router.add("GET", "/api/v1/tasks/{device}/{job}", tagged("task")).is_ok());
    REQUIRE(router.add("DELETE", "/api/v1/tasks/{device}/{job}", tagged("delete")).is_ok());

    auto m = router.match("POST", "/api/v1/tasks/device1.local/cisco_show_run/run");
    CHECK(pattern_of(m) == "/api/v1/tasks/{device}/{job}/run");
    REQUIRE(m.captures.size() == 2);
    CHECK(m.captures[0] == std::pair<std::string, std::string>{"device", "device1.local"});
    CHECK(m.captures[1] == std::pair<std::string, std::string>{"job", "cisco_show_run"});

    CHECK(router.match("GET", "/nope").kind == Router::Match::Kind::not_found);
    CHECK(router.match("GET", "/healthz/").kind == Router::Match::Kind::not_found);
    CHECK(router.match("GET", "/api/v1/tasks/a").kind == Router::Match::Kind::not_found);
    CHECK(router.match("GET", "/api/v1/tasks//b").kind ==
          Router::Match::Kind::not_found);  // empty capture

    auto wrong = router.match("POST", "/healthz");
    CHECK(wrong.kind == Router::Match::Kind::method_not_allowed);
    CHECK(wrong.allow == "GET, HEAD");
    auto wrong2 = router.match("PUT", "/api/v1/tasks/a/b");
    CHECK(wrong2.kind == Router::Match::Kind::method_not_allowed);
    CHECK(wrong2.allow == "DELETE, GET, HEAD");
    auto wrong3 = router.match("GET", "/api/v1/tasks/a/b/run");
    CHECK(wrong3.kind == Router::Match::Kind::method_not_allowed);
    CHECK(wrong3.allow == "POST");
}

TEST_CASE("router: HEAD falls back to GET") {
    Router router;
    REQUIRE(router.add("GET", "/x", tagged("get")).is_ok());
    CHECK(pattern_of(router.match("HEAD", "/x")) == "/x");
    CHECK(router.match("HEAD", "/x").route->method == "GET");
    REQUIRE(router.add("HEAD", "/x", tagged("head")).is_ok());
    CHECK(router.match("HEAD", "/x").route->method == "HEAD");
}

TEST_CASE("router: literal segments win over captures, leftmost first") {
    Router router;
    REQUIRE(router.add("GET", "/tasks/{device}", tagged("device")).is_ok());
    REQUIRE(router.add("GET", "/tasks/summary", tagged("summary")).is_ok());
    REQUIRE(router.add("GET", "/{a}/x", tagged("ax")).is_ok());
    REQUIRE(router.add("GET", "/tasks/{b}", tagged("dup")).code() ==
            netkeep::Status::Code::conflict);
    CHECK(pattern_of(router.match("GET", "/tasks/summary")) == "/tasks/summary");
    CHECK(pattern_of(router.match("GET", "/tasks/r1")) == "/tasks/{device}");
    CHECK(pattern_of(router.match("GET", "/tasks/x")) ==
          "/tasks/{device}");  // literal "tasks" first
    CHECK(pattern_of(router.match("GET", "/other/x")) == "/{a}/x");
}

TEST_CASE("router: segments are split before decoding") {
    Router router;
    REQUIRE(router.add("GET", "/d/{name}", tagged("d")).is_ok());
    REQUIRE(router.add("GET", "/a b", tagged("space")).is_ok());
    auto m = router.match("GET", "/d/a%2Fb");
    REQUIRE(m.kind == Router::Match::Kind::found);
    CHECK(m.captures[0].second == "a/b");
    CHECK(router.match("GET", "/d/a/b").kind == Router::Match::Kind::not_found);
    CHECK(pattern_of(router.match("GET", "/a%20b")) == "/a b");
    CHECK(router.match("GET", "/d/%zz").kind == Router::Match::Kind::not_found);
}

TEST_CASE("router: root and bad patterns") {
    Router router;
    REQUIRE(router.add("GET", "/", tagged("root")).is_ok());
    CHECK(pattern_of(router.match("GET", "/")) == "/");
    CHECK(router.match("GET", "/x").kind == Router::Match::Kind::not_found);

    using netkeep::Status;
    CHECK(router.add("GET", "", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "nope", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "/{}", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "/{a-b}", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "/{a}/{a}", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "/x{a}", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("", "/x", tagged("x")).code() == Status::Code::invalid_argument);
    CHECK(router.add("GET", "/x", Handler{}).code() == Status::Code::invalid_argument);
}
