// Retention with the real netkeepd (docs/retention.md): a pass on a short test interval
// moves old events to the archive, the events API then starts at first_seq, netkeepctl
// log --archive and verify read across the archive, and the metrics show it.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint64_t> seqs_of(const std::string& json_lines) {
    std::vector<std::uint64_t> out;
    simdjson::dom::parser parser;
    std::size_t at = 0;
    while (at < json_lines.size()) {
        std::size_t end = json_lines.find('\n', at);
        if (end == std::string::npos) end = json_lines.size();
        if (end > at) {
            simdjson::dom::element e = parser.parse(json_lines.substr(at, end - at));
            out.push_back(e["seq"].get_uint64().value());
        }
        at = end + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("netkeepd archives old events on its retention pass; history stays readable") {
    TempDir root = TempDir::create("retention-it").value();
    const fs::path data = root / "data";
    const fs::path inventory = root / "inventory";
    fs::create_directories(inventory);
    std::string devices;
    for (int i = 0; i < 12; ++i)
        devices += fmt::format(
            R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "p"}}}})", i ? "," : "", i);
    std::ofstream(inventory / "devices.json") << R"({"devices": [)" + devices + "]}";
    std::ofstream(inventory / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "command": {"inline": ["show run"]}, "schedule": {"interval": 3600}}]})";
    // 0.00003 days: 2.6 s. Snapshots a second after a change: retention never goes past
    // the newest snapshot + 1.
    const std::vector<std::string> args{"--data-dir",
                                        data.string(),
                                        "--inventory",
                                        inventory.string(),
                                        "--listen",
                                        "127.0.0.1:0",
                                        "--log-retention",
                                        "0.00003",
                                        "--retention-interval",
                                        "1",
                                        "--snapshot-interval",
                                        "1"};
    auto started = start_netkeepd(args);
    REQUIRE_MESSAGE(started.is_ok(), started.status().to_string());
    RunningServer server = std::move(started.value());
    auto client = connect(server);
    std::size_t leased = 0;
    for (int i = 0; i < 8; ++i) leased += lease(client, "?max=1").size();
    REQUIRE(leased == 8);  // seqs 2..9 after the inventory at 1
    REQUIRE(
        eventually([&] { return metric_value(client, "netkeep_snapshot_last_seq") == 9; }, 20s));
    REQUIRE(eventually([&] { return metric_value(client, "netkeep_log_first_seq") == 10; }, 20s));
    // The counters follow once the pass has also reclaimed the space.
    CHECK(eventually(
        [&] { return metric_value(client, "netkeep_retention_archived_events_total") == 9; }));
    CHECK(server.process.stderr_text().find("retention.pass") != std::string::npos);
    CHECK(!fs::is_empty(data / "archive"));
    for (int i = 0; i < 4; ++i) leased += lease(client, "?max=1").size();
    REQUIRE(leased == 12);  // seqs 10..13

    // The events API starts at first_seq (not at the pinned inventory).
    auto page = client.get("/api/v1/events?from=1&limit=3");
    REQUIRE(page.is_ok());
    REQUIRE(page->status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page->body);
    CHECK(doc["events"].at(0)["seq"].get_uint64().value() == 10);

    // netkeepctl beside the running server: the log alone, then with the archive.
    auto plain = ctl({"--data-dir", data.string(), "--json", "log"});
    REQUIRE_MESSAGE(plain.code == 0, plain.err);
    auto from_log = seqs_of(plain.out);
    REQUIRE(!from_log.empty());
    CHECK(from_log.front() == 10);
    auto archived = ctl({"--data-dir", data.string(), "--json", "log", "--archive"});
    REQUIRE_MESSAGE(archived.code == 0, archived.err);
    auto whole = seqs_of(archived.out);
    REQUIRE(whole.size() >= 13);
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(whole[i] == i + 1);

    auto verified = ctl({"--data-dir", data.string(), "verify"});
    CHECK_MESSAGE(verified.code == 0, (verified.out + verified.err));
    CHECK_MESSAGE(verified.out.find("segments before the log's first seq 10") != std::string::npos,
                  verified.out);

    // A restart: from the snapshot, then the tail; the leases are still there.
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    REQUIRE(server.process.wait(20s).is_ok());
    {
        auto again = start_netkeepd(args);
        REQUIRE_MESSAGE(again.is_ok(), again.status().to_string());
        auto c = connect(*again);
        CHECK(metric_value(c, "netkeep_log_first_seq") == 10);
        CHECK(lease(c).empty());  // all 12 leased before the restart
        CHECK(again->process.stderr_text().find("from_snapshot") != std::string::npos);
        REQUIRE(again->process.send_signal(SIGTERM).is_ok());
        REQUIRE(again->process.wait(20s).is_ok());
    }

    // A damaged segment: verify names it.
    fs::path segment = fs::directory_iterator(data / "archive")->path();
    {
        std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(70);
        f.put('\x5a');
    }
    auto damaged = ctl({"--data-dir", data.string(), "verify"});
    CHECK(damaged.code != 0);
    CHECK_MESSAGE(damaged.out.find(segment.filename().string()) != std::string::npos,
                  (damaged.out + damaged.err));
    auto log_damaged = ctl({"--data-dir", data.string(), "log", "--archive"});
    CHECK(log_damaged.code != 0);
    CHECK_MESSAGE(log_damaged.err.find(segment.filename().string()) != std::string::npos,
                  log_damaged.err);
}
