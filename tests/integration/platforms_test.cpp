// Every built-in platform end to end: the real netkeepd, netkeep-worker and a fake-device
// personality per platform (a device named "<platform>--..."), with nothing but "platform"
// and credentials in the inventory and a job without commands. Per platform, against its
// fixtures in tests/platforms/<name>/ (docs/platforms.md):
// - the committed config is byte-exact against expected.txt: redacted, noise dropped,
//   and a line equal to the device's own prompt kept;
// - no planted secret (secrets.txt) is in git's history, the event log or a log line;
// - later runs, whose output differs only in noise lines (drop or ignore), make no commit;
// - a real change (a new generation of the config) makes exactly one.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "e2e_support.hpp"
#include "netkeep/platform.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

constexpr const char* k_password = "platform-Pw-8842";
constexpr const char* k_enable = "enable-secret";  // what fake-device's enable accepts

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE_MESSAGE(in, p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

struct Platform {
    std::string name;    // the platform
    std::string device;  // its device: "<platform>--dev1"
    fs::path fixtures;
};

// The device's exact prompt as fake-device fills in {{prompt}}: the line of its printed
// config where config.txt has "{{prompt}}" (placeholders never span lines).
std::string prompt_of(const Platform& p) {
    const auto raw = lines_of(read_text(p.fixtures / "config.txt"));
    const auto printed = lines_of(print_config(p.device));
    for (std::size_t i = 0; i < raw.size() && i < printed.size(); ++i)
        if (raw[i] == "{{prompt}}") return printed[i];
    return "{{prompt}}";  // no prompt line in this fixture (an exec-channel platform)
}

std::string expected(const Platform& p, int gen, int run, const std::string& prompt) {
    std::string text = read_text(p.fixtures / "expected.txt");
    const std::pair<std::string, std::string> values[] = {
        {"{{gen}}", std::to_string(gen)}, {"{{run}}", std::to_string(run)}, {"{{prompt}}", prompt}};
    for (const auto& [mark, value] : values)
        for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark, at)) {
            text.replace(at, mark.size(), value);
            at += value.size();
        }
    return text;
}

// The {{run}} (1..50) that makes expected.txt equal `stored`, if any: ignored lines keep
// the values of the run that made the commit, which the test does not know in advance.
bool matches_some_run(const Platform& p, int gen, const std::string& prompt,
                      const std::string& stored) {
    for (int run = 1; run <= 50; ++run)
        if (expected(p, gen, run, prompt) == stored) return true;
    return false;
}

std::string device_entry(const Platform& p, std::uint16_t port) {
    return fmt::format(R"({{"name": "{}", "host": "127.0.0.1", "platform": "{}", )"
                       R"("protocol": {{"type": "ssh", "ssh": {{"port": {}}}}}, )"
                       R"("credentials": {{"user": "{}", "pass": "{}", "enable": "{}"}}}})",
                       p.device, p.name, port, p.device, k_password, k_enable);
}

}  // namespace

TEST_CASE("each built-in platform backs up with nothing but \"platform\" in the inventory") {
    const fs::path fixtures = env_path("PLATFORM_FIXTURES");
    TempDir state = TempDir::create("fake-state").value();
    FakeDevice fake =
        start_fake_device({"--password", k_password, "--state-dir", state.path().string()});

    std::vector<Platform> platforms;
    std::vector<std::string> devices;
    std::string list;
    for (const auto& bp : builtin_platforms()) {
        Platform p{std::string(bp.name), std::string(bp.name) + "--dev1", fixtures / bp.name};
        list += (list.empty() ? "" : ",\n") + device_entry(p, fake.ssh_port);
        devices.push_back(p.device);
        platforms.push_back(std::move(p));
    }
    REQUIRE(platforms.size() == 14);
    Backup b("{\"devices\": [\n" + list + "\n]}",
             R"({"jobs": [{"name": "config", "schedule": {"interval": 2}, "timeout": 20}]})");
    Process worker = b.start_worker({"--concurrency", "8"});
    const int n = int(platforms.size());
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == n; }, 90s), worker.stderr_text());

    std::map<std::string, std::string> prompts;
    for (const auto& p : platforms) {
        INFO(p.name);
        prompts[p.name] = prompt_of(p);
        auto stored = b.file(p.device, "config");
        REQUIRE(stored);
        CHECK(*stored == expected(p, 0, 1, prompts[p.name]));
    }

    // Two more runs of every device, whose output differs only in its noise lines.
    wait_for_rerun_applied(b, devices);
    wait_for_rerun_applied(b, devices);
    CHECK(b.commits() == n);

    // A real change on every device: one commit each, with the change.
    for (const auto& p : platforms) std::ofstream(state / p.device) << "1\n";
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 2 * n; }, 60s), worker.stderr_text());
    for (const auto& p : platforms) {
        INFO(p.name);
        auto stored = b.file(p.device, "config");
        REQUIRE(stored);
        CHECK(matches_some_run(p, 1, prompts[p.name], *stored));
    }

    stop(worker);
    b.stop_server();
    auto history = b.git({"log", "-p", "--all"});
    REQUIRE(history);
    const std::string logs = b.server->process.stderr_text() + worker.stderr_text();
    const auto summary = b.read_log();
    for (const auto& p : platforms) {
        for (const auto& secret : lines_of(read_text(p.fixtures / "secrets.txt"))) {
            if (secret.empty()) continue;
            INFO(p.name << " secret " << secret);
            CHECK(history->find(secret) == std::string::npos);
            CHECK(logs.find(secret) == std::string::npos);
            for (const auto& [device, failures] : summary.failures)
                for (const auto& f : failures) CHECK(f.find(secret) == std::string::npos);
        }
    }
    CHECK(logs.find(k_enable) == std::string::npos);
    CHECK(logs.find(k_password) == std::string::npos);
}
