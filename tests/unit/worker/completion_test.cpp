// The worker's command line, the server URL, the multipart frame, the output buffer.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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
    CHECK_FALSE(parse_server_url("http://x")->https);
    u = parse_server_url("https://backup.example.net/nk");
    REQUIRE(u.is_ok());
    CHECK(u->https);
    CHECK(u->port == 443);
    CHECK(u->prefix == "/nk");
    CHECK(parse_server_url("https://[::1]:8443")->port == 8443);
    CHECK_FALSE(parse_server_url("ftp://x").is_ok());
    CHECK_FALSE(parse_server_url("HTTPS://x").is_ok());
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
    CHECK(o->run.connect_timeout == std::chrono::seconds(2));
    CHECK(o->name == "w1");
    CHECK(next_target(*o, 4) == "/worker/next?seconds=5&max=4&tag=a%20b&tag=dal");

    CHECK(parse_worker_args({}).status().message() == "--server URL is required");
    CHECK(parse_worker_args({"--server", "http://h", "--max", "0"}).status().message() ==
          "--max must be an integer from 1 to 1000");
    CHECK(parse_worker_args({"--server", "http://h", "--bogus", "1"}).status().message() ==
          "unknown option '--bogus'");
    CHECK(parse_worker_args({"--server"}).status().message() == "--server needs a value (URL)");
    CHECK(parse_worker_args({"--server", "http://h", "stray"}).status().message() ==
          "unexpected argument 'stray'");
    CHECK(parse_worker_args({"--server", "http://h", "--max", "2", "--max", "3"})
              .status()
              .message() == "--max may be given only once");
    // The token never goes on the command line, in any spelling, wherever it comes.
    for (auto token : {"--token", "--token=secret"})
        CHECK(parse_worker_args({"--server", "http://h", token, "x"})
                  .status()
                  .message()
                  .starts_with("--token is not accepted"));
    // --max-output: 1 GiB by default (netkeepd's default --max-upload), bytes, 1..2^40.
    CHECK(parse_worker_args({"--server", "http://h"})->run.max_output == (std::uint64_t(1) << 30));
    CHECK(parse_worker_args({"--server", "http://h", "--max-output", "4096"})->run.max_output ==
          4096);
    CHECK(
        parse_worker_args({"--server", "http://h", "--max-output=1099511627776"})->run.max_output ==
        (std::uint64_t(1) << 40));
    CHECK(parse_worker_args({"--server", "http://h", "--max-output", ""}).status().message() ==
          "--max-output needs a value (BYTES), got an empty one");
    for (const char* bad : {"0", "-1", "1e9", "1099511627777", "99999999999999999999999"})
        CHECK(parse_worker_args({"--server", "http://h", "--max-output", bad}).status().message() ==
              "--max-output must be a byte count from 1 to 1099511627776");
    CHECK(parse_worker_args({"--help"}).status().code() == Status::Code::not_found);
}

TEST_CASE("command line: --post-connections defaults to the smaller of --concurrency and 8") {
    CHECK(parse_worker_args({"--server", "http://h"})->post_connections == 8);
    CHECK(parse_worker_args({"--server", "http://h", "--concurrency", "100"})->post_connections ==
          8);
    CHECK(parse_worker_args({"--server", "http://h", "--concurrency", "3"})->post_connections == 3);
    CHECK(parse_worker_args(
              {"--server", "http://h", "--post-connections", "20", "--concurrency", "100"})
              ->post_connections == 20);
    CHECK(parse_worker_args({"--server", "http://h", "--post-connections=1"})->post_connections ==
          1);
    // Past 64, one worker alone would reach netkeepd's default per-client limit.
    for (const char* bad : {"0", "65", "-1", "x", "1000"})
        CHECK(parse_worker_args({"--server", "http://h", "--post-connections", bad})
                  .status()
                  .message() == "--post-connections must be an integer from 1 to 64");
    CHECK(std::string(worker_usage()).find("--post-connections N") != std::string::npos);
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

TEST_CASE("command line: TLS flags need https, a client certificate needs its key") {
    auto o = parse_worker_args({"--server", "https://h:8443", "--ca-file", "/etc/ca.crt",
                                "--client-cert=/etc/w.crt", "--client-key", "/etc/w.key",
                                "--token-file", "/etc/token"});
    REQUIRE(o.is_ok());
    CHECK(o->server.https);
    CHECK(o->tls_files.ca_file == "/etc/ca.crt");
    CHECK(o->tls_files.cert == "/etc/w.crt");
    CHECK(o->tls_files.key == "/etc/w.key");
    CHECK(o->token_file == "/etc/token");
    CHECK_FALSE(parse_worker_args({"--server", "http://h", "--ca-file", "/etc/ca.crt"}).is_ok());
    CHECK_FALSE(parse_worker_args({"--server", "https://h", "--client-cert", "/c"}).is_ok());
    CHECK_FALSE(parse_worker_args({"--server", "https://h", "--client-key", "/k"}).is_ok());
}

TEST_CASE("command line: --token is refused without echoing it") {
    for (auto args : {std::vector<std::string>{"--server", "http://h", "--token", "s3cr3t-tok"},
                      std::vector<std::string>{"--token=s3cr3t-tok", "--server", "http://h"}}) {
        auto o = parse_worker_args(args);
        REQUIRE_FALSE(o.is_ok());
        CHECK(o.status().message().find("--token-file") != std::string::npos);
        CHECK(o.status().message().find("NETKEEP_TOKEN") != std::string::npos);
        CHECK(o.status().message().find("s3cr3t") == std::string::npos);
    }
}

TEST_CASE("the token: one trailing newline trimmed, nothing that could break a header") {
    CHECK(clean_token("abc\n", "t").value() == "abc");
    CHECK(clean_token("abc\r\n", "t").value() == "abc");
    CHECK(clean_token("abc", "t").value() == "abc");
    CHECK_FALSE(clean_token("abc\n\n", "t").is_ok());  // only one newline is trimmed
    CHECK_FALSE(clean_token("\n", "t").is_ok());
    CHECK_FALSE(clean_token("", "t").is_ok());
    for (std::string bad : {std::string("a b"), std::string("a\rb"), std::string("ab\r\nX-Evil: 1"),
                            std::string("a\0b", 3), std::string("tab\t")}) {
        auto r = clean_token(bad, "NETKEEP_TOKEN");
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().message().starts_with("NETKEEP_TOKEN: "));
        CHECK(r.status().message().find(bad) == std::string::npos);
    }
}

TEST_CASE("load_access: --token-file wins over NETKEEP_TOKEN; https gets a TLS context") {
    char dir_template[] = "/tmp/netkeep-worker-token-XXXXXX";
    REQUIRE(::mkdtemp(dir_template));
    const std::string dir = dir_template;
    const std::string file = dir + "/token";
    {
        std::ofstream out(file);
        out << "from-file-token\n";
    }
    auto o = parse_worker_args({"--server", "http://127.0.0.1:1", "--token-file", file});
    REQUIRE(o.is_ok());
    REQUIRE(load_access(*o, "from-env-token").is_ok());
    CHECK(o->access.token == "from-file-token");
    CHECK(o->token_source == "--token-file");
    CHECK_FALSE(o->access.tls);

    o = parse_worker_args({"--server", "https://127.0.0.1:1"});
    REQUIRE(o.is_ok());
    REQUIRE(load_access(*o, "from-env-token").is_ok());
    CHECK(o->access.token == "from-env-token");
    CHECK(o->token_source == "NETKEEP_TOKEN");
    CHECK(o->access.tls);  // the system store

    o = parse_worker_args({"--server", "http://127.0.0.1:1"});
    REQUIRE(load_access(*o, nullptr).is_ok());
    CHECK(o->access.token.empty());
    CHECK(o->token_source == "none");

    o = parse_worker_args({"--server", "http://h", "--token-file", dir + "/missing"});
    auto s = load_access(*o, nullptr);
    CHECK(s.message().find(dir + "/missing") != std::string::npos);
    {
        std::ofstream out(file, std::ios::trunc);
        out << "two words\n";
    }
    o = parse_worker_args({"--server", "http://h", "--token-file", file});
    s = load_access(*o, nullptr);
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.message().find("two") == std::string::npos);
    o = parse_worker_args({"--server", "https://h", "--ca-file", dir + "/none.crt"});
    s = load_access(*o, nullptr);
    CHECK(s.message().find("none.crt") != std::string::npos);
    std::filesystem::remove_all(dir);
}
