// The worker's command line, the server URL, the multipart frame, the output buffer.
#include <doctest/doctest.h>

#include <string>

#include "worker/completion.hpp"
#include "worker/output.hpp"
#include "worker/worker.hpp"

using namespace netkeep;
using namespace netkeep::worker;

TEST_CASE("server URLs") {
    auto u = parse_server_url("http://127.0.0.1:8080");
    REQUIRE(u.is_ok());
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 8080);
    CHECK(u->prefix.empty());
    u = parse_server_url("http://[::1]:9/netkeep/");
    REQUIRE(u.is_ok());
    CHECK(u->host == "::1");
    CHECK(u->port == 9);
    CHECK(u->prefix == "/netkeep");
    CHECK(parse_server_url("http://backup.example.net")->port == 80);
    CHECK_FALSE(parse_server_url("https://x").is_ok());
    CHECK_FALSE(parse_server_url("http://x:0").is_ok());
    CHECK_FALSE(parse_server_url("http://x:65536").is_ok());
    CHECK_FALSE(parse_server_url("http://x:").is_ok());
    CHECK_FALSE(parse_server_url("http://:80").is_ok());
}

TEST_CASE("command line: defaults, every flag, errors") {
    auto o = parse_worker_args({"--server", "http://127.0.0.1:8080"});
    REQUIRE(o.is_ok());
    CHECK(o->seconds == 15);
    CHECK(o->max == 15);
    CHECK(o->concurrency == 30);
    CHECK(o->grace == std::chrono::seconds(30));
    CHECK_FALSE(o->run.known_hosts.empty());
    CHECK_FALSE(o->name.empty());

    o = parse_worker_args({"--server=http://h:1",
                           "--tag",
                           "a b",
                           "--tag=dal",
                           "--seconds",
                           "5",
                           "--max",
                           "7",
                           "--concurrency",
                           "3",
                           "--known-hosts",
                           "/tmp/kh",
                           "--grace",
                           "0",
                           "--name",
                           "w1",
                           "--connect-timeout",
                           "2",
                           "--idle-timeout",
                           "9",
                           "--quiet-ms",
                           "50"});
    REQUIRE(o.is_ok());
    CHECK(o->tags == std::vector<std::string>{"a b", "dal"});
    CHECK(o->concurrency == 3);
    CHECK(o->run.known_hosts == "/tmp/kh");
    CHECK(o->run.quiet == std::chrono::milliseconds(50));
    CHECK(o->run.idle_timeout == std::chrono::seconds(9));
    CHECK(next_target(*o, 4) == "/worker/next?seconds=5&max=4&tag=a%20b&tag=dal");

    CHECK(parse_worker_args({}).status().message() == "--server URL is required");
    CHECK(parse_worker_args({"--server", "http://h", "--max", "0"}).status().message() ==
          "--max must be an integer from 1 to 1000");
    CHECK(parse_worker_args({"--server", "http://h", "--bogus", "1"}).status().message() ==
          "unknown option '--bogus'");
    CHECK(parse_worker_args({"--server"}).status().message() == "--server needs a value");
    CHECK(parse_worker_args({"--help"}).status().code() == Status::Code::not_found);
}

TEST_CASE("the multipart frame: fields, a one-line failure, the file named after the job") {
    Completion c{"r1", "show_run", 100, 101, 102, std::string("timed out:\r\nsecond line")};
    auto f = multipart_frame(c, "B");
    CHECK(f.content_type == "multipart/form-data; boundary=B");
    CHECK(
        f.head ==
        "--B\r\nContent-Disposition: form-data; name=\"device\"\r\n\r\nr1\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"job_timestamp\"\r\n\r\n100\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"start_timestamp\"\r\n\r\n101\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"end_timestamp\"\r\n\r\n102\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"failure\"\r\n\r\ntimed out:  second line\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"show_run\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n");
    CHECK(f.tail == "\r\n--B--\r\n");
    c.failure.reset();
    CHECK(multipart_frame(c, "B").head.find("failure") == std::string::npos);
}

TEST_CASE("the output buffer spills to an unlinked file past its memory limit") {
    OutputBuffer small(10);
    REQUIRE(small.write("hello ").is_ok());
    CHECK_FALSE(small.spilled());
    std::string big(300 * 1024, 'z');
    big[77777] = 'q';
    REQUIRE(small.write(big).is_ok());
    REQUIRE(small.write("tail").is_ok());
    CHECK(small.spilled());
    CHECK(small.size() == 6 + big.size() + 4);
    std::string back;
    std::size_t pieces = 0;
    REQUIRE(small
                .read_all([&](std::string_view p) {
                    back.append(p);
                    ++pieces;
                    CHECK(p.size() <= 64 * 1024);
                    return Status::ok();
                })
                .is_ok());
    CHECK(back == "hello " + big + "tail");
    CHECK(pieces > 4);
    small.clear();
    CHECK(small.size() == 0);

    OutputBuffer mem;
    REQUIRE(mem.write("abc").is_ok());
    std::string m;
    REQUIRE(mem.read_all([&](std::string_view p) {
                   m.append(p);
                   return Status::ok();
               })
                .is_ok());
    CHECK(m == "abc");
    CHECK_FALSE(mem.spilled());
}
