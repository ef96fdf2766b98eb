#pragma once
// netkeepctl inventory netbox, the pure half (docs/netbox.md): the mapping file, NetBox's
// device-list pages, the mapping of one NetBox device to one netkeep device, the paging
// loop over an injected fetch function, and the devices.json it renders. No socket and
// no disk: the command (netbox.cpp) brings libcurl and the files. Thread-compatible.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::ctl::netbox {

// Where a tag comes from and what is put before the value ("site:" + "dal1").
struct TagSource {
    std::string source;  // site, role, tenant, platform, tags (the NetBox tags' slugs)
    std::string prefix;
    friend bool operator==(const TagSource&, const TagSource&) = default;
};

// How NetBox fields become a netkeep device. default_mapping() is the documented default;
// a --map file overrides it key by key (docs/netbox.md#the-mapping-file).
struct Mapping {
    // NetBox platform slug -> netkeep platform name. A slug that is not here but is itself
    // a netkeep platform name maps to itself; any other slug gives no platform.
    std::vector<std::pair<std::string, std::string>> platforms;
    std::vector<std::string> statuses{"active"};                 // status values taken
    std::vector<std::string> host{"primary_ip4", "primary_ip"};  // tried in order
    std::string group = "site";  // site, role, tenant or "" (no group)
    std::vector<TagSource> tags{{"site", "site:"}, {"role", "role:"}, {"tags", ""}};
    std::string backup_field = "netkeep_backup";    // a boolean custom field; false: left out
    bool backup_default = true;                     // when the field is null or absent
    std::string profile_field = "netkeep_profile";  // a text custom field naming a profile
    std::string profile = "netbox";                 // otherwise; "" for none
    bool virtual_machines = false;                  // also /api/virtualization/virtual-machines/
    // Copied into devices.json as they are (minified): the loader validates them.
    std::string credentials_json = "{}";
    std::string profiles_json = "{}";
};

Mapping default_mapping();

// The default mapping overridden by a mapping file's JSON. Errors are InvalidArgument
// "/path: why"; unknown keys are errors, as in devices.json.
Result<Mapping> parse_mapping(std::string_view json);

// One device as netkeep will see it, with where it came from.
struct Device {
    std::int64_t netbox_id = 0;
    std::string kind = "device";  // or "virtual machine"
    std::string name;
    std::string host;
    std::string profile;
    std::string platform;
    std::string group;
    std::vector<std::string> tags;  // sorted, unique
};

// A NetBox object that is not backed up, and why (status, custom field, no address...).
struct Skipped {
    std::int64_t netbox_id = 0;
    std::string name;
    std::string reason;
    // Left out as the operator asked (status, the backup custom field false), not because
    // something is missing or wrong: counted, not listed.
    bool by_choice = false;
};

// One page of a NetBox list answer ({"count", "next", "previous", "results"}), each
// result already mapped.
struct Page {
    std::uint64_t count = 0;
    std::optional<std::string> next;
    std::uint64_t results = 0;  // how many objects the page held
    std::vector<Device> devices;
    std::vector<Skipped> skipped;
    std::vector<std::string> notes;  // e.g. a platform slug with no netkeep platform
};

// Parses and maps one page. `kind` names the objects in messages. InvalidArgument when the
// body is not a NetBox list page (not JSON, no count/results, a result without an id).
Result<Page> parse_page(std::string_view body, const Mapping& mapping,
                        std::string_view kind = "device");

struct Limits {
    std::uint32_t page_size = 1000;         // ?limit= (NetBox's MAX_PAGE_SIZE may lower it)
    std::uint64_t max_devices = 100000;     // objects over all pages and endpoints
    std::uint32_t max_pages = 10000;        // requests over all endpoints
    std::uint64_t max_response = 64 << 20;  // bytes of one page
    std::chrono::milliseconds request_timeout{60000};
    std::chrono::milliseconds total_time{600000};
};

// GETs one URL; the body of a 200 answer, else an error Status whose message says what
// happened (the status code, a timeout, too large). The timeout is what is left of the
// total time, at most Limits::request_timeout.
using Fetch =
    std::function<Result<std::string>(const std::string& url, std::chrono::milliseconds timeout)>;

// Everything pulled, devices sorted by name.
struct Pull {
    std::vector<Device> devices;
    std::vector<Skipped> skipped;
    std::vector<std::string> notes;  // each distinct note once
    std::uint64_t objects = 0;       // NetBox objects read
    std::uint32_t pages = 0;
};

// "https://netbox.example.net[/prefix]" checked and without a trailing '/'. No user
// info, query or fragment.
Result<std::string> check_base_url(std::string_view url);

// A --filter query ("site=dal1&tag=backup") checked: bounded, printable, k=v pairs, and
// not setting limit, offset or exclude (the pager owns them).
Status check_filter(std::string_view filter);

// The first page's URL of an endpoint ("dcim/devices").
std::string first_page_url(const std::string& base, std::string_view endpoint,
                           std::uint32_t page_size, std::string_view filter);

// The URL to fetch for a page's `next` link: its path and query on the --url origin,
// so the token never goes to another host even when NetBox (behind a proxy) writes its
// own idea of its address. InvalidArgument when the link leaves the endpoint.
Result<std::string> next_page_url(const std::string& base, std::string_view endpoint,
                                  std::string_view next);

// Pages through dcim/devices (and virtual machines when the mapping asks) until `next` is
// null. Fails, with nothing returned, on any fetch error, a page that is not a list page,
// a count that changes between pages or does not match what was read, a `next` that
// repeats or never ends, and any limit exceeded: a partial list must never replace a
// whole one.
Result<Pull> pull(const std::string& base, std::string_view filter, const Mapping& mapping,
                  const Limits& limits, const Fetch& fetch);

// The devices.json text: the mapping's credentials and profiles, then one device per line
// in the given order. Byte-identical for the same input, so "unchanged" is a compare.
std::string render_devices_json(const Mapping& mapping, const std::vector<Device>& devices);

// The loader's message with the NetBox object behind a "/devices/N" path named:
// "devices.json: /devices/2/name: duplicate device name 'sw1' (NetBox device id 17)".
std::string name_netbox_object(std::string message, const std::vector<Device>& devices);

}  // namespace netkeep::ctl::netbox
