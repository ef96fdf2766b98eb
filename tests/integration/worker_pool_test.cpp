// Issue 13: the worker's runner threads post their results over a bounded pool of
// connections, so one netkeep-worker at --concurrency 100 stays under netkeepd's default
// --max-connections-per-client (64). Before the pool every runner thread had its own
// connection: at 100 jobs at once the connections past 64 were refused at accept, and
// their results waited for the retry backoff (docs/worker.md#performance).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "e2e_support.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

constexpr const char* k_password = "pool-Secret-pw-13";

std::vector<DeviceEntry> ssh_devices(int n, std::uint16_t port) {
    std::vector<DeviceEntry> devices;
    for (int i = 0; i < n; ++i) {
        DeviceEntry d{fmt::format("d{:03}", i), "ssh", port};
        d.pass = k_password;
        devices.push_back(d);
    }
    return devices;
}

// netkeepd's refused-connection counter for `reason` (per_client or total), from /metrics.
// Asked from 127.0.0.2: from the worker's address it would count against the same limit.
long refused(const Backup& b, std::string_view reason) {
    auto text = run_program({"/usr/bin/curl", "-sS", "--max-time", "10", "--interface", "127.0.0.2",
                             b.url() + "/metrics"});
    REQUIRE(text);
    const std::string key =
        fmt::format("netkeep_http_connections_refused_total{{reason=\"{}\"}} ", reason);
    const auto at = text->find(key);
    REQUIRE_MESSAGE(at != std::string::npos, *text);
    return std::stol(text->substr(at + key.size()));
}

// Runs every device once with `worker_args` and checks that each result was posted at
// the first try, with no connection refused by netkeepd.
void run_all_once(const std::vector<DeviceEntry>& devices, std::vector<std::string> server_args,
                  std::vector<std::string> worker_args, int post_connections) {
    Backup b(devices, R"("schedule": {"interval": 86400}, "timeout": 120)",
             R"(["terminal length 0", "show run"])", std::move(server_args));
    Process worker = b.start_worker(std::move(worker_args));
    const int n = int(devices.size());
    REQUIRE_MESSAGE(
        eventually([&] { return int(count(worker.stderr_text(), "completion.posted")) >= n; },
                   180s),
        worker.stderr_text());
    CHECK(refused(b, "per_client") == 0);
    CHECK(refused(b, "total") == 0);
    CHECK(stop(worker).code == 0);
    const std::string log = worker.stderr_text();
    CHECK(log.find(fmt::format(" post_connections={} ", post_connections)) != std::string::npos);
    // The worker's own count, at worker.stopped: never more than the bound were opened.
    const auto opened = log.find("post_connections_opened=");
    REQUIRE(opened != std::string::npos);
    const int n_opened = std::stoi(log.substr(opened + 24));
    CHECK(n_opened >= 1);
    CHECK(n_opened <= post_connections);
    CHECK(count(log, "job.succeeded") == std::size_t(n));
    CHECK(count(log, "completion.posted") == std::size_t(n));
    // A refused connection shows as a retry: none, and nothing given up.
    CHECK(log.find("completion.retry") == std::string::npos);
    CHECK(log.find("completion.gave_up") == std::string::npos);
    CHECK(log.find("job.failed") == std::string::npos);
    CHECK(log.find(k_password) == std::string::npos);
    b.stop_server();
    const auto summary = b.read_log();
    CHECK(summary.failures.empty());
    CHECK(summary.expired == 0);
}

}  // namespace

TEST_CASE("one worker at concurrency 100: 200 jobs, all posted at once, none refused") {
    FakeDevice fake = start_fake_device({"--password", k_password});
    // --max 100: the first poll fills every runner thread, so about 100 jobs end, and
    // post, at the same moment.
    run_all_once(ssh_devices(200, fake.ssh_port), {}, {"--concurrency", "100", "--max", "100"}, 8);
}

TEST_CASE("--post-connections bounds the connections: 20 jobs at once, a server limit of 4") {
    FakeDevice fake = start_fake_device({"--password", k_password});
    // 3 posting connections + the polling one = netkeepd's limit of 4; one runner thread
    // per connection, as before the pool, would be refused 16 times over.
    run_all_once(ssh_devices(40, fake.ssh_port), {"--max-connections-per-client", "4"},
                 {"--concurrency", "20", "--max", "20", "--post-connections", "3"}, 3);
}
