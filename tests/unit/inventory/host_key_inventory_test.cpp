// protocol.ssh.host_key in devices.json: validated at load, expanded to the canonical
// "TYPE BASE64" list the worker receives (docs/devices.md#host-keys).
#include <doctest/doctest.h>

#include <string>

#include <fmt/format.h>

#include "netkeep/inventory.hpp"

using namespace netkeep;

namespace {

const std::string k_key1 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJf4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZfLL7";
const std::string k_key2 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBTmTCvKCmjF6muV8dwGcAgJhRSAAuNwzvX9gYOlecFC";

const std::string k_jobs =
    R"({"jobs": [{"name": "j", "schedule": {"interval": 60}, "command": {"inline": ["x"]}}]})";

Result<Inventory> load(const std::string& devices, bool resolve = true) {
    return parse_inventory(InventoryFiles{devices, k_jobs},
                           InventoryLoadOptions{.resolve_secrets = resolve, .secrets_dir = {}});
}

std::string one_device(const std::string& protocol) {
    return fmt::format(
        R"({{"devices": [{{"name": "r1", "protocol": {}, "credentials": {{"user": "u"}}}}]}})",
        protocol);
}

std::string error_of(const std::string& devices) {
    auto inv = load(devices);
    REQUIRE_FALSE(inv.is_ok());
    CHECK(inv.status().code() == Status::Code::invalid_argument);
    return inv.status().message();
}

}  // namespace

TEST_CASE("a pinned key reaches the worker's JSON as TYPE BASE64, without host field or comment") {
    auto inv = load(one_device(fmt::format(
        R"({{"type": "ssh", "ssh": {{"port": 2222, "host_key": "[10.0.0.1]:2222 {} root@r1"}}}})",
        k_key1)));
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(
        inv->devices[0].json ==
        fmt::format(
            R"({{"name":"r1","host":"r1","protocol":{{"type":"ssh","ssh":{{"port":2222,"host_key":["{}"]}}}},)"
            R"("tags":[],"credentials":{{"user":"u"}}}})",
            k_key1));
}

TEST_CASE(
    "a list of keys (rotation), from a profile; the device's own protocol replaces it whole") {
    const std::string devices = fmt::format(R"({{
      "profiles": {{"ios": {{"protocol": {{"ssh": {{"host_key": ["{}", "r1 {}"]}}}}, "credentials": {{"user": "u"}}}}}},
      "devices": [
        {{"name": "r1", "profile": "ios"}},
        {{"name": "r2", "profile": "ios", "protocol": {{"type": "ssh"}}}}
      ]}})",
                                            k_key1, k_key2);
    auto inv = load(devices);
    REQUIRE_MESSAGE(inv.is_ok(), inv.status().to_string());
    CHECK(inv->devices[0].json.find(fmt::format(
              R"("protocol":{{"type":"ssh","ssh":{{"port":22,"host_key":["{}","{}"]}}}})", k_key1,
              k_key2)) != std::string::npos);
    CHECK(inv->devices[1].json.find(R"("protocol":{"type":"ssh","ssh":{"port":22}})") !=
          std::string::npos);
    // Replay (structural mode) validates the same way and needs nothing else.
    CHECK(load(devices, false).is_ok());
}

TEST_CASE("a bad pin is a load error naming the file and the JSON path") {
    const std::string at = "devices.json: /devices/0/protocol/ssh/host_key";
    CHECK(error_of(one_device(R"({"ssh": {"host_key": "ssh-ed25519 AAAA%%%%"}})")) ==
          at + ": the key data is not valid base64");
    CHECK(error_of(one_device(R"({"ssh": {"host_key": ""}})")) == at + ": must not be empty");
    CHECK(error_of(one_device(R"({"ssh": {"host_key": "ssh-dss AAAAB3NzaC1kc3M="}})"))
              .starts_with(at + ": not a known_hosts line: expected"));
    CHECK(error_of(one_device(R"({"ssh": {"host_key": 42}})")) ==
          at + ": must be a known_hosts line or an array of them");
    CHECK(error_of(one_device(R"({"ssh": {"host_key": []}})")) ==
          at + ": must list at least one key");
    CHECK(error_of(one_device(fmt::format(R"({{"ssh": {{"host_key": ["{}", 7]}}}})", k_key1))) ==
          at + "/1: must be a string");
    CHECK(error_of(one_device(fmt::format(R"({{"ssh": {{"host_key": ["{}", "ssh-rsa {}"]}}}})",
                                          k_key1, k_key2.substr(12)))) ==
          at + "/1: the key data is of type 'ssh-ed25519', not 'ssh-rsa'");
    CHECK(error_of(one_device(
              fmt::format(R"({{"type": "telnet", "telnet": {{"host_key": "{}"}}}})", k_key1))) ==
          "devices.json: /devices/0/protocol/telnet/host_key: telnet has no host key");
    CHECK(error_of(one_device(R"({"ssh": {"hostkey": "x"}})")) ==
          "devices.json: /devices/0/protocol/ssh/hostkey: unknown field 'hostkey'");
    // In a profile: its own path, even when no device uses it.
    CHECK(error_of(
              R"({"profiles": {"ios": {"protocol": {"ssh": {"host_key": "x y"}}}}, "devices": []})")
              .starts_with(
                  "devices.json: /profiles/ios/protocol/ssh/host_key: not a known_hosts line"));
}
