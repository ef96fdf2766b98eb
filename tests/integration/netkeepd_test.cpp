// The real netkeepd binary on loopback with temp dirs: what an operator and a worker see.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
using namespace std::chrono_literals;

namespace {

// A temp root with a one-device inventory; the data dir is left for netkeepd to create.
struct Dirs {
    TempDir root = TempDir::create("netkeepd-it").value();
    std::filesystem::path data = root / "data";
    std::filesystem::path inventory = root / "inventory";
    Dirs() {
        std::filesystem::create_directories(inventory);
        std::ofstream(inventory / "devices.json")
            << R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}}]})";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})";
    }
};

RunningServer start(const Dirs& dirs, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--data-dir",  dirs.data.string(),
                                  "--inventory", dirs.inventory.string(),
                                  "--listen",    "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = start_netkeepd(args);
    if (!server) FAIL(server.status().to_string());
    return std::move(server.value());
}

}  // namespace

TEST_CASE("netkeepd: /healthz, 404 and 405 with JSON bodies") {
    Dirs dirs;
    auto server = start(dirs);
    CHECK(server.host == "127.0.0.1");
    CHECK(std::filesystem::is_directory(dirs.data));  // created at start

    auto client = connect(server);
    auto r = client.get("/healthz");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->body == R"({"status":"ok"})");

    r = client.get("/no/such/route");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->body == R"({"error": "no route for /no/such/route"})");

    r = client.request("POST", "/healthz", "{}");
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("Allow") == "GET, HEAD");
    CHECK(r->body == R"({"error": "method POST is not allowed for /healthz"})");
}

TEST_CASE("netkeepd: keep-alive reuses one connection for several requests") {
    Dirs dirs;
    auto server = start(dirs);
    auto client = connect(server);
    const auto port = client.local_port();
    REQUIRE(port != 0);
    for (int i = 0; i < 10; ++i) {
        auto r = client.get(i % 2 == 0 ? "/healthz" : "/missing");
        REQUIRE(r);
        CHECK(r->keep_alive);
        CHECK(client.local_port() == port);
    }
}

TEST_CASE("netkeepd: an oversized header block gets 431") {
    Dirs dirs;
    auto server = start(dirs);
    auto client = connect(server);
    REQUIRE(client
                .send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: " +
                          std::string(32 * 1024, 'h') + "\r\n\r\n")
                .is_ok());
    auto r = client.read_response();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(!r->keep_alive);
    CHECK(r->body.starts_with(R"({"error": )"));

    auto other = connect(server);  // still serving
    auto ok = other.get("/healthz");
    REQUIRE(ok);
    CHECK(ok->status == 200);
}

TEST_CASE(
    "netkeepd: a silent client is closed after the header timeout; others are served meanwhile") {
    Dirs dirs;
    // A header timeout long enough that five requests on loopback finish well inside it,
    // however loaded the machine: "served meanwhile" must not be a race with the timeout.
    auto server = start(dirs, {"--header-timeout", "3"});
    auto silent = connect(server);
    const auto start_time = std::chrono::steady_clock::now();

    auto busy = connect(server);
    for (int i = 0; i < 5; ++i) {
        auto r = busy.get("/healthz");
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(std::chrono::steady_clock::now() - start_time < 2900ms);  // not held up by the silent one

    // Closed, not still open: after the header timeout, long before the idle one (60 s).
    // The read's timeout only bounds a failing test.
    auto rest = silent.read_until_close(30s);
    REQUIRE(rest);
    CHECK(rest->empty());
    CHECK(std::chrono::steady_clock::now() - start_time >= 2900ms);
}

TEST_CASE("netkeepd: SIGTERM and SIGINT shut down cleanly with exit code 0") {
    for (int sig : {SIGTERM, SIGINT}) {
        CAPTURE(sig);
        Dirs dirs;
        auto server = start(dirs);
        auto client = connect(server);  // an idle keep-alive connection must not hold shutdown up
        REQUIRE(client.get("/healthz"));
        REQUIRE(server.process.send_signal(sig).is_ok());
        auto exit = server.process.wait(10s);
        REQUIRE(exit);
        CHECK(exit->exited());
        CHECK(exit->code == 0);
        auto rest = client.read_until_close(2s);
        CHECK(rest);
    }
}

TEST_CASE("netkeepd: --log-level warn leaves out the info lines") {
    for (std::string level : {"info", "warn"}) {
        CAPTURE(level);
        Dirs dirs;
        auto server = start(dirs, {"--log-level", level});
        REQUIRE(server.process.send_signal(SIGTERM).is_ok());
        REQUIRE(server.process.wait(10s));
        const std::string log = server.process.stderr_text();
        // inventory.applied and log.replayed are info lines of every start.
        CHECK((log.find(" info inventory.applied ") != std::string::npos) == (level == "info"));
        CHECK((log.find(" info ") != std::string::npos) == (level == "info"));
    }
}

TEST_CASE("netkeepd: command-line and directory errors") {
    auto binary = netkeepd_path();
    REQUIRE(binary);
    Dirs dirs;

    SUBCASE("missing inventory dir") {
        auto missing = (dirs.root / "no-inventory").string();
        auto p = Process::spawn({binary->string(), "--data-dir", dirs.data.string(), "--inventory",
                                 missing, "--listen", "127.0.0.1:0"});
        REQUIRE(p);
        auto exit = p->wait(10s);
        REQUIRE(exit);
        CHECK(exit->exited());
        CHECK(exit->code == 2);
        CHECK(p->stderr_text().find(missing) != std::string::npos);
        CHECK(p->stdout_text().find("listening") == std::string::npos);
    }
    SUBCASE("usage errors") {
        for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
                 {},
                 {"--data-dir", dirs.data.string()},
                 {"--data-dir", dirs.data.string(), "--inventory", dirs.inventory.string(),
                  "--bogus"},
                 {"--data-dir", dirs.data.string(), "--inventory", dirs.inventory.string(),
                  "--listen", "nope"},
                 {"--data-dir", dirs.data.string(), "--inventory", dirs.inventory.string(),
                  "--listen", "127.0.0.1:99999"},
                 {"--data-dir", dirs.data.string(), "--inventory", dirs.inventory.string(),
                  "--header-timeout", "0"},
                 {"--data-dir", dirs.data.string(), "--inventory", dirs.inventory.string(),
                  "--log-level", "verbose"},
             }) {
            CAPTURE(args.size());
            args.insert(args.begin(), binary->string());
            auto p = Process::spawn(args);
            REQUIRE(p);
            auto exit = p->wait(10s);
            REQUIRE(exit);
            CHECK(exit->code == 2);
            CHECK(p->stderr_text().find("usage: netkeepd") != std::string::npos);
        }
    }
    SUBCASE("data dir already in use by another netkeepd") {
        auto first = start(dirs);
        auto p = Process::spawn({binary->string(), "--data-dir", dirs.data.string(), "--inventory",
                                 dirs.inventory.string(), "--listen", "127.0.0.1:0"});
        REQUIRE(p);
        auto exit = p->wait(10s);
        REQUIRE(exit);
        CHECK(exit->code == 1);
        CHECK(p->stderr_text().find("is another netkeepd running on this data dir?") !=
              std::string::npos);
    }
    SUBCASE("port already taken") {
        auto first = start(dirs);
        auto p = Process::spawn({binary->string(), "--data-dir", (dirs.root / "data2").string(),
                                 "--inventory", dirs.inventory.string(), "--listen",
                                 "127.0.0.1:" + std::to_string(first.port)});
        REQUIRE(p);
        auto exit = p->wait(10s);
        REQUIRE(exit);
        CHECK(exit->code == 1);
        CHECK(p->stderr_text().find("cannot listen") != std::string::npos);
    }
}
