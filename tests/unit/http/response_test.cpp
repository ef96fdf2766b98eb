#include <doctest/doctest.h>

#include "http/response.hpp"

using namespace netkeep::http;
using netkeep::Status;

TEST_CASE("response: json_error escapes and adds fields") {
    auto r = json_error(400, "bad \"seconds\"\n", {{"parameter", "seconds"}, {"got", "\x01"}});
    CHECK(r.status == 400);
    CHECK(r.content_type == "application/json");
    CHECK(r.body == R"({"error": "bad \"seconds\"\n", "parameter": "seconds", "got": "\u0001"})");
    CHECK(json_error(404, "x").body == R"({"error": "x"})");
}

TEST_CASE("response: Status maps to HTTP status") {
    CHECK(http_status_for(Status::too_large("x")) == 413);
    CHECK(http_status_for(Status::invalid_argument("x")) == 400);
    CHECK(http_status_for(Status::not_found("x")) == 404);
    CHECK(http_status_for(Status::conflict("x")) == 409);
    CHECK(http_status_for(Status::unavailable("x")) == 503);
    CHECK(http_status_for(Status::not_supported("x")) == 501);
    CHECK(http_status_for(Status::io_error("x")) == 500);
    CHECK(http_status_for(Status::corruption("x")) == 500);
    auto r = error_response(Status::conflict("lease held"));
    CHECK(r.status == 409);
    CHECK(r.body == R"({"error": "lease held"})");
}

TEST_CASE("response: head framing is the server's") {
    auto r = json_response(200, R"({"a":1})");
    r.headers.add("X-Custom", "yes");
    r.headers.add("Content-Length", "999");         // dropped: the server frames the body
    r.headers.add("Connection", "keep-alive");      // dropped
    r.headers.add("X-Evil", "a\r\nSet-Cookie: x");  // dropped: would inject a field
    r.headers.add("Bad Name", "v");                 // dropped: not a token
    auto head = format_response_head(r, false, false);
    CHECK(head ==
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: application/json\r\n"
          "X-Custom: yes\r\n"
          "Content-Length: 7\r\n"
          "\r\n");
    CHECK(format_response_head(r, true, false).find("Connection: close\r\n") != std::string::npos);
    CHECK(format_response_head(r, false, true).find("Connection: keep-alive\r\n") !=
          std::string::npos);

    auto none = format_response_head(empty_response(204), false, false);
    CHECK(none == "HTTP/1.1 204 No Content\r\n\r\n");
    auto empty_ok = format_response_head(empty_response(200), false, false);
    CHECK(empty_ok == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(format_response_head(empty_response(431), true, false)
              .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}
