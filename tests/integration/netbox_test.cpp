// netkeepctl inventory netbox against recorded NetBox answers (tests/netbox/netbox_server.py
// serves pages shaped as NetBox 3.x and 4.x return them) and the real netkeepd: 5,000
// devices paged into devices.json and reloaded into a running server, the unchanged case
// not reloading, every kind of broken NetBox leaving the last good file, a duplicate name
// refused with the NetBox objects named, filters passed through, the mapping file, v2
// tokens, and --watch.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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
using netkeep::http::Client;
using netkeep::http::Headers;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_v1_token = "0123456789abcdef0123456789abcdef01234567";
constexpr std::string_view k_password = "nb-hunter2-secret";

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const fs::path& p, std::string_view text) {
    std::ofstream(p, std::ios::binary) << text;
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

// The Python NetBox of tests/netbox, on a free loopback port.
struct FakeNetbox {
    Process process;
    std::uint16_t port = 0;

    static FakeNetbox start(int version, int devices, std::string_view token,
                            int max_page_size = 1000) {
        const char* script = std::getenv("NETBOX_SERVER");
        REQUIRE_MESSAGE(script != nullptr, "NETBOX_SERVER is not set: run through meson test");
        auto p =
            Process::spawn({"/usr/bin/python3", script, "--version", std::to_string(version),
                            "--devices", std::to_string(devices), "--token", std::string(token),
                            "--max-page-size", std::to_string(max_page_size)});
        REQUIRE(p.is_ok());
        auto line = p->read_line(20s);
        REQUIRE_MESSAGE(line.is_ok(), p->stderr_text());
        REQUIRE(line->starts_with("listening on 127.0.0.1:"));
        FakeNetbox nb{std::move(p.value()), 0};
        nb.port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
        return nb;
    }
    std::string url() const { return fmt::format("http://127.0.0.1:{}", port); }
    std::string call(std::string_view method, std::string_view target) {
        auto c = Client::connect("127.0.0.1", port);
        REQUIRE(c.is_ok());
        auto r = c->request(method, target);
        REQUIRE(r.is_ok());
        REQUIRE(r->status == 200);
        return r->body;
    }
    void control(std::string_view query) { call("POST", fmt::format("/_control?{}", query)); }
};

struct Fixture {
    TempDir root = TempDir::create("netbox-it").value();
    fs::path inventory = root / "inventory";
    fs::path data = root / "data";
    fs::path token = root / "netbox.token";
    fs::path map = root / "map.json";
    fs::path auth = root / "auth.json";

    Fixture() {
        fs::create_directories(inventory);
        write(inventory / "devices.json", R"({"devices": []})");
        write(inventory / "jobs.json",
              R"({"jobs": [{"name": "config", "schedule": {"cron": "0 3 * * *"},
                             "command": {"inline": ["show running-config"]}}]})");
        write(inventory / "netops.pass", fmt::format("{}\n", k_password));
        write(token, fmt::format("{}\n", k_v1_token));
        write(map, R"({
  "credentials": {"netops": {"user": "netops", "pass": {"file": "netops.pass"}}},
  "profiles": {"netbox": {"credentials": "netops"},
               "lab": {"credentials": "netops", "tags": ["lab"]}},
  "platforms": {"acme-os": "ios"}
})");
    }
    std::vector<std::string> args(const std::string& url) const {
        return {"inventory",    "netbox", "--url",      url,     "--token-file",
                token.string(), "--map",  map.string(), "--out", inventory.string()};
    }
};

std::uint64_t total_tasks(Client& c, const std::string& admin) {
    Headers h;
    h.add("Authorization", "Bearer " + admin);
    auto r = c.request("GET", "/api/v1/status", {}, h);
    REQUIRE(r.is_ok());
    REQUIRE(r->status == 200);
    simdjson::dom::parser parser;
    return parser.parse(r->body)["tasks"]["total"].get_uint64().value();
}

}  // namespace

TEST_CASE(
    "5,000 NetBox 4.x devices reach a running netkeepd; a broken NetBox leaves the last good "
    "file") {
    Fixture f;
    CtlResult added = ctl(
        {"token", "add", "--auth", f.auth.string(), "--name", "netbox-sync", "--role", "admin"});
    REQUIRE_MESSAGE(added.code == 0, added.err);
    const std::string admin = added.out.substr(0, added.out.find('\n'));
    const fs::path admin_file = f.root / "admin.token";
    write(admin_file, admin + "\n");
    auto server =
        start_netkeepd({"--data-dir", f.data.string(), "--inventory", f.inventory.string(),
                        "--listen", "127.0.0.1:0", "--auth", f.auth.string()});
    REQUIRE_MESSAGE(server.is_ok(), server.status().to_string());
    auto client = Client::connect(server->host, server->port);
    REQUIRE(client.is_ok());
    CHECK(total_tasks(*client, admin) == 0);

    FakeNetbox nb = FakeNetbox::start(4, 5000, k_v1_token);
    std::vector<std::string> args = f.args(nb.url());
    args.insert(args.end(), {"--reload", fmt::format("http://{}:{}", server->host, server->port),
                             "--reload-token-file", admin_file.string()});

    // 5,000 objects in pages of 1,000; 100 planned and 50 with netkeep_backup false stay out.
    const auto start = std::chrono::steady_clock::now();
    CtlResult first = ctl(args);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_MESSAGE(first.code == 0, first.err);
    MESSAGE(fmt::format("5,000 NetBox devices, 5 pages, written and reloaded in {} ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    CHECK(first.out.find("netbox: 5000 objects in 5 pages: 4850 devices") != std::string::npos);
    CHECK(first.out.find("devices.json replaced") != std::string::npos);
    CHECK(first.out.find(R"(netkeepd reloaded: {"applied":true)") != std::string::npos);
    CHECK(total_tasks(*client, admin) == 4850);
    const std::string good = read(f.inventory / "devices.json");
    const std::string jobs = read(f.inventory / "jobs.json");
    CHECK(
        good.find(
            R"({"name": "dal1-sw00012", "host": "10.0.0.12", "profile": "netbox", "platform": "ios", "group": "dal1", "tags": ["backup", "role:core", "site:dal1"]})") !=
        std::string::npos);
    CHECK(good.find(R"("name": "dal1-sw00388", "host": "10.0.1.132", "profile": "lab")") !=
          std::string::npos);
    CHECK(good.find(k_password) ==
          std::string::npos);  // the map's {"file"} reference, not its content
    CtlResult check = ctl({"inventory", "check", f.inventory.string()});
    CHECK_MESSAGE(check.code == 0, check.err);

    // The same answer again: nothing written, no reload.
    CtlResult second = ctl(args);
    REQUIRE_MESSAGE(second.code == 0, second.err);
    CHECK(second.out.find("devices.json unchanged") != std::string::npos);
    CHECK(second.out.find("reloaded") == std::string::npos);

    // Every kind of broken answer: exit 1, a message that says why, the files untouched.
    const std::pair<std::string_view, std::string_view> broken[] = {
        {"garbage", "not a NetBox list page: not valid JSON"},
        {"error500", "HTTP 500"},
        {"truncated", "not valid JSON"},
        {"huge", "answer larger than 67108864 bytes"},  // 80 MiB > the 64 MiB page limit
        {"loop", "the next link repeats an earlier page"},
        {"endless", "than the count says"},
        {"drift", "count changed while paging (5000 then 5001)"},
    };
    for (auto [mode, why] : broken) {
        CAPTURE(mode);
        nb.control(fmt::format("mode={}", mode));
        CtlResult r = ctl(args);
        CHECK(r.code == 1);
        CHECK_MESSAGE(r.err.find(why) != std::string::npos, r.err);
        CHECK(r.err.find("(the inventory is left as it was)") != std::string::npos);
        CHECK(read(f.inventory / "devices.json") == good);
        CHECK(read(f.inventory / "jobs.json") == jobs);
    }
    nb.control("mode=normal");

    // A NetBox slower than --timeout (the server sleeps 3 s a page).
    nb.control("mode=slow");
    std::vector<std::string> impatient = args;
    impatient.insert(impatient.end(), {"--timeout", "1"});
    CtlResult slow = ctl(impatient);
    CHECK(slow.code == 1);
    CHECK_MESSAGE(slow.err.find("Operation timed out after") != std::string::npos, slow.err);
    CHECK(read(f.inventory / "devices.json") == good);
    nb.control("mode=normal");

    // A wrong token: NetBox's 403 and its detail.
    write(f.token, "ffffffffffffffffffffffffffffffffffffffff\n");
    CtlResult denied = ctl(args);
    CHECK(denied.code == 1);
    CHECK_MESSAGE(denied.err.find("HTTP 403: Invalid token") != std::string::npos, denied.err);
    CHECK(denied.err.find("ffffffff") == std::string::npos);
    write(f.token, fmt::format("{}\n", k_v1_token));

    // Two NetBox devices with one name (sites keep names apart, netkeep does not).
    nb.control("duplicate=12:16");
    CtlResult dup = ctl(args);
    CHECK(dup.code == 1);
    CHECK_MESSAGE(
        dup.err.find("duplicate device name 'dal1-sw00012' (NetBox device id 12, device id 16)") !=
            std::string::npos,
        dup.err);
    CHECK(read(f.inventory / "devices.json") == good);
    nb.control("duplicate=0:0");

    // NetBox down.
    nb.process.kill();
    CtlResult down = ctl(args);
    CHECK(down.code == 1);
    CHECK_MESSAGE(down.err.find("NetBox: GET http://127.0.0.1:") != std::string::npos, down.err);
    CHECK(read(f.inventory / "devices.json") == good);
    CHECK(total_tasks(*client, admin) == 4850);  // netkeepd kept the inventory throughout

    REQUIRE(server->process.send_signal(SIGTERM).is_ok());
    auto status = server->process.wait(20s);
    REQUIRE(status.is_ok());
    CHECK(status->code == 0);
}

TEST_CASE("NetBox 3.x pages, a filter passed through, and the mapping file") {
    Fixture f;
    write(f.map, R"({
  "credentials": {"netops": {"user": "netops", "pass": {"file": "netops.pass"}}},
  "profiles": {"netbox": {"credentials": "netops"}, "lab": {"credentials": "netops"}},
  "platforms": {"juniper-junos": "ios", "acme-os": null},
  "group": "role",
  "tags": {"site": "", "platform": "os-"},
  "status": ["active", "planned"]
})");
    FakeNetbox nb = FakeNetbox::start(3, 400, k_v1_token, 50);  // MAX_PAGE_SIZE 50
    std::vector<std::string> args = f.args(nb.url());
    args.insert(args.end(), {"--filter", "site=hou1&tag=backup"});
    CtlResult r = ctl(args);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    // hou1 is every 4th device (ids 1, 5, 9...): 100, of which ids 1, 101, 201 and 301 have
    // netkeep_backup false.
    CHECK_MESSAGE(r.out.find("100 objects in 2 pages: 96 devices") != std::string::npos, r.out);
    const std::string requests = nb.call("GET", "/_requests");
    CHECK(requests.find("/api/dcim/devices/"
                        "?limit=1000&offset=0&exclude=config_context&site=hou1&tag=backup\n") !=
          std::string::npos);
    CHECK(requests.find("/api/dcim/devices/"
                        "?limit=50&offset=50&exclude=config_context&site=hou1&tag=backup\n") !=
          std::string::npos);
    const std::string devices = read(f.inventory / "devices.json");
    // 3.x: the role comes from device_role; id 13 runs juniper-junos, remapped to ios.
    CHECK_MESSAGE(
        devices.find(
            R"({"name": "hou1-sw00013", "host": "10.0.0.13", "profile": "netbox", "platform": "ios", "group": "edge", "tags": ["hou1", "os-juniper-junos"]})") !=
            std::string::npos,
        devices);
    // acme-os mapped to nothing: no platform (the job has inline commands, so it loads).
    CHECK(
        devices.find(
            R"({"name": "hou1-sw00005", "host": "10.0.0.5", "profile": "netbox", "group": "access", "tags": ["hou1", "os-acme-os"]})") !=
        std::string::npos);
    CHECK(devices.find("dal1-") == std::string::npos);

    // --json: one object per run.
    std::vector<std::string> json_args = args;
    json_args.push_back("--json");
    CtlResult again = ctl(json_args);
    REQUIRE_MESSAGE(again.code == 0, again.err);
    simdjson::dom::parser parser;
    simdjson::dom::element summary = parser.parse(again.out);
    CHECK(summary["objects"].get_uint64().value() == 100);
    CHECK(summary["pages"].get_uint64().value() == 2);
    CHECK(summary["devices"].get_uint64().value() == 96);
    CHECK(summary["left_out_by_choice"].get_uint64().value() == 4);
    CHECK(summary["devices_json"].get_string().value() == "unchanged");
    CHECK(summary["reload"].is_null());
    CHECK(summary["error"].is_null());

    // A bad mapping file is refused before NetBox is asked.
    write(f.map, R"({"group": "rack"})");
    CtlResult bad = ctl(args);
    CHECK(bad.code == 1);
    CHECK(bad.err.find("--map " + f.map.string() + ": /group: must be site, role, tenant") !=
          std::string::npos);
    CHECK(read(f.inventory / "devices.json") == devices);
}

TEST_CASE("a NetBox 4.5 v2 token goes as Bearer, and --watch keeps going through a failure") {
    Fixture f;
    const std::string v2 = "nbt_abcdef012345.0123456789abcdef0123456789abcdef01234567";
    write(f.token, v2 + "\n");
    FakeNetbox nb = FakeNetbox::start(4, 20, v2);
    const fs::path reloaded = f.root / "reloaded";
    std::vector<std::string> args = f.args(nb.url());
    const char* ctl_path = std::getenv("NETKEEPCTL");
    REQUIRE(ctl_path != nullptr);
    args.insert(args.begin(), ctl_path);
    args.insert(args.end(), {"--watch", "1", "--reload-command",
                             fmt::format("echo x >> '{}'", reloaded.string())});
    auto watch = Process::spawn(args);
    REQUIRE(watch.is_ok());
    auto wait_for = [&](std::string_view text) {
        for (int i = 0; i < 100; ++i) {
            if (watch->stdout_text().find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    };
    REQUIRE_MESSAGE(wait_for("devices.json replaced"), watch->stderr_text());
    CHECK(read(f.inventory / "devices.json").find("dal1-sw00004") != std::string::npos);
    nb.control("mode=garbage");
    for (int i = 0;
         i < 50 && watch->stderr_text().find("not a NetBox list page") == std::string::npos; ++i)
        std::this_thread::sleep_for(100ms);
    CHECK(watch->stderr_text().find("not a NetBox list page") != std::string::npos);
    nb.control("mode=normal&devices=30");
    for (int i = 0;
         i < 100 && read(f.inventory / "devices.json").find("sw00028") == std::string::npos; ++i)
        std::this_thread::sleep_for(100ms);
    CHECK(read(f.inventory / "devices.json").find("sw00028") != std::string::npos);
    REQUIRE(watch->send_signal(SIGTERM).is_ok());
    auto status = watch->wait(10s);
    REQUIRE(status.is_ok());
    CHECK(status->code == 0);
    CHECK(read(reloaded) == "x\nx\n");  // one reload per change, none for the unchanged runs
}
