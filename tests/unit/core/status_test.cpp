#include <doctest/doctest.h>

#include "netkeep/status.hpp"

using netkeep::Result;
using netkeep::Status;

TEST_CASE("a default Status is ok and names no problem") {
    Status s;
    CHECK(s.is_ok());
    CHECK(s.to_string() == "ok");
}

TEST_CASE("an error Status carries its code and message") {
    Status s = Status::corruption("seq 7: checksum mismatch");
    CHECK_FALSE(s.is_ok());
    CHECK(s.code() == Status::Code::corruption);
    CHECK(s.to_string() == "corruption: seq 7: checksum mismatch");
}

TEST_CASE("Result holds either a value or the status explaining its absence") {
    Result<int> good = 42;
    REQUIRE(good.is_ok());
    CHECK(*good == 42);

    Result<int> bad = Status::not_found("no such device");
    CHECK_FALSE(bad.is_ok());
    CHECK(bad.status().code() == Status::Code::not_found);
}
