// --strict-host-keys on the command line, and what strict mode does to a telnet job
// (refused before any connection; docs/worker.md#host-keys).
#include <doctest/doctest.h>

#include <ctime>

#include "worker/run.hpp"
#include "worker/worker.hpp"

using namespace netkeep;
using namespace netkeep::worker;

TEST_CASE("--strict-host-keys is a switch, off by default") {
    auto o = parse_worker_args({"--server", "http://127.0.0.1:8080"});
    REQUIRE(o.is_ok());
    CHECK_FALSE(o->run.strict_host_keys);

    o = parse_worker_args(
        {"--strict-host-keys", "--server", "http://127.0.0.1:8080", "--max", "2"});
    REQUIRE_MESSAGE(o.is_ok(), o.status().to_string());
    CHECK(o->run.strict_host_keys);
    CHECK(o->max == 2);  // the next flag is not taken as its value

    CHECK(
        parse_worker_args({"--server", "http://h", "--strict-host-keys=yes"}).status().message() ==
        "--strict-host-keys takes no value");
    CHECK(worker_usage().find("--strict-host-keys") != std::string_view::npos);
}

TEST_CASE("--log-level takes a level name, info by default") {
    auto o = parse_worker_args({"--server", "http://h"});
    REQUIRE(o.is_ok());
    CHECK(o->log_level == netkeep::LogLevel::info);
    o = parse_worker_args({"--server", "http://h", "--log-level", "debug"});
    REQUIRE_MESSAGE(o.is_ok(), o.status().to_string());
    CHECK(o->log_level == netkeep::LogLevel::debug);
    CHECK(parse_worker_args({"--server", "http://h", "--log-level=loud"}).status().message() ==
          "--log-level must be debug, info, warn or error");
}

TEST_CASE("strict mode refuses a telnet job without connecting") {
    Lease lease;
    lease.device = "con-1";
    // Nothing listens on port 1: a connection attempt would fail with another text.
    lease.host = "127.0.0.1";
    lease.protocol = "telnet";
    lease.port = 1;
    lease.credentials.user = "u";
    lease.credentials.pass = "pw";
    lease.commands = {"show run"};
    lease.timeout = 5;
    lease.expires = std::int64_t(std::time(nullptr)) + 60;
    RunOptions options;
    options.strict_host_keys = true;
    OutputBuffer out;
    auto failure = run_job(lease, options, out, ServerClock::local_ms());
    REQUIRE(failure);
    CHECK(
        failure->starts_with("telnet refused: 127.0.0.1:1 is a telnet device, and "
                             "--strict-host-keys sends credentials only to devices whose SSH "
                             "host key is pinned"));
    options.strict_host_keys = false;
    failure = run_job(lease, options, out, ServerClock::local_ms());
    REQUIRE(failure);
    CHECK(*failure == "connection refused: 127.0.0.1:1");
}
