// The recorded form of an inventory (record_inventory_files): what InventoryApplied
// stores instead of the files as written, with every literal secret a redaction marker.
#include <doctest/doctest.h>

#include <string>

#include "netkeep/inventory.hpp"
#include "netkeep/sha256.hpp"

using namespace netkeep;

namespace {

const InventoryLoadOptions k_structural{.resolve_secrets = false, .secrets_dir = {}};
const InventoryLoadOptions k_resolved{.resolve_secrets = true, .secrets_dir = {}};

const std::string k_jobs =
    R"({"jobs": [{"name": "run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})";

// A literal password in each of the three places one may stand, formatted unevenly on
// purpose: everything but the secrets must come out byte for byte.
const std::string k_devices = R"({
  "credentials": {
    "set": {"user": "netops", "pass": "set-pass-1", "prompt": {"ends_with": "#"}},
    "envset": {"user": "u", "pass": {"env": "NETKEEP_RECORD_TEST"}},
    "fileset": {"user": "u", "pass" : { "file": "secrets/x.pass" }}
  },
  "profiles": {
    "p": {"credentials": {"user": "admin", "pass"  :   "profile-pass-2"  , "key": "/keys/id"}, "tags": ["pass"]},
    "q": {"credentials": "set"}
  },
  "devices": [
    {"name": "a", "profile": "q"},
    {"name": "b", "profile": "p"},
    {"name": "pass", "host": "pass", "credentials": {"user": "pass", "pass": "device-pass-3"}, "tags": ["x"]}
  ]
})";

std::string marker(std::string_view secret) {
    return R"({"redacted_sha256":")" + sha256_hex(secret) + R"("})";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

std::string recorded_devices(const std::string& devices) {
    auto r = record_inventory_files(InventoryFiles{devices, k_jobs});
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    CHECK(r->jobs_json == k_jobs);
    return r->devices_json;
}

}  // namespace

TEST_CASE("every literal secret becomes a marker with its SHA-256, and nothing else changes") {
    std::string expected = k_devices;
    expected = replaced(expected, R"("set-pass-1")", marker("set-pass-1"));
    expected = replaced(expected, R"("profile-pass-2")", marker("profile-pass-2"));
    expected = replaced(expected, R"("device-pass-3")", marker("device-pass-3"));
    std::string recorded = recorded_devices(k_devices);
    CHECK(recorded == expected);
    for (const char* secret : {"set-pass-1", "profile-pass-2", "device-pass-3"})
        CHECK(recorded.find(secret) == std::string::npos);
    // {"env"} and {"file"} references, names and tags that happen to read "pass", and the
    // key path are kept as written.
    CHECK(recorded.find(R"("pass": {"env": "NETKEEP_RECORD_TEST"})") != std::string::npos);
    CHECK(recorded.find(R"("pass" : { "file": "secrets/x.pass" })") != std::string::npos);
    CHECK(
        recorded.find(
            R"({"name": "pass", "host": "pass", "credentials": {"user": "pass", "pass": {"redacted)") !=
        std::string::npos);
    CHECK(recorded.find(R"("key": "/keys/id"}, "tags": ["pass"]})") != std::string::npos);
}

TEST_CASE("the marker is the SHA-256 of the decoded password, escapes resolved") {
    // "p\"w\u00e9" is the 5 bytes p " w é (é in UTF-8): the hash is of those, not of the
    // escaped text, so the same password written two ways gives the same marker.
    std::string a = recorded_devices(
        R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": "p\"w\u00e9"}}]})");
    std::string b = recorded_devices(
        "{\"devices\": [{\"name\": \"a\", \"credentials\": {\"user\": \"u\", \"pass\": "
        "\"p\\\"w\xc3\xa9\"}}]}");
    CHECK(a.find(marker("p\"w\xc3\xa9")) != std::string::npos);
    CHECK(b.find(marker("p\"w\xc3\xa9")) != std::string::npos);
    CHECK(redaction_marker("s3cret") == marker("s3cret"));
    CHECK(redaction_marker("") == marker(""));  // a literal "" is a password too
}

TEST_CASE("an escaped key and a repeated key are redacted as well") {
    // simdjson's DOM reads "pa\u0073s" as "pass": the loader would use it as the password.
    std::string escaped = recorded_devices(
        R"({"devices": [{"name": "a", "credentials": {"user": "u", "pa\u0073s": "hidden-1"}}]})");
    CHECK(escaped.find("hidden-1") == std::string::npos);
    CHECK(escaped.find(marker("hidden-1")) != std::string::npos);
    // Not an inventory parse_inventory accepts, but the function must not leak either copy.
    std::string twice = recorded_devices(
        R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": "first-1", "pass": "second-2"}}]})");
    CHECK(twice.find("first-1") == std::string::npos);
    CHECK(twice.find("second-2") == std::string::npos);
}

TEST_CASE("the recorded form is idempotent and a fixed point for inventories without literals") {
    std::string once = recorded_devices(k_devices);
    CHECK(recorded_devices(once) == once);
    const std::string no_literal =
        R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": {"env": "X"}}}]})";
    CHECK(recorded_devices(no_literal) == no_literal);
}

TEST_CASE("a changed password changes the recorded form; the same inventory gives the same form") {
    std::string changed = replaced(k_devices, "device-pass-3", "device-pass-4");
    CHECK(recorded_devices(changed) != recorded_devices(k_devices));
    CHECK(recorded_devices(std::string(k_devices)) == recorded_devices(k_devices));
}

TEST_CASE(
    "parse_inventory returns the recorded form, which loads structurally to the same inventory") {
    auto literal = parse_inventory(InventoryFiles{k_devices, k_jobs}, k_structural);
    REQUIRE_MESSAGE(literal.is_ok(), literal.status().to_string());
    CHECK(literal->recorded.devices_json == recorded_devices(k_devices));
    CHECK(literal->recorded.jobs_json == k_jobs);

    auto replayed = parse_inventory(literal->recorded, k_structural);
    REQUIRE_MESSAGE(replayed.is_ok(), replayed.status().to_string());
    REQUIRE(replayed->devices.size() == literal->devices.size());
    for (std::size_t i = 0; i < literal->devices.size(); ++i) {
        CHECK(replayed->devices[i].name == literal->devices[i].name);
        CHECK(replayed->devices[i].tags == literal->devices[i].tags);
        CHECK(replayed->devices[i].group == literal->devices[i].group);
    }
    CHECK(replayed->tasks.size() == literal->tasks.size());
    CHECK(replayed->recorded == literal->recorded);
}

TEST_CASE("a marker cannot be resolved: devices.json needs the password itself") {
    std::string devices = R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": )" +
                          marker("x") + "}}]}";
    auto r = parse_inventory(InventoryFiles{devices, k_jobs}, k_resolved);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Status::Code::invalid_argument);
    CHECK(r.status().message().find(
              "devices.json: /devices/0/credentials/pass: a redacted secret") == 0);
    CHECK(parse_inventory(InventoryFiles{devices, k_jobs}, k_structural).is_ok());
}

TEST_CASE("a malformed marker is refused even structurally") {
    for (std::string bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'),
                            std::string(64, 'g'), std::string()}) {
        std::string devices =
            R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": {"redacted_sha256": ")" +
            bad + R"("}}}]})";
        auto r = parse_inventory(InventoryFiles{devices, k_jobs}, k_structural);
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().message() ==
              "devices.json: /devices/0/credentials/pass/redacted_sha256: must be 64 lowercase "
              "hexadecimal digits (a "
              "SHA-256)");
    }
    std::string two =
        R"({"devices": [{"name": "a", "credentials": {"user": "u", "pass": {"redacted_sha256": ")" +
        std::string(64, 'a') + R"(", "env": "X"}}}]})";
    CHECK_FALSE(parse_inventory(InventoryFiles{two, k_jobs}, k_structural).is_ok());
}

TEST_CASE("text that is not JSON is an error, not a pass-through") {
    for (const char* bad : {"", "{", R"({"devices": [)", "[]", R"({"devices": []} trailing)"}) {
        auto r = record_inventory_files(InventoryFiles{bad, k_jobs});
        CHECK_FALSE(r.is_ok());
    }
}
