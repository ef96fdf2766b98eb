#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "netkeep/inventory.hpp"

using namespace netkeep;

namespace {

const char* k_devices = R"({
  "credentials": {
    "lab": {"user": "netops", "pass": {"env": "NETKEEP_TEST_LAB_PASS"}, "prompt": {"ends_with": "#"}}
  },
  "profiles": {
    "ios": {"protocol": {"type": "ssh", "ssh": {"port": 22}}, "credentials": "lab", "tags": ["cisco"]}
  },
  "devices": [
    {"name": "device1.local", "host": "device1.local", "profile": "ios", "tags": ["dallas-dmz-1"]},
    {"name": "edge-2", "host": "10.0.0.2", "profile": "ios", "tags": ["cisco", "edge"],
     "protocol": {"type": "telnet"}},
    {"name": "fw_3", "credentials": {"user": "admin", "pass": "literal secret"}}
  ]
})";

const char* k_jobs = R"({
  "jobs": [
    {"name": "cisco_show_run", "schedule": {"cron": "0,30 * * * *"},
     "command": {"inline": ["show run"]}, "prompt": {"ends_with": "#"},
     "devices": {"tags": ["cisco"]}, "timeout": 300},
    {"name": "version", "schedule": {"interval": 3600}, "command": {"inline": ["show version", "show clock"]},
     "max_attempts": 5, "retry_delay": 10, "redact": [{"regex": "secret \\S+", "replace": "secret <removed>"}]},
    {"name": "fw_only", "schedule": {"cron": "@daily"}, "command": {"inline": ["show config"]},
     "devices": {"names": ["fw_3"]}}
  ]
})";

struct env_var {
    std::string name;
    env_var(std::string n, const char* value) : name(std::move(n)) {
        ::setenv(name.c_str(), value, 1);
    }
    ~env_var() { ::unsetenv(name.c_str()); }
};

Result<Inventory> load(std::string devices, std::string jobs, bool resolve = true) {
    return parse_inventory(InventoryFiles{std::move(devices), std::move(jobs)},
                           InventoryLoadOptions{.resolve_secrets = resolve, .secrets_dir = {}});
}

// Loads the reference inventory with one text replaced, and returns the error message.
std::string error_of(std::string devices, std::string jobs, bool resolve = true) {
    auto inv = load(std::move(devices), std::move(jobs), resolve);
    REQUIRE_FALSE(inv.is_ok());
    CHECK(inv.status().code() == Status::Code::invalid_argument);
    return inv.status().message();
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, from);
    return text.replace(pos, from.size(), to);
}

const std::string k_minimal_jobs =
    R"({"jobs": [{"name": "j", "schedule": {"interval": 60}, "command": {"inline": ["x"]}}]})";

}  // namespace

TEST_CASE("the reference inventory expands to the seed's response shape") {
    env_var pass("NETKEEP_TEST_LAB_PASS", "s3cret\"quoted");
    auto inv = load(k_devices, k_jobs);
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    REQUIRE(inv->devices.size() == 3);

    CHECK(
        inv->devices[0].json ==
        R"({"name":"device1.local","host":"device1.local","protocol":{"type":"ssh","ssh":{"port":22}},)"
        R"("tags":["cisco","dallas-dmz-1"],"credentials":{"user":"netops","pass":"s3cret\"quoted",)"
        R"("prompt":{"ends_with":"#"}}})");
    // The device's own protocol wins over the profile's; tags are the union, once each.
    CHECK(inv->devices[1].json ==
          R"({"name":"edge-2","host":"10.0.0.2","protocol":{"type":"telnet","telnet":{"port":23}},)"
          R"("tags":["cisco","edge"],"credentials":{"user":"netops","pass":"s3cret\"quoted",)"
          R"("prompt":{"ends_with":"#"}}})");
    // No profile, no host: host defaults to the name, protocol to ssh on 22.
    CHECK(inv->devices[2].json ==
          R"({"name":"fw_3","host":"fw_3","protocol":{"type":"ssh","ssh":{"port":22}},"tags":[],)"
          R"("credentials":{"user":"admin","pass":"literal secret"}})");

    REQUIRE(inv->jobs.size() == 3);
    CHECK(
        inv->jobs[0].json ==
        R"({"name":"cisco_show_run","schedule":{"cron":"0,30 * * * *"},"command":{"inline":["show run"]},)"
        R"("prompt":{"ends_with":"#"},"timeout":300,"max_attempts":3,"retry_delay":60})");
    CHECK(
        inv->jobs[1].json ==
        R"({"name":"version","schedule":{"interval":3600},"command":{"inline":["show version","show clock"]},)"
        R"("timeout":300,"max_attempts":5,"retry_delay":10})");
    REQUIRE(inv->jobs[1].redact);
    CHECK(inv->jobs[1].redact->size() == 1);
    CHECK((*inv->jobs[1].redact)[0].replace == "secret <removed>");
}

TEST_CASE("jobs select devices by tags, by names, or all") {
    auto inv = load(k_devices, k_jobs, false);
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    std::vector<std::pair<std::string, std::string>> tasks;
    for (auto t : inv->tasks)
        tasks.emplace_back(inv->devices[t.device].name, inv->jobs[t.job].name);
    CHECK(tasks == std::vector<std::pair<std::string, std::string>>{
                       {"device1.local", "cisco_show_run"},
                       {"edge-2", "cisco_show_run"},
                       {"device1.local", "version"},
                       {"edge-2", "version"},
                       {"fw_3", "version"},
                       {"fw_3", "fw_only"},
                   });
}

TEST_CASE("a key file, a pager and a group reach the expanded JSON") {
    std::string devices = R"({
      "profiles": {"site": {"group": "dallas", "credentials": {"user": "u", "key": "/etc/netkeep/id_ed25519"}}},
      "devices": [
        {"name": "r1", "profile": "site"},
        {"name": "r2", "profile": "site", "group": "houston"},
        {"name": "r3", "credentials": {"user": "u", "pass": "p"}}
      ]})";
    std::string jobs =
        R"({"jobs": [{"name": "j", "schedule": {"interval": 60}, "command": {"inline": ["x"]},
                           "pager": {"regex": "--More--|<more>"}}]})";
    auto inv = load(devices, jobs);
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(
        inv->devices[0].json ==
        R"({"name":"r1","host":"r1","protocol":{"type":"ssh","ssh":{"port":22}},"tags":[],"group":"dallas",)"
        R"("credentials":{"user":"u","key":"/etc/netkeep/id_ed25519"}})");
    CHECK(inv->devices[0].group == "dallas");
    CHECK(inv->devices[1].group == "houston");  // the device's own wins
    CHECK(inv->devices[2].group.empty());
    CHECK(inv->devices[2].json.find("group") == std::string::npos);
    CHECK(
        inv->jobs[0].json ==
        R"({"name":"j","schedule":{"interval":60},"command":{"inline":["x"]},"pager":{"regex":"--More--|<more>"},)"
        R"("timeout":300,"max_attempts":3,"retry_delay":60})");

    auto structural = load(devices, jobs, false);
    REQUIRE(structural.is_ok());
    CHECK(structural->devices[1].group == "houston");

    CHECK(error_of(replaced(devices, R"("group": "houston")", R"("group": "a/b")"), jobs) ==
          "devices.json: /devices/1/group: 'a/b' contains '/': group names may only use A-Z a-z "
          "0-9 . _ - "
          "(they become git paths)");
    CHECK(error_of(replaced(devices, R"("/etc/netkeep/id_ed25519")", R"("")"), jobs) ==
          "devices.json: /profiles/site/credentials/key: must not be empty");
    CHECK(error_of(devices, replaced(jobs, R"({"regex": "--More--|<more>"})", R"({})")) ==
          "jobs.json: /jobs/0/pager: must have exactly one of 'ends_with' or 'regex'");
}

TEST_CASE("structural mode needs no secrets and builds no JSON") {
    ::unsetenv("NETKEEP_TEST_LAB_PASS");
    auto inv = load(k_devices, k_jobs, false);
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->devices[0].json.empty());
    CHECK(inv->devices[0].tags == std::vector<std::string>{"cisco", "dallas-dmz-1"});
}

TEST_CASE("secrets come from literals, the environment and files") {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / "netkeep-inventory-secret-test";
    fs::create_directories(dir);
    { std::ofstream(dir / "pw") << "from-file\n"; }
    std::string devices =
        R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": {"file": "pw"}}}]})";
    auto inv =
        parse_inventory(InventoryFiles{devices, k_minimal_jobs},
                        InventoryLoadOptions{.resolve_secrets = true, .secrets_dir = dir.string()});
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->devices[0].json.find(R"("pass":"from-file")") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("validation errors name the file and the JSON path") {
    env_var pass("NETKEEP_TEST_LAB_PASS", "x");

    SUBCASE("syntax error") {
        CHECK(error_of("{\"devices\": [", k_jobs).starts_with("devices.json: not valid JSON"));
        CHECK(error_of(k_devices, "{").starts_with("jobs.json: not valid JSON"));
    }
    SUBCASE("unknown profile") {
        CHECK(error_of(replaced(k_devices, R"("profile": "ios", "tags": ["dallas)",
                                R"("profile": "nxos", "tags": ["dallas)"),
                       k_jobs) == "devices.json: /devices/0/profile: unknown profile 'nxos'");
    }
    SUBCASE("unknown credentials") {
        CHECK(error_of(replaced(k_devices, R"("credentials": "lab")", R"("credentials": "prod")"),
                       k_jobs) ==
              "devices.json: /profiles/ios/credentials: unknown credentials 'prod'");
    }
    SUBCASE("duplicate device name") {
        CHECK(error_of(replaced(k_devices, R"("name": "fw_3")", R"("name": "edge-2")"), k_jobs) ==
              "devices.json: /devices/2/name: duplicate device name 'edge-2'");
    }
    SUBCASE("duplicate job name") {
        CHECK(
            error_of(k_devices, replaced(k_jobs, R"("name": "fw_only")", R"("name": "version")")) ==
            "jobs.json: /jobs/2/name: duplicate job name 'version'");
    }
    SUBCASE("a name that is not a safe git path") {
        CHECK(error_of(replaced(k_devices, R"("name": "fw_3")", R"("name": "fw/3")"), k_jobs) ==
              "devices.json: /devices/2/name: 'fw/3' contains '/': device names may only use A-Z "
              "a-z 0-9 . _ - "
              "(they become git paths)");
        CHECK(error_of(replaced(k_devices, R"("name": "fw_3")", R"("name": "..")"), k_jobs) ==
              "devices.json: /devices/2/name: '..' must not start with '.'");
        CHECK(error_of(k_devices, replaced(k_jobs, R"("name": "version")", R"("name": "show ver")"))
                  .starts_with("jobs.json: /jobs/1/name: 'show ver' contains ' '"));
        CHECK(error_of(replaced(k_devices, R"("name": "fw_3")", "\"name\": \"fw\u00fc\""), k_jobs)
                  .starts_with(
                      "devices.json: /devices/2/name: 'fw\u00fc' contains a non-ASCII character"));
    }
    SUBCASE("a missing environment variable") {
        ::unsetenv("NETKEEP_TEST_LAB_PASS");
        CHECK(error_of(k_devices, k_jobs) ==
              "devices.json: /credentials/lab/pass: environment variable NETKEEP_TEST_LAB_PASS is "
              "not set");
    }
    SUBCASE("an empty secret is missing, not an empty password") {
        env_var empty("NETKEEP_TEST_LAB_PASS", "");
        CHECK(error_of(k_devices, k_jobs) ==
              "devices.json: /credentials/lab/pass: environment variable NETKEEP_TEST_LAB_PASS is "
              "empty");
        CHECK(error_of(replaced(k_devices, R"({"env": "NETKEEP_TEST_LAB_PASS"})",
                                R"({"file": "/dev/null"})"),
                       k_jobs) ==
              "devices.json: /credentials/lab/pass: secret file /dev/null is empty");
    }
    SUBCASE("a missing secret file") {
        CHECK(error_of(replaced(k_devices, R"({"env": "NETKEEP_TEST_LAB_PASS"})",
                                R"({"file": "/nonexistent/pw"})"),
                       k_jobs) ==
              "devices.json: /credentials/lab/pass: cannot read secret file /nonexistent/pw");
    }
    SUBCASE("a bad cron expression") {
        CHECK(error_of(k_devices, replaced(k_jobs, "0,30 * * * *", "0,30 * * *"))
                  .starts_with("jobs.json: /jobs/0/schedule/cron: "));
        CHECK(error_of(k_devices, replaced(k_jobs, "0,30 * * * *", "61 * * * *"))
                  .starts_with("jobs.json: /jobs/0/schedule/cron: "));
    }
    SUBCASE("an unknown protocol") {
        CHECK(error_of(replaced(k_devices, R"({"type": "telnet"})", R"({"type": "rlogin"})"),
                       k_jobs) ==
              "devices.json: /devices/1/protocol/type: unknown protocol 'rlogin' (ssh or telnet)");
    }
    SUBCASE("an unknown field") {
        CHECK(error_of(replaced(k_devices, R"("tags": ["cisco", "edge"])", R"("tag": ["cisco"])"),
                       k_jobs) == "devices.json: /devices/1/tag: unknown field 'tag'");
    }
    SUBCASE("a job naming an unknown device") {
        CHECK(error_of(k_devices, replaced(k_jobs, R"(["fw_3"])", R"(["fw_3", "fw_4"])")) ==
              "jobs.json: /jobs/2/devices/names/1: unknown device 'fw_4'");
    }
    SUBCASE("values out of range or of the wrong type") {
        CHECK(error_of(k_devices, replaced(k_jobs, R"("timeout": 300)", R"("timeout": 0)")) ==
              "jobs.json: /jobs/0/timeout: 0 is outside 1..86400");
        CHECK(error_of(k_devices, replaced(k_jobs, R"("timeout": 300)", R"("timeout": "300")")) ==
              "jobs.json: /jobs/0/timeout: must be an integer");
        CHECK(
            error_of(k_devices, replaced(k_jobs, R"({"interval": 3600})", R"({"interval": 0})")) ==
            "jobs.json: /jobs/1/schedule/interval: 0 is outside 1..31622400");
    }
    SUBCASE("a regular expression too long to compile safely") {
        std::string nested = std::string(20'000, '(') + "a" + std::string(20'000, ')');
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", nested))
                  .starts_with(
                      "jobs.json: /jobs/1/redact/0/regex: regular expression longer than 1024"));
        // Deep nesting was refused while std::regex recursed; RE2 does not.
        std::string deep = std::string(17, '(') + "a" + std::string(17, ')');
        CHECK(load(k_devices, replaced(k_jobs, R"(secret \\S+)", deep)).is_ok());
        // A short pattern (200 characters) whose program is huge: refused by the memory
        // budget of one expression, not compiled into megabytes.
        std::string wide;
        for (int i = 0; i < 20; ++i) wide += R"(\\w{1000})";
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", wide)) ==
              "jobs.json: /jobs/1/redact/0/regex: not a valid regular expression (RE2 syntax): "
              "pattern too "
              "large - compile failed (the compiled expression exceeds the memory limit for one "
              "expression)");
    }
    SUBCASE("a bad regular expression") {
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", R"(secret (\\S+)"))
                  .starts_with("jobs.json: /jobs/1/redact/0/regex: not a valid regular expression "
                               "(RE2 syntax): "
                               "missing ): secret (\\S+"));
    }
    SUBCASE("what RE2 does not have is refused at load, naming the feature") {
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", R"((a)\\1)")) ==
              "jobs.json: /jobs/1/redact/0/regex: not a valid regular expression (RE2 syntax): "
              "invalid escape "
              "sequence: \\1 (back-references (\\1, \\2...) are not supported)");
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", R"(secret (?=\\d))")) ==
              "jobs.json: /jobs/1/redact/0/regex: not a valid regular expression (RE2 syntax): "
              "invalid perl "
              "operator: (?= (look-ahead and look-behind are not supported)");
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", R"((?<!no )secret)")) ==
              "jobs.json: /jobs/1/redact/0/regex: not a valid regular expression (RE2 syntax): "
              "invalid perl "
              "operator: (?< (look-ahead and look-behind are not supported)");
        CHECK(error_of(k_devices, replaced(k_jobs, R"(secret \\S+)", R"(secret \\S++)")) ==
              "jobs.json: /jobs/1/redact/0/regex: not a valid regular expression (RE2 syntax): bad "
              "repetition "
              "operator: ++ (possessive quantifiers are not supported)");
        // The same check for prompts, in devices.json.
        CHECK(error_of(replaced(k_devices, R"("user": "admin")",
                                R"("user": "admin", "prompt": {"regex": "(x)\\1#"})"),
                       k_jobs)
                  .starts_with("devices.json: /devices/"));
    }
    SUBCASE("RE2 additions are accepted: inline flags") {
        CHECK(load(k_devices, replaced(k_jobs, R"(secret \\S+)", R"((?i)secret \\S+)")).is_ok());
    }
    SUBCASE("a device without credentials") {
        CHECK(error_of(
                  replaced(k_devices,
                           R"(, "credentials": {"user": "admin", "pass": "literal secret"})", ""),
                  k_jobs) ==
              "devices.json: /devices/2: no credentials: neither the device nor its profile names "
              "any");
    }
}

TEST_CASE("read_inventory_files names the missing file") {
    auto files = read_inventory_files("/nonexistent-netkeep-inventory");
    REQUIRE_FALSE(files.is_ok());
    CHECK(files.status().message() == "/nonexistent-netkeep-inventory/devices.json: cannot open");
}
