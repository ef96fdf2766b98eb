// Platforms in the inventory (issue 13): the built-in definitions, a device's "platform",
// a job's command forms, setup and expect, and the credentials' enable secret.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "netkeep/inventory.hpp"
#include "netkeep/platform.hpp"
#include "netkeep/sha256.hpp"

using namespace netkeep;

namespace {

// The contract's example definition (docs/platforms.md), with every field.
const std::string k_definition = R"({
  "name": "demo",
  "description": "a demo platform",
  "channel": "shell",
  "pty": {"width": 300, "height": 0},
  "strip_ansi": true,
  "prompt": {"regex": "[>#] ?$"},
  "pager": {"ends_with": "--More--"},
  "expect": [{"pattern": {"ends_with": "(Press 'a' to accept):"}, "answer": "a"}],
  "enable": {"command": "enable", "password_prompt": {"regex": "(?i)password: ?$"},
             "when_prompt": {"regex": ">\\s*$"}},
  "setup": ["terminal length 0"],
  "commands": {"config": ["show running-config"], "facts": ["show version", "show inventory"]},
  "redact": [{"regex": "^(enable secret) \\S+", "replace": "$1 <removed>"},
             {"delete_line": "^snmp-server community "},
             {"block": {"begin": "BEGIN KEY", "end": "END KEY"}, "replace": "<removed>"}],
  "noise": [{"regex": "^! Last change", "action": "drop"}, {"regex": "^ntp", "action": "ignore"}],
  "notes": "free text"
})";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, from);
    return text.replace(pos, from.size(), to);
}

std::string definition_error(const std::string& json, const std::string& name = "demo") {
    auto spec = parse_platform_definition(name, json);
    REQUIRE_FALSE(spec.is_ok());
    CHECK(spec.status().code() == Status::Code::invalid_argument);
    return spec.status().message();
}

Result<Inventory> load(std::string devices, std::string jobs, bool resolve = true) {
    return parse_inventory(InventoryFiles{std::move(devices), std::move(jobs)},
                           InventoryLoadOptions{.resolve_secrets = resolve, .secrets_dir = {}});
}

std::string load_error(std::string devices, std::string jobs) {
    auto inv = load(std::move(devices), std::move(jobs));
    REQUIRE_FALSE(inv.is_ok());
    return inv.status().message();
}

// main carries placeholder definitions until the real ones land (defs13): tests that need
// a built-in platform skip, with a message, while it does not load.
bool builtin_loads(std::string_view name) {
    const BuiltinPlatform* p = find_builtin_platform(name);
    if (p && parse_platform_definition(p->name, p->json).is_ok()) return true;
    MESSAGE("skipped: the built-in platform '" << std::string(name) << "' does not load yet");
    return false;
}

const std::string k_devices = R"({
  "credentials": {"lab": {"user": "u", "pass": "p", "enable": "en-secret"}},
  "profiles": {"cisco": {"credentials": "lab", "platform": "ios", "group": "g"}},
  "devices": [
    {"name": "r1", "profile": "cisco"},
    {"name": "r2", "profile": "cisco", "platform": "nxos"},
    {"name": "plain", "credentials": {"user": "u", "pass": "p"}}
  ]})";

// No platform at all: what the tests that need none load, placeholders or not.
const std::string k_plain =
    R"({"devices": [{"name": "plain", "credentials": {"user": "u", "pass": "p"}}]})";

std::string job(const std::string& fields, const std::string& devices = R"(["r1", "r2"])") {
    return R"({"jobs": [{"name": "j", "schedule": {"interval": 60}, "devices": {"names": )" +
           devices + "}" + fields + "}]}";
}

}  // namespace

TEST_CASE("a definition expands into its rules and one worker JSON per command set") {
    auto spec = parse_platform_definition("demo", k_definition);
    REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    CHECK(spec->name == "demo");
    REQUIRE(spec->worker_json.size() == 2);
    CHECK(spec->worker_json[0].first == "config");
    CHECK(spec->worker_json[0].second ==
          R"({"name":"demo","channel":"shell","pty":{"width":300,"height":0},"strip_ansi":true,)"
          R"("prompt":{"regex":"[>#] ?$"},"pager":{"ends_with":"--More--"},)"
          R"("expect":[{"pattern":{"ends_with":"(Press 'a' to accept):"},"answer":"a"}],)"
          R"("enable":{"command":"enable","password_prompt":{"regex":"(?i)password: ?$"},)"
          R"("when_prompt":{"regex":">\\s*$"}},"setup":["terminal length 0"],)"
          R"("commands":["show running-config"]})");
    CHECK(spec->worker_json[1].first == "facts");
    CHECK(
        spec->worker_json[1].second.ends_with(R"("commands":["show version","show inventory"]})"));
    REQUIRE(spec->rules.redact.size() == 3);
    CHECK(spec->rules.redact[0] == Redaction{"^(enable secret) \\S+", "$1 <removed>"});
    CHECK(spec->rules.redact[1].kind == Redaction::Kind::delete_line);
    CHECK(spec->rules.redact[2].kind == Redaction::Kind::block);
    CHECK(spec->rules.redact[2].end == "END KEY");
    REQUIRE(spec->rules.noise.size() == 2);
    CHECK(spec->rules.noise[1].action == NoiseRule::Action::ignore);
}

TEST_CASE("a minimal definition takes the defaults; exec needs no prompt") {
    const std::string minimal = R"({"name": "m", "description": "d", "channel": "exec",
                                    "commands": {"config": ["show configuration"]}})";
    auto spec = parse_platform_definition("m", minimal);
    REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    REQUIRE(spec->worker_json.size() == 1);
    CHECK(spec->worker_json[0].second ==
          R"({"name":"m","channel":"exec","pty":{"width":511,"height":24},"strip_ansi":false,)"
          R"("expect":[],"setup":[],"commands":["show configuration"]})");
    CHECK(spec->rules == ContentRules{});
}

TEST_CASE("a bad definition is refused with the platform's name and the JSON path") {
    CHECK(definition_error(replaced(k_definition, R"("notes")", R"("note")")) ==
          "platform demo: /note: unknown field 'note'");
    CHECK(definition_error(k_definition, "other") ==
          "platform other: /name: 'demo' is not the file's name");
    CHECK(
        definition_error(replaced(k_definition, R"("channel": "shell")", R"("channel": "ssh")")) ==
        "platform demo: /channel: must be \"shell\" or \"exec\"");
    CHECK(definition_error(replaced(k_definition, R"("prompt": {"regex": "[>#] ?$"},)", "")) ==
          "platform demo: /: missing field 'prompt' (a shell channel needs one)");
    CHECK(definition_error(replaced(k_definition, R"("config": ["show running-config"], )", "")) ==
          "platform demo: /commands: missing the \"config\" set (what a job runs by default)");
    CHECK(definition_error(
              replaced(k_definition, R"("config": ["show running-config"])", R"("config": [])")) ==
          "platform demo: /commands/config: must list at least one command");
    CHECK(definition_error(replaced(k_definition, "BEGIN KEY", "(unclosed"))
              .starts_with("platform demo: /redact/2/block/begin: not a valid regular expression"));
    CHECK(definition_error(replaced(k_definition, R"("answer": "a")", R"("answer": "")")) ==
          "platform demo: /expect/0/answer: must not be empty (\"\\n\" sends a line end)");
    CHECK(definition_error(replaced(k_definition, R"("height": 0)", R"("height": -1)")) ==
          "platform demo: /pty/height: -1 is outside 0..10000");
    CHECK(definition_error(replaced(k_definition, R"("strip_ansi": true)", R"("strip_ansi": 1)")) ==
          "platform demo: /strip_ansi: must be true or false");
    CHECK(definition_error(replaced(k_definition, R"("command": "enable", )", "")) ==
          "platform demo: /enable: missing field 'command'");
    CHECK(definition_error("{").starts_with("platform demo: not valid JSON"));
}

TEST_CASE("every built-in platform definition is valid") {
    REQUIRE(!builtin_platforms().empty());
    for (const BuiltinPlatform& p : builtin_platforms()) {
        CAPTURE(p.name);
        if (p.json.find("\"placeholder") != std::string_view::npos) {
            MESSAGE("skipped: " << std::string(p.name) << " is still a placeholder");
            continue;
        }
        auto spec = parse_platform_definition(p.name, p.json);
        REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
        CHECK(spec->name == p.name);
        REQUIRE_FALSE(spec->worker_json.empty());
        bool has_config = false;
        for (const auto& [set, json] : spec->worker_json) {
            has_config = has_config || set == "config";
            CHECK(json.starts_with(R"({"name":")" + std::string(p.name) + "\","));
        }
        CHECK(has_config);
    }
}

TEST_CASE("an unknown platform is refused with the list of built-in ones") {
    std::string message =
        load_error(replaced(k_devices, R"("platform": "nxos")", R"("platform": "cisco-ios")"),
                   job(R"(, "command": {"inline": ["x"]})"));
    CHECK(
        message.starts_with("devices.json: /devices/1/platform: unknown platform 'cisco-ios' "
                            "(built-in platforms: aoscx, asa, "));
    CHECK(message.find("vrp") != std::string::npos);
    CHECK(load_error(replaced(k_devices, R"("platform": "ios")", R"("platform": 7)"),
                     job(R"(, "command": {"inline": ["x"]})")) ==
          "devices.json: /profiles/cisco/platform: must be a string");
}

TEST_CASE("a device's platform: its own over its profile's, in its JSON after group") {
    if (!builtin_loads("ios") || !builtin_loads("nxos")) return;
    auto inv = load(k_devices, job("", R"(["r1", "r2"])"));
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->devices[0].platform == "ios");
    CHECK(inv->devices[1].platform == "nxos");
    CHECK(inv->devices[2].platform.empty());
    CHECK(inv->devices[0].json.find(R"("group":"g","platform":"ios","credentials":)") !=
          std::string::npos);
    CHECK(inv->devices[2].json.find("platform") == std::string::npos);
    // Only the platforms in use, sorted, each once.
    REQUIRE(inv->platforms.size() == 2);
    CHECK(inv->platforms[0].name == "ios");
    CHECK(inv->platforms[1].name == "nxos");
    CHECK_FALSE(inv->platforms[0].worker_json.empty());
    // A job without command runs the platform's "config" set and sends no command.
    CHECK(inv->jobs[0].platform_commands == "config");
    CHECK(inv->jobs[0].json.find("command") == std::string::npos);
    const std::string* ios = platform_worker_json(*inv, inv->tasks[0]);
    REQUIRE(ios);
    CHECK(*ios == inv->platforms[0].worker_json[0].second);
    CHECK(content_rules(*inv, inv->tasks[0]) == inv->platforms[0].rules);

    // Replay needs the rules only: no worker JSON in a structural load.
    auto structural = load(k_devices, job("", R"(["r1", "r2"])"), false);
    REQUIRE_MESSAGE(structural.is_ok(), structural.status().to_string());
    REQUIRE(structural->platforms.size() == 2);
    CHECK(structural->platforms[0].worker_json.empty());
    CHECK(structural->platforms[0].rules == inv->platforms[0].rules);
    CHECK(platform_worker_json(*structural, structural->tasks[0]) == nullptr);
}

TEST_CASE("a platform command set must exist on every device the job selects") {
    CHECK(load_error(k_plain, job("", R"(["plain"])")) ==
          "jobs.json: /jobs/0/command: device 'plain' has no platform (give \"command\": "
          "{\"inline\": [...]})");
    CHECK(load_error(k_plain, job(R"(, "command": {"platform": "facts"})", R"(["plain"])")) ==
          "jobs.json: /jobs/0/command: device 'plain' has no platform (give \"command\": "
          "{\"inline\": [...]})");
    if (!builtin_loads("ios")) return;
    CHECK(load_error(k_devices, job(R"(, "command": {"platform": "nope"})", R"(["r1"])"))
              .starts_with("jobs.json: /jobs/0/command: platform 'ios' of device 'r1' has no "
                           "command set 'nope' (it has: config"));
    // Inline commands run anywhere; a device with a platform still gets its "config" JSON.
    auto inv =
        load(k_devices, job(R"(, "command": {"inline": ["show clock"]})", R"(["r1", "plain"])"));
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->jobs[0].platform_commands.empty());
    CHECK(platform_worker_json(*inv, inv->tasks[0]) != nullptr);
    CHECK(platform_worker_json(*inv, inv->tasks[1]) == nullptr);
}

TEST_CASE("a job's command forms, setup and expect reach its JSON in the documented order") {
    auto inv =
        load(k_plain, job(R"(, "command": {"inline": ["show clock"]}, "prompt": {"ends_with": "#"},
        "expect": [{"pattern": {"regex": "(?i)continue\\?$"}, "answer": "y\n"}],
        "setup": ["terminal length 0"], "redact": [], "noise": [])",
                          R"(["plain"])"));
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->jobs[0].json ==
          R"({"name":"j","schedule":{"interval":60},"command":{"inline":["show clock"]},)"
          R"("setup":["terminal length 0"],"expect":[{"pattern":{"regex":"(?i)continue\\?$"},)"
          R"("answer":"y\n"}],"prompt":{"ends_with":"#"},"timeout":300,"max_attempts":3,)"
          R"("retry_delay":60})");
    // "redact": [] and "noise": [] are given (no rules), not absent (the platform's).
    REQUIRE(inv->jobs[0].redact);
    CHECK(inv->jobs[0].redact->empty());
    REQUIRE(inv->jobs[0].noise);
    CHECK(inv->jobs[0].noise->empty());

    if (!builtin_loads("ios")) return;
    auto set =
        load(k_devices, job(R"(, "command": {"platform": "config"}, "setup": [])", R"(["r1"])"));
    REQUIRE_MESSAGE(set.is_ok(), set.status().to_string());
    CHECK(set->jobs[0].json.starts_with(
        R"({"name":"j","schedule":{"interval":60},"command":{"platform":"config"},"setup":[],)"));
    CHECK_FALSE(set->jobs[0].redact);
    CHECK_FALSE(set->jobs[0].noise);
}

TEST_CASE("a job's command, setup and expect are bounded and checked") {
    auto error = [](const std::string& fields) {
        return load_error(k_plain, job(fields, R"(["plain"])"));
    };
    CHECK(error(R"(, "command": {"inline": ["x"], "platform": "config"})") ==
          "jobs.json: /jobs/0/command: must have exactly one of 'inline' (a list of commands) or "
          "'platform' (a command set of the device's platform)");
    CHECK(error(R"(, "command": {"platform": ""})") ==
          "jobs.json: /jobs/0/command/platform: must not be empty");
    CHECK(error(R"(, "command": {"inline": []})") ==
          "jobs.json: /jobs/0/command/inline: must list at least one command");
    CHECK(error(R"(, "command": {"inline": ["x"]}, "setup": "terminal length 0")") ==
          "jobs.json: /jobs/0/setup: must be an array of strings");
    std::string rules;
    for (int i = 0; i < 33; ++i)
        rules += std::string(i ? "," : "") + R"({"pattern": {"ends_with": "?"}, "answer": "y"})";
    CHECK(error(R"(, "command": {"inline": ["x"]}, "expect": [)" + rules + "]") ==
          "jobs.json: /jobs/0/expect: at most 32 rules");
    CHECK(error(R"(, "command": {"inline": ["x"]}, "expect": [{"pattern": {"ends_with": "?"},
                "answer": ")" +
                std::string(257, 'y') + "\"}]") ==
          "jobs.json: /jobs/0/expect/0/answer: longer than 256 bytes");
    CHECK(error(R"(, "command": {"inline": ["x"]}, "expect": [{"answer": "y"}])") ==
          "jobs.json: /jobs/0/expect/0: missing field 'pattern'");
    CHECK(
        error(
            R"(, "command": {"inline": ["x"]}, "expect": [{"pattern": {"regex": "(x"}, "answer": "y"}])")
            .starts_with("jobs.json: /jobs/0/expect/0/pattern/regex: not a valid regular"));
    std::string many;
    for (int i = 0; i < 257; ++i) many += std::string(i ? "," : "") + "\"c\"";
    CHECK(error(R"(, "command": {"inline": [)" + many + "]}") ==
          "jobs.json: /jobs/0/command/inline: at most 256 commands");
}

TEST_CASE("the enable secret resolves like pass and is recorded as a marker") {
    // After pass/key, before prompt.
    auto withprompt =
        load(R"({"devices": [{"name": "a", "credentials": {"prompt": {"ends_with": "#"},
        "enable": "e1", "key": "/k", "pass": "p", "user": "u"}}]})",
             job(R"(, "command": {"inline": ["x"]})", R"(["a"])"));
    REQUIRE_MESSAGE(withprompt.is_ok(), withprompt.status().to_string());
    CHECK(withprompt->devices[0].json.ends_with(
        R"("credentials":{"user":"u","pass":"p","key":"/k","enable":"e1","prompt":{"ends_with":"#"}}})"));

    // Every literal enable secret (a set's, a profile's, a device's) becomes its marker.
    const std::string devices = R"({
      "credentials": {"lab": {"user": "u", "pass": "p1", "enable": "enable-one"}},
      "profiles": {"x": {"credentials": {"user": "u", "enable"  :  "enable-two"}}},
      "devices": [{"name": "a", "profile": "x"},
                  {"name": "b", "credentials": {"user": "u", "enable": "enable-three", "pass": {"env": "NOPE"}}},
                  {"name": "c", "credentials": {"user": "u", "enable": {"file": "enable.txt"}}}]})";
    auto recorded = record_inventory_files(InventoryFiles{devices, "{}"});
    REQUIRE_MESSAGE(recorded.is_ok(), recorded.status().to_string());
    for (const char* secret : {"enable-one", "enable-two", "enable-three", "p1"}) {
        CAPTURE(secret);
        CHECK(recorded->devices_json.find(secret) == std::string::npos);
        CHECK(recorded->devices_json.find(sha256_hex(secret)) != std::string::npos);
    }
    CHECK(recorded->devices_json.find(R"("enable": {"file": "enable.txt"})") != std::string::npos);
    // The recorded form loads structurally (replay) and is a fixed point.
    auto replayed =
        parse_inventory(InventoryFiles{recorded->devices_json,
                                       job(R"(, "command": {"inline": ["x"]})", R"(["a"])")},
                        InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
    REQUIRE_MESSAGE(replayed.is_ok(), replayed.status().to_string());
    auto again = record_inventory_files(*recorded);
    REQUIRE(again.is_ok());
    CHECK(again->devices_json == recorded->devices_json);
    // A marker cannot log in: the resolved load refuses it, for enable as for pass.
    const std::string marked = R"({"devices": [{"name": "a", "credentials": {"user": "u",
        "pass": "p", "enable": {"redacted_sha256": ")" +
                               sha256_hex("e") + R"("}}}]})";
    CHECK(load_error(marked, job(R"(, "command": {"inline": ["x"]})", R"(["a"])"))
              .starts_with("devices.json: /devices/0/credentials/enable: a redacted secret"));
}

TEST_CASE("a definition's syslog patterns are checked and kept (issue 14)") {
    const std::string with = replaced(
        k_definition, R"("notes")",
        R"x("syslog": ["%SYS-5-CONFIG_I: Configured from \\S+ by (?P<user>\\S+)", "x"], "notes")x");
    auto spec = parse_platform_definition("demo", with);
    REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    CHECK(spec->syslog ==
          std::vector<std::string>{"%SYS-5-CONFIG_I: Configured from \\S+ by (?P<user>\\S+)", "x"});
    CHECK(parse_platform_definition("demo", k_definition)->syslog.empty());
    CHECK(definition_error(replaced(k_definition, R"("notes")", R"("syslog": "x", "notes")")) ==
          "platform demo: /syslog: must be a list of regular expressions");
    CHECK(definition_error(replaced(k_definition, R"("notes")", R"("syslog": [""], "notes")")) ==
          "platform demo: /syslog/0: must not be empty");
    CHECK(definition_error(
              replaced(k_definition, R"("notes")", R"("syslog": ["ok", "(?P<user>"], "notes")"))
              .starts_with("platform demo: /syslog/1: not a valid regular expression"));
    std::string many = R"("syslog": [)";
    for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + "\"a\"";
    CHECK(definition_error(replaced(k_definition, R"("notes")", many + R"(], "notes")")) ==
          "platform demo: /syslog: at most 16 patterns");
}

TEST_CASE("every platform with syslog patterns gives the user a named group") {
    for (const BuiltinPlatform& p : builtin_platforms()) {
        auto spec = parse_platform_definition(p.name, p.json);
        REQUIRE(spec.is_ok());
        for (const std::string& re : spec->syslog) {
            CAPTURE(re);
            // ASA's 111005 ("end configuration") names no user; every other one does.
            if (re.find("111005") == std::string::npos)
                CHECK(re.find("(?P<user>") != std::string::npos);
        }
    }
}
