// Issue 11 on the worker's side, with the real netkeep-worker and tools/fake-device:
// - --max-output: a device that sends more than the cap fails the job as "too large";
// - clock skew: /worker/next answers carry X-Netkeep-Server-Time (real netkeepd), and a
//   worker whose clock is an hour off runs jobs when the server says they are due,
//   budgets and reports them in server time, and logs the skew once. The skewed server
//   is a scripted one (an http::Server in this test): no clock on this machine is changed.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <asio/io_context.hpp>

#include "e2e_support.hpp"
#include "http/client.hpp"
#include "http/server.hpp"

using namespace netkeep;
using namespace netkeep::testing;
using namespace std::chrono_literals;

namespace {

std::int64_t local_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The value of a multipart field in a /worker/complete body, or nullopt.
std::optional<std::string> field(const std::string& body, std::string_view name) {
    const std::string head = fmt::format("name=\"{}\"\r\n\r\n", name);
    auto at = body.find(head);
    if (at == std::string::npos) return std::nullopt;
    at += head.size();
    return body.substr(at, body.find("\r\n", at) - at);
}

// A netkeepd stand-in whose clock is `skew_ms` off this machine's: hands out one lease
// for device r1 (due now in its time), answers 204 after that, records completions.
class SkewedServer {
public:
    SkewedServer(std::int64_t skew_ms, std::uint16_t device_port)
        : skew_ms_(skew_ms), port_(device_port) {
        http::Router router;
        REQUIRE(router
                    .add("GET", "/worker/next",
                         [this](http::Request&) -> asio::awaitable<http::Response> {
                             co_return next();
                         })
                    .is_ok());
        REQUIRE(router
                    .add("POST", "/worker/complete",
                         [this](http::Request& r) -> asio::awaitable<http::Response> {
                             {
                                 std::lock_guard lock(mutex_);
                                 completions_.push_back(r.body().text());
                             }
                             co_return http::json_response(200, R"({"seq":1})");
                         },
                         {.body_mode = http::BodyMode::buffered, .max_body = 64 << 20})
                    .is_ok());
        server_ = std::make_unique<http::Server>(io_, std::move(router));
        auto endpoint = server_->listen("127.0.0.1", 0);
        REQUIRE(endpoint.is_ok());
        url_ = fmt::format("http://127.0.0.1:{}", endpoint->port());
        thread_ = std::thread([this] { io_.run(); });
    }
    ~SkewedServer() {
        io_.stop();
        thread_.join();
    }
    const std::string& url() const { return url_; }
    std::vector<std::string> completions() {
        std::lock_guard lock(mutex_);
        return completions_;
    }
    int polls() {
        std::lock_guard lock(mutex_);
        return polls_;
    }
    std::int64_t server_now_ms() const { return local_ms() + skew_ms_; }

private:
    http::Response next() {
        std::lock_guard lock(mutex_);
        ++polls_;
        const std::int64_t now = server_now_ms();
        http::Response r = http::empty_response(204);
        if (!leased_) {
            leased_ = true;
            const std::int64_t t = now / 1000;
            r = http::json_response(
                200,
                fmt::format(
                    R"([{{"device":{{"name":"r1","host":"127.0.0.1","protocol":{{"type":"ssh","ssh":{{"port":{}}}}},)"
                    R"("tags":[],"credentials":{{"user":"r1","pass":"netkeep","prompt":{{"ends_with":"#"}}}}}},)"
                    R"("job":{{"name":"show_run","schedule":{{"interval":3600}},)"
                    R"("command":{{"inline":["terminal length 0","show run"]}},"timeout":60,"max_attempts":1,)"
                    R"("retry_delay":60}},"timestamp":{},"lease":{{"expires":{},"attempt":1}}}}])",
                    port_, t, t + 90));
        }
        r.headers.set("X-Netkeep-Server-Time", std::to_string(now));
        return r;
    }

    std::int64_t skew_ms_;
    std::uint16_t port_;
    asio::io_context io_;
    std::unique_ptr<http::Server> server_;
    std::string url_;
    std::thread thread_;
    std::mutex mutex_;
    bool leased_ = false;
    int polls_ = 0;
    std::vector<std::string> completions_;
};

}  // namespace

TEST_CASE("every /worker/next answer of the real netkeepd carries X-Netkeep-Server-Time") {
    Backup backup({DeviceEntry("r1")}, R"("schedule": {"interval": 3600})");
    auto client = http::Client::connect(backup.server->host, backup.server->port);
    REQUIRE(client.is_ok());
    auto check = [&](const std::string& target, int status) {
        const std::int64_t before = local_ms();
        auto r = client->get(target);
        const std::int64_t after = local_ms();
        REQUIRE(r.is_ok());
        CHECK(r->status == status);
        auto header = r->header("X-Netkeep-Server-Time");
        REQUIRE_MESSAGE(header, target);
        const std::int64_t server = std::stoll(std::string(*header));
        CHECK(std::to_string(server) == *header);  // digits only
        // Same machine, same clock: within the request's round trip.
        CHECK(server >= before);
        CHECK(server <= after);
    };
    check("/worker/next?max=1", 200);
    check("/worker/next", 204);
    check("/worker/next?seconds=0", 400);
    check("/worker/next?bogus=1", 400);
}

TEST_CASE("a worker whose clock is an hour off works in the server's time and says so once") {
    FakeDevice device = start_fake_device({});
    for (std::int64_t skew_s : {3600, -3600}) {
        CAPTURE(skew_s);
        SkewedServer server(skew_s * 1000, device.ssh_port);
        TempDir dir = TempDir::create("worker-skew").value();
        auto p =
            Process::spawn({env_path("NETKEEP_WORKER"), "--server", server.url(), "--known-hosts",
                            (dir / "known_hosts").string(), "--seconds", "1", "--name", "skewed"});
        REQUIRE(p.is_ok());
        // Server ahead (+1 h): the lease is due now in server time, an hour from now in
        // the worker's; read with the local clock the worker would wait an hour.
        // Server behind (-1 h): the lease expires in 90 s of server time, which the local
        // clock reads as an hour ago: the budget would shrink to 1 s.
        REQUIRE_MESSAGE(eventually([&] { return !server.completions().empty(); }, 30s),
                        p->stderr_text());
        // A few more polls, to see the skew is not logged at each.
        CHECK(eventually([&] { return server.polls() >= 4; }, 10s));
        const std::string body = server.completions().front();
        const std::int64_t server_s = server.server_now_ms() / 1000;
        auto start = field(body, "start_timestamp");
        auto end = field(body, "end_timestamp");
        REQUIRE(start);
        REQUIRE(end);
        CHECK(std::abs(std::stoll(*start) - server_s) <= 15);
        CHECK(std::abs(std::stoll(*end) - server_s) <= 15);
        CHECK(std::stoll(*start) <= std::stoll(*end));
        CHECK_MESSAGE(!field(body, "failure"), *field(body, "failure"));
        CHECK(body.find("hostname r1") != std::string::npos);

        CHECK(stop(*p).code == 0);
        const std::string log = p->stderr_text();
        CHECK(count(log, "worker.clock_skew") == 1);
        const auto at = log.find("worker.clock_skew skew_ms=");
        REQUIRE(at != std::string::npos);
        const std::int64_t logged =
            std::stoll(log.substr(at + std::string("worker.clock_skew skew_ms=").size()));
        CHECK(std::abs(logged - skew_s * 1000) < 2000);
        CHECK(log.find(skew_s > 0 ? "clock is behind the server's"
                                  : "clock is ahead of the server's") != std::string::npos);
    }
}

TEST_CASE(
    "--max-output: a device that sends more fails the job as too large, nothing is committed") {
    FakeDevice device = start_fake_device({});
    // huge-*: a 20 MiB config. The cap is 1 MB.
    std::vector<DeviceEntry> devices{DeviceEntry("huge-r1", "ssh", device.ssh_port),
                                     DeviceEntry("r2", "ssh", device.ssh_port)};
    for (auto& d : devices) d.pass = "netkeep";  // fake-device's password
    Backup backup(devices, R"("schedule": {"interval": 3600}, "max_attempts": 1)");
    Process worker = backup.start_worker({"--max-output", "1000000"});
    REQUIRE_MESSAGE(eventually(
                        [&] {
                            const std::string log = worker.stderr_text();
                            return log.find("job.failed device=huge-r1") != std::string::npos &&
                                   log.find("job.succeeded device=r2") != std::string::npos;
                        },
                        60s),
                    worker.stderr_text());
    // r2 (4 KiB) under the cap is committed as usual.
    REQUIRE(eventually([&] { return backup.commits() == 1; }, 30s));
    CHECK(backup.file("r2") == print_config("r2"));
    CHECK_FALSE(backup.file("huge-r1"));
    CHECK(stop(worker).code == 0);
    backup.stop_server();
    auto summary = backup.read_log();
    REQUIRE(summary.failures["huge-r1"].size() == 1);
    CHECK(summary.failures["huge-r1"][0] ==
          "too large: more than 1000000 bytes of output (--max-output) while running \"show run\"");
}
