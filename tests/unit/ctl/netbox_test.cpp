// netkeepctl inventory netbox, the pure half: the mapping file, NetBox 3.x/4.x list pages,
// the paging loop over a fake fetch, and the rendered devices.json.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include <fmt/format.h>

#include "ctl/args.hpp"
#include "ctl/netbox_map.hpp"

using namespace netkeep;
using namespace netkeep::ctl::netbox;

namespace {

// A NetBox 4.x device as /api/dcim/devices/ lists it (fields the mapping does not read are
// kept so the parser is shown to ignore them).
std::string device_4x(int id, std::string_view name,
                      std::string_view custom = R"("netkeep_backup":null)") {
    return fmt::format(
        R"({{"id":{0},"url":"http://nb/api/dcim/devices/{0}/","display_url":"http://nb/dcim/devices/{0}/","display":"{1}","name":"{1}",)"
        R"("device_type":{{"id":1,"url":"http://nb/api/dcim/device-types/1/","display":"C9300","manufacturer":{{"id":1,"name":"Cisco","slug":"cisco"}},"model":"C9300","slug":"c9300","description":""}},)"
        R"("role":{{"id":2,"url":"http://nb/api/dcim/device-roles/2/","display":"Core","name":"Core","slug":"core","description":""}},)"
        R"("tenant":null,"platform":{{"id":3,"url":"http://nb/api/dcim/platforms/3/","display":"Cisco IOS","name":"Cisco IOS","slug":"cisco-ios","description":""}},)"
        R"("serial":"","asset_tag":null,"site":{{"id":4,"url":"http://nb/api/dcim/sites/4/","display":"Dallas 1","name":"Dallas 1","slug":"dal1","description":""}},)"
        R"("location":null,"rack":null,"position":null,"face":null,"status":{{"value":"active","label":"Active"}},)"
        R"("primary_ip":{{"id":9,"url":"http://nb/api/ipam/ip-addresses/9/","display":"10.0.0.{0}/24","family":{{"value":4,"label":"IPv4"}},"address":"10.0.0.{0}/24","description":""}},)"
        R"("primary_ip4":{{"id":9,"url":"http://nb/api/ipam/ip-addresses/9/","display":"10.0.0.{0}/24","family":{{"value":4,"label":"IPv4"}},"address":"10.0.0.{0}/24","description":""}},)"
        R"("primary_ip6":null,"oob_ip":null,"cluster":null,"virtual_chassis":null,"description":"","comments":"",)"
        R"("tags":[{{"id":1,"url":"http://nb/api/extras/tags/1/","display":"Backup","name":"Backup","slug":"backup","color":"9e9e9e"}}],)"
        R"("custom_fields":{{{2}}},"created":"2025-01-01T00:00:00Z","last_updated":"2025-01-01T00:00:00Z"}})",
        id, name, custom);
}

// NetBox 3.x: device_role instead of role, family as a number.
std::string device_3x(int id, std::string_view name) {
    return fmt::format(
        R"({{"id":{0},"url":"http://nb/api/dcim/devices/{0}/","display":"{1}","name":"{1}",)"
        R"("device_role":{{"id":2,"url":"http://nb/api/dcim/device-roles/2/","display":"Edge","name":"Edge","slug":"edge"}},)"
        R"("platform":{{"id":3,"url":"http://nb/api/dcim/platforms/3/","display":"Junos","name":"Junos","slug":"juniper-junos"}},)"
        R"("site":{{"id":4,"url":"http://nb/api/dcim/sites/4/","display":"Houston","name":"Houston","slug":"hou"}},)"
        R"("status":{{"value":"active","label":"Active"}},)"
        R"("primary_ip":{{"id":9,"url":"http://nb/api/ipam/ip-addresses/9/","display":"2001:db8::{0}/64","family":6,"address":"2001:db8::{0}/64"}},)"
        R"("primary_ip4":null,"primary_ip6":{{"id":9,"family":6,"address":"2001:db8::{0}/64"}},)"
        R"("tags":[],"custom_fields":{{}},"config_context":{{}}}})",
        id, name);
}

std::string page(std::uint64_t count, std::string_view next,
                 const std::vector<std::string>& results) {
    return fmt::format(R"({{"count":{},"next":{},"previous":null,"results":[{}]}})", count,
                       next.empty() ? "null" : fmt::format("\"{}\"", next),
                       fmt::join(results, ","));
}

// A fetch over a URL -> body table; an unknown URL is a 404.
struct FakeNetbox {
    std::map<std::string, std::string> pages;
    std::vector<std::string> asked;
    Fetch fetch() {
        return [this](const std::string& url, std::chrono::milliseconds) -> Result<std::string> {
            asked.push_back(url);
            auto it = pages.find(url);
            if (it == pages.end()) return Status::unavailable("HTTP 404");
            return it->second;
        };
    }
};

const std::string k_base = "https://nb.example.net";
const std::string k_first =
    k_base + "/api/dcim/devices/?limit=1000&offset=0&exclude=config_context";

}  // namespace

TEST_CASE("netbox: a 4.x device maps to host, platform, group, tags and profile") {
    auto p = parse_page(page(1, "", {device_4x(7, "dal-core-1")}), default_mapping());
    REQUIRE(p);
    REQUIRE(p->devices.size() == 1);
    const Device& d = p->devices[0];
    CHECK(d.netbox_id == 7);
    CHECK(d.name == "dal-core-1");
    CHECK(d.host == "10.0.0.7");
    CHECK(d.platform == "ios");
    CHECK(d.group == "dal1");
    CHECK(d.profile == "netbox");
    CHECK(d.tags == std::vector<std::string>{"backup", "role:core", "site:dal1"});
}

TEST_CASE("netbox: a 3.x device (device_role, IPv6 only) maps through primary_ip") {
    auto p = parse_page(page(1, "", {device_3x(3, "hou-edge-1")}), default_mapping());
    REQUIRE(p);
    REQUIRE(p->devices.size() == 1);
    CHECK(p->devices[0].host == "2001:db8::3");
    CHECK(p->devices[0].platform == "junos");
    CHECK(p->devices[0].tags == std::vector<std::string>{"role:edge", "site:hou"});
}

TEST_CASE("netbox: status, the backup custom field, names and addresses decide what is skipped") {
    const std::string planned =
        std::string(device_4x(1, "a"))
            .replace(device_4x(1, "a").find(R"("value":"active")"), 16, R"("value":"planned")");
    const std::string off = device_4x(2, "b", R"("netkeep_backup":false)");
    std::string unnamed = device_4x(3, "x");
    unnamed.replace(unnamed.find(R"("name":"x")"), 10, R"("name":null)");
    const std::string bad_name = device_4x(4, "sw 1/2");
    std::string no_ip = device_4x(5, "e");
    for (std::string_view field : {R"("primary_ip":{)", R"("primary_ip4":{)"}) {
        const std::string null_field =
            std::string(field.substr(0, field.size() - 1)) + R"(null,"x":{)";
        no_ip.replace(no_ip.find(field), field.size(), null_field);
    }
    const std::string weird = device_4x(6, "f", R"("netkeep_backup":"yes")");
    std::string bad_ip = device_4x(7, "g");
    for (std::size_t at; (at = bad_ip.find(R"("address":"10.0.0.7/24")")) != std::string::npos;)
        bad_ip.replace(at, 23, R"("address":"a b\n/24")");
    auto p = parse_page(page(7, "", {planned, off, unnamed, bad_name, no_ip, weird, bad_ip}),
                        default_mapping());
    REQUIRE(p);
    CHECK(p->devices.empty());
    REQUIRE(p->skipped.size() == 7);
    CHECK(p->skipped[0].reason == "status 'planned'");
    CHECK(p->skipped[1].reason == "custom field netkeep_backup is false");
    CHECK(p->skipped[2].reason == "has no name");
    CHECK(p->skipped[3].reason == "the name has characters other than A-Z a-z 0-9 . _ -");
    CHECK(p->skipped[4].reason == "no address in primary_ip4, primary_ip");
    CHECK(p->skipped[5].reason == "custom field netkeep_backup is not true, false or null");
    CHECK(p->skipped[6].reason == "the address is not an IP address or host name");
    CHECK(p->skipped[0].by_choice);
    CHECK(p->skipped[1].by_choice);
    CHECK_FALSE(p->skipped[2].by_choice);
}

TEST_CASE("netbox: the mapping file overrides the defaults key by key") {
    auto m = parse_mapping(R"({
        "platforms": {"cisco-ios": "iosxr", "juniper-junos": null, "my-fw": "fortios"},
        "status": ["active", "staged"], "host": ["primary_ip6", "name"], "group": "role",
        "tags": {"tenant": "t-", "platform": "p:"}, "backup_default": false,
        "profile": "", "virtual_machines": true,
        "credentials": {"netops": {"user": "netops", "pass": {"env": "P"}}},
        "profiles": {"netbox": {"credentials": "netops"}}})");
    REQUIRE(m);
    CHECK(m->statuses == std::vector<std::string>{"active", "staged"});
    CHECK(m->group == "role");
    CHECK(m->virtual_machines);
    CHECK(m->credentials_json == R"({"netops":{"user":"netops","pass":{"env":"P"}}})");
    // backup_default false: only devices whose custom field says true.
    auto p = parse_page(
        page(2, "", {device_4x(1, "a", R"("netkeep_backup":true)"), device_4x(2, "b")}), *m);
    REQUIRE(p);
    REQUIRE(p->devices.size() == 1);
    const Device& d = p->devices[0];
    CHECK(d.host == "a");  // no primary_ip6: falls back to the name
    CHECK(d.platform == "iosxr");
    CHECK(d.group == "core");
    CHECK(d.profile.empty());
    CHECK(d.tags == std::vector<std::string>{"p:cisco-ios"});
    // juniper-junos removed from the table: its devices get no platform, and a note says so.
    auto no_junos = parse_mapping(R"({"platforms": {"juniper-junos": null}})");
    REQUIRE(no_junos);
    auto q = parse_page(page(1, "", {device_3x(3, "j")}), *no_junos);
    REQUIRE(q);
    REQUIRE(q->devices.size() == 1);
    CHECK(q->devices[0].platform.empty());
    REQUIRE(q->notes.size() == 1);
    CHECK(q->notes[0].find("'juniper-junos'") != std::string::npos);
}

TEST_CASE("netbox: the profile comes from the custom field when it is set") {
    auto p = parse_page(page(1, "", {device_4x(1, "a", R"("netkeep_profile":"lab")")}),
                        default_mapping());
    REQUIRE(p);
    CHECK(p->devices[0].profile == "lab");
}

TEST_CASE("netbox: a bad mapping file names the JSON path") {
    CHECK(parse_mapping("[]").status().message() == "/: must be a JSON object");
    CHECK(parse_mapping(R"({"platform": {}})").status().message() ==
          "/platform: unknown field 'platform'");
    CHECK(parse_mapping(R"({"platforms": {"x": "cisco"}})").status().message() ==
          "/platforms/x: unknown platform 'cisco' (netkeepctl platforms lists them)");
    CHECK(parse_mapping(R"({"host": ["mgmt"]})")
              .status()
              .message()
              .starts_with("/host/0: unknown source"));
    CHECK(parse_mapping(R"({"group": "rack"})").status().message().starts_with("/group:"));
    CHECK(parse_mapping(R"({"status": []})").status().message().starts_with("/status:"));
    CHECK(parse_mapping(R"({"profile": "a", "profile": "b"})").status().message() ==
          "/profile: appears twice");
    CHECK(parse_mapping(R"({"credentials": []})").status().message().starts_with("/credentials:"));
    CHECK(parse_mapping("{").status().message().starts_with("/: not valid JSON"));
}

TEST_CASE("netbox: garbage is not a page") {
    for (std::string_view body :
         {"", "<html>502 Bad Gateway</html>", "{}", R"({"count":1})",
          R"({"count":1,"results":[{"name":"x"}]})", R"({"count":-1,"results":[]})",
          R"({"count":1,"next":5,"results":[]})",
          R"({"count":1,"next":null,"results":[{"id":1,"name":"a")"}) {
        CAPTURE(body);
        CHECK_FALSE(parse_page(body, default_mapping()));
    }
}

TEST_CASE("netbox: URLs and filters are checked") {
    CHECK(*check_base_url("https://nb.example.net/") == "https://nb.example.net");
    CHECK(*check_base_url("http://10.0.0.1:8000/netbox") == "http://10.0.0.1:8000/netbox");
    CHECK_FALSE(check_base_url("ftp://nb"));
    CHECK_FALSE(check_base_url("https://user:pw@nb"));
    CHECK_FALSE(check_base_url("https://nb/?x=1"));
    CHECK_FALSE(check_base_url("https:///"));
    CHECK(check_filter("site=dal1&tag=backup&role=core"));
    CHECK(check_filter("q=a%20b"));
    CHECK_FALSE(check_filter("site=dal 1"));
    CHECK_FALSE(check_filter("site"));
    CHECK_FALSE(check_filter("limit=5"));
    CHECK_FALSE(check_filter("site=a&offset=5"));
    CHECK_FALSE(check_filter("a=b#frag"));
    CHECK_FALSE(check_filter(std::string(3000, 'a') + "=b"));
    CHECK(first_page_url(k_base, "dcim/devices", 1000, "site=dal1") == k_first + "&site=dal1");
}

TEST_CASE("netbox: a next link is followed on the --url origin, inside the endpoint") {
    const std::string base = "https://nb.example.net/netbox";
    // NetBox behind a TLS proxy writes http:// and its own host name: the path is kept.
    CHECK(*next_page_url(base, "dcim/devices",
                         "http://internal:8080/netbox/api/dcim/devices/?limit=1000&offset=1000") ==
          "https://nb.example.net/netbox/api/dcim/devices/?limit=1000&offset=1000");
    CHECK(*next_page_url(base, "dcim/devices", "/netbox/api/dcim/devices/?offset=5") ==
          "https://nb.example.net/netbox/api/dcim/devices/?offset=5");
    CHECK_FALSE(next_page_url(base, "dcim/devices", "https://evil/api/users/tokens/"));
    CHECK_FALSE(next_page_url(base, "dcim/devices", "https://nb.example.net/api/dcim/devices/?x"));
    CHECK_FALSE(next_page_url(base, "dcim/devices", "https://x/netbox/api/dcim/devices/?a=b c"));
}

TEST_CASE("netbox: paging follows next links and sorts by name") {
    FakeNetbox nb;
    const std::string second =
        k_base + "/api/dcim/devices/?limit=1000&offset=2&exclude=config_context";
    nb.pages[k_first] =
        page(3, "http://proxy/api/dcim/devices/?limit=1000&offset=2&exclude=config_context",
             {device_4x(1, "zz"), device_4x(2, "aa")});
    nb.pages[second] = page(3, "", {device_3x(3, "mm")});
    auto pulled = pull(k_base, "", default_mapping(), Limits{}, nb.fetch());
    REQUIRE(pulled);
    CHECK(pulled->pages == 2);
    CHECK(pulled->objects == 3);
    REQUIRE(pulled->devices.size() == 3);
    CHECK(pulled->devices[0].name == "aa");
    CHECK(pulled->devices[1].name == "mm");
    CHECK(pulled->devices[2].name == "zz");
    CHECK(nb.asked == std::vector<std::string>{k_first, second});
}

TEST_CASE("netbox: an inconsistent or endless listing is refused whole") {
    const std::string second = k_base + "/api/dcim/devices/?offset=1";
    const std::string next = "/api/dcim/devices/?offset=1";
    SUBCASE("the count changes between pages") {
        FakeNetbox nb;
        nb.pages[k_first] = page(2, next, {device_4x(1, "a")});
        nb.pages[second] = page(3, "", {device_4x(2, "b")});
        auto r = pull(k_base, "", default_mapping(), Limits{}, nb.fetch());
        CHECK(r.status().message().find("count changed while paging (2 then 3)") !=
              std::string::npos);
    }
    SUBCASE("fewer objects than the count") {
        FakeNetbox nb;
        nb.pages[k_first] = page(5, "", {device_4x(1, "a")});
        CHECK_FALSE(pull(k_base, "", default_mapping(), Limits{}, nb.fetch()));
    }
    SUBCASE("more objects than the count") {
        FakeNetbox nb;
        nb.pages[k_first] = page(1, "", {device_4x(1, "a"), device_4x(2, "b")});
        CHECK_FALSE(pull(k_base, "", default_mapping(), Limits{}, nb.fetch()));
    }
    SUBCASE("a next link that loops") {
        FakeNetbox nb;
        nb.pages[k_first] = page(9, next, {device_4x(1, "a")});
        nb.pages[second] = page(9, next, {device_4x(2, "b")});
        auto r = pull(k_base, "", default_mapping(), Limits{}, nb.fetch());
        CHECK(r.status().message().find("repeats") != std::string::npos);
    }
    SUBCASE("a next link that never ends with fresh offsets") {
        FakeNetbox nb;
        nb.pages[k_first] = page(3, next, {device_4x(1, "a")});
        for (int i = 1; i < 10; ++i)
            nb.pages[fmt::format("{}/api/dcim/devices/?offset={}", k_base, i)] = page(
                3, fmt::format("/api/dcim/devices/?offset={}", i + 1), {device_4x(i + 1, "b")});
        auto r = pull(k_base, "", default_mapping(), Limits{}, nb.fetch());
        CHECK(r.status().message().find("more devices (4) than the count says (3)") !=
              std::string::npos);
    }
    SUBCASE("empty pages with next links") {
        FakeNetbox nb;
        nb.pages[k_first] = page(3, next, {});
        CHECK(pull(k_base, "", default_mapping(), Limits{}, nb.fetch())
                  .status()
                  .message()
                  .find("an empty page with a next link") != std::string::npos);
    }
    SUBCASE("a page fails") {
        FakeNetbox nb;
        nb.pages[k_first] = page(2, next, {device_4x(1, "a")});
        auto r = pull(k_base, "", default_mapping(), Limits{}, nb.fetch());
        CHECK(r.status().message() == "GET " + second + ": HTTP 404");
    }
    SUBCASE("too many objects") {
        FakeNetbox nb;
        nb.pages[k_first] = page(200000, next, {device_4x(1, "a")});
        Limits limits;
        CHECK(pull(k_base, "", default_mapping(), limits, nb.fetch()).status().code() ==
              Status::Code::too_large);
    }
    SUBCASE("too many pages") {
        FakeNetbox nb;
        nb.pages[k_first] = page(3, next, {device_4x(1, "a")});
        nb.pages[second] = page(3, "/api/dcim/devices/?offset=2", {device_4x(2, "b")});
        Limits limits;
        limits.max_pages = 2;
        CHECK(pull(k_base, "", default_mapping(), limits, nb.fetch()).status().message() ==
              "more than 2 pages");
    }
}

TEST_CASE("netbox: virtual machines come from their own endpoint when asked") {
    FakeNetbox nb;
    nb.pages[k_first] = page(1, "", {device_4x(1, "sw1")});
    nb.pages[k_base +
             "/api/virtualization/virtual-machines/?limit=1000&offset=0&exclude=config_context"] =
        page(1, "", {device_4x(2, "vm1")});
    Mapping m = default_mapping();
    m.virtual_machines = true;
    auto r = pull(k_base, "", m, Limits{}, nb.fetch());
    REQUIRE(r);
    REQUIRE(r->devices.size() == 2);
    CHECK(r->devices[1].kind == "virtual machine");
}

TEST_CASE("netbox: devices.json is rendered deterministically and names the NetBox object") {
    Mapping m = default_mapping();
    m.credentials_json = R"({"c":{"user":"u"}})";
    m.profiles_json = R"({"netbox":{"credentials":"c"}})";
    std::vector<Device> devices(2);
    devices[0].netbox_id = 3;
    devices[0].name = "sw1";
    devices[0].host = "10.0.0.1";
    devices[0].profile = "netbox";
    devices[0].platform = "ios";
    devices[0].group = "dal1";
    devices[0].tags = {"a", "b\"c"};
    devices[1].netbox_id = 17;
    devices[1].name = "sw1";
    devices[1].host = "10.0.0.2";
    CHECK(render_devices_json(m, devices) ==
          "{\n  \"credentials\": {\"c\":{\"user\":\"u\"}},\n  \"profiles\": "
          "{\"netbox\":{\"credentials\":\"c\"}},\n  \"devices\": [\n"
          "    {\"name\": \"sw1\", \"host\": \"10.0.0.1\", \"profile\": \"netbox\", \"platform\": "
          "\"ios\", \"group\": \"dal1\", \"tags\": [\"a\", \"b\\\"c\"]},\n"
          "    {\"name\": \"sw1\", \"host\": \"10.0.0.2\"}\n  ]\n}\n");
    CHECK(render_devices_json(m, {}).ends_with("\"devices\": []\n}\n"));
    CHECK(
        name_netbox_object("devices.json: /devices/1/name: duplicate device name 'sw1'", devices) ==
        "devices.json: /devices/1/name: duplicate device name 'sw1' (NetBox device id 3, device id "
        "17)");
    CHECK(name_netbox_object("jobs.json: /jobs/0: x", devices) == "jobs.json: /jobs/0: x");
}

TEST_CASE("netbox: the command line") {
    using netkeep::ctl::Command;
    auto parse = [](std::vector<std::string_view> args) { return netkeep::ctl::parse_args(args); };
    auto o = parse({"inventory", "netbox", "--url", "https://nb", "--token-file", "t", "--out",
                    "inv", "--filter", "site=dal1", "--watch", "300", "--reload",
                    "http://127.0.0.1:8080", "--reload-token-file", "a"});
    REQUIRE(o);
    CHECK(o->command == Command::inventory_netbox);
    CHECK(o->netbox.watch == 300);
    CHECK(o->netbox.filter == "site=dal1");
    CHECK(parse({"inventory", "netbox", "--token-file", "t", "--out", "i"}).status().message() ==
          "inventory netbox: --url is required");
    CHECK(parse({"inventory", "netbox", "--url", "u", "--out", "i"}).status().message() ==
          "inventory netbox: --token-file is required");
    CHECK(parse({"inventory", "netbox", "--url", "u", "--token-file", "t"}).status().message() ==
          "inventory netbox: --out DIR is required");
    CHECK_FALSE(parse(
        {"inventory", "netbox", "--url", "u", "--token-file", "t", "--out", "i", "--watch", "0"}));
    CHECK_FALSE(parse({"inventory", "netbox", "--url", "u", "--token-file", "t", "--out", "i",
                       "--reload", "x", "--reload-command", "y"}));
    CHECK_FALSE(parse({"inventory", "check", "inv", "--url", "u"}));
    CHECK_FALSE(parse({"log", "--url", "u"}));
}

TEST_CASE("netbox: --timeout is bounded") {
    auto parse = [](std::vector<std::string_view> args) { return netkeep::ctl::parse_args(args); };
    auto o = parse(
        {"inventory", "netbox", "--url", "u", "--token-file", "t", "--out", "i", "--timeout", "5"});
    REQUIRE(o);
    CHECK(o->netbox.timeout == 5);
    CHECK_FALSE(parse({"inventory", "netbox", "--url", "u", "--token-file", "t", "--out", "i",
                       "--timeout", "0"}));
    CHECK_FALSE(parse({"inventory", "netbox", "--url", "u", "--token-file", "t", "--out", "i",
                       "--timeout", "601"}));
}
