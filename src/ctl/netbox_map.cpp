#include "ctl/netbox_map.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "netkeep/json.hpp"
#include "netkeep/platform.hpp"

namespace netkeep::ctl::netbox {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

Status bad(std::string_view path, std::string_view why) {
    return Status::invalid_argument(fmt::format("{}: {}", path, why));
}

// NetBox platform slugs seen in the wild (the NetBox device-type library, community
// imports) for the families netkeep knows. A slug equal to a netkeep name maps to itself
// without being listed.
constexpr std::pair<std::string_view, std::string_view> k_default_platforms[] = {
    {"cisco-ios", "ios"},
    {"cisco-ios-xe", "ios"},
    {"cisco-iosxe", "ios"},
    {"ios-xe", "ios"},
    {"iosxe", "ios"},
    {"cisco-ios-xr", "iosxr"},
    {"cisco-iosxr", "iosxr"},
    {"ios-xr", "iosxr"},
    {"cisco-nx-os", "nxos"},
    {"cisco-nxos", "nxos"},
    {"nx-os", "nxos"},
    {"cisco-asa", "asa"},
    {"juniper-junos", "junos"},
    {"arista-eos", "eos"},
    {"fortinet-fortios", "fortios"},
    {"paloalto-panos", "panos"},
    {"pan-os", "panos"},
    {"mikrotik-routeros", "routeros"},
    {"huawei-vrp", "vrp"},
    {"hpe-comware", "comware"},
    {"hp-comware", "comware"},
    {"h3c-comware", "comware"},
    {"hp-procurve", "procurve"},
    {"aruba-procurve", "procurve"},
    {"arubaos-switch", "procurve"},
    {"aruba-aoscx", "aoscx"},
    {"arubaos-cx", "aoscx"},
    {"aos-cx", "aoscx"},
    {"dell-os10", "os10"},
    {"dellemc-os10", "os10"},
};

constexpr std::string_view k_host_sources[] = {"primary_ip4", "primary_ip6", "primary_ip", "oob_ip",
                                               "name"};
constexpr std::string_view k_group_sources[] = {"site", "role", "tenant", ""};
constexpr std::string_view k_tag_sources[] = {"site", "role", "tenant", "platform", "tags"};

template <std::size_t N>
bool one_of(std::string_view v, const std::string_view (&set)[N]) {
    return std::find(std::begin(set), std::end(set), v) != std::end(set);
}

Result<std::vector<std::string>> string_list(element e, std::string_view path, bool allow_empty) {
    array a;
    if (e.get_array().get(a) || (!allow_empty && a.size() == 0))
        return bad(path, "must be a non-empty array of strings");
    std::vector<std::string> out;
    std::size_t i = 0;
    for (element item : a) {
        std::string_view v;
        if (item.get_string().get(v) || v.empty())
            return bad(fmt::format("{}/{}", path, i), "must be a non-empty string");
        out.emplace_back(v);
        ++i;
    }
    return out;
}

Status set_platforms(Mapping& m, element e) {
    object o;
    if (e.get_object().get(o)) return bad("/platforms", "must be an object: slug -> platform");
    for (auto [slug, value] : o) {
        const std::string path = fmt::format("/platforms/{}", slug);
        auto it = std::find_if(m.platforms.begin(), m.platforms.end(),
                               [&](const auto& p) { return p.first == slug; });
        if (value.is_null()) {
            if (it != m.platforms.end()) m.platforms.erase(it);
            continue;
        }
        std::string_view name;
        if (value.get_string().get(name)) return bad(path, "must be a platform name or null");
        if (!find_builtin_platform(name))
            return bad(
                path, fmt::format("unknown platform '{}' (netkeepctl platforms lists them)", name));
        if (it != m.platforms.end())
            it->second = std::string(name);
        else
            m.platforms.emplace_back(std::string(slug), std::string(name));
    }
    return Status::ok();
}

Status set_tags(Mapping& m, element e) {
    object o;
    if (e.get_object().get(o)) return bad("/tags", "must be an object: source -> prefix");
    m.tags.clear();
    for (auto [source, value] : o) {
        const std::string path = fmt::format("/tags/{}", source);
        if (!one_of(source, k_tag_sources))
            return bad(path, "unknown source (site, role, tenant, platform, tags)");
        std::string_view prefix;
        if (value.get_string().get(prefix)) return bad(path, "must be a string (the prefix)");
        m.tags.push_back({std::string(source), std::string(prefix)});
    }
    return Status::ok();
}

Status set_string(std::string& field, element e, std::string_view path) {
    std::string_view v;
    if (e.get_string().get(v)) return bad(path, "must be a string");
    field = std::string(v);
    return Status::ok();
}

Status set_bool(bool& field, element e, std::string_view path) {
    if (e.get_bool().get(field)) return bad(path, "must be true or false");
    return Status::ok();
}

Status set_raw_object(std::string& field, element e, std::string_view path) {
    if (!e.is_object()) return bad(path, "must be an object (as in devices.json)");
    field = simdjson::minify(e);
    return Status::ok();
}

Status set_host(Mapping& m, element e) {
    auto list = string_list(e, "/host", false);
    if (!list) return list.status();
    for (std::size_t i = 0; i < list->size(); ++i)
        if (!one_of((*list)[i], k_host_sources))
            return bad(fmt::format("/host/{}", i),
                       "unknown source (primary_ip4, primary_ip6, primary_ip, oob_ip, name)");
    m.host = std::move(*list);
    return Status::ok();
}

Status set_key(Mapping& m, std::string_view key, element value) {
    const std::string path = fmt::format("/{}", key);
    if (key == "platforms") return set_platforms(m, value);
    if (key == "tags") return set_tags(m, value);
    if (key == "host") return set_host(m, value);
    if (key == "status") {
        auto list = string_list(value, path, false);
        if (!list) return list.status();
        m.statuses = std::move(*list);
        return Status::ok();
    }
    if (key == "group") {
        if (Status s = set_string(m.group, value, path); !s) return s;
        if (!one_of(m.group, k_group_sources))
            return bad(path, "must be site, role, tenant or \"\" (no group)");
        return Status::ok();
    }
    if (key == "backup_field") return set_string(m.backup_field, value, path);
    if (key == "backup_default") return set_bool(m.backup_default, value, path);
    if (key == "profile_field") return set_string(m.profile_field, value, path);
    if (key == "profile") return set_string(m.profile, value, path);
    if (key == "virtual_machines") return set_bool(m.virtual_machines, value, path);
    if (key == "credentials") return set_raw_object(m.credentials_json, value, path);
    if (key == "profiles") return set_raw_object(m.profiles_json, value, path);
    return bad(path, fmt::format("unknown field '{}'", key));
}

// ---- one NetBox object ----

std::string_view slug_of(object o, std::string_view field) {
    object nested;
    std::string_view slug;
    if (o[field].get_object().get(nested) || nested["slug"].get_string().get(slug)) return {};
    return slug;
}

// The role: "role" (NetBox 3.6+ and 4.x), else "device_role" (3.x).
std::string_view role_of(object o) {
    std::string_view role = slug_of(o, "role");
    return role.empty() ? slug_of(o, "device_role") : role;
}

std::string_view source_value(object o, std::string_view source) {
    if (source == "role") return role_of(o);
    return slug_of(o, source);
}

// "10.0.0.1/24" -> "10.0.0.1"; empty when the field is null or has no address.
std::string address_of(object o, std::string_view field) {
    object ip;
    std::string_view address;
    if (o[field].get_object().get(ip) || ip["address"].get_string().get(address)) return {};
    return std::string(address.substr(0, address.find('/')));
}

// {"value": "active", "label": "Active"} in 3.x and 4.x; a plain string is taken too.
std::string_view status_of(object o) {
    std::string_view v;
    object status;
    if (!o["status"].get_object().get(status) && !status["value"].get_string().get(v)) return v;
    if (!o["status"].get_string().get(v)) return v;
    return {};
}

// Why a name cannot be a netkeep device name, or empty when it can (docs/devices.md#names).
std::string name_problem(std::string_view name) {
    if (name.starts_with('.')) return "starts with '.'";
    for (unsigned char c : name)
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-') || c >= 0x80)
            return "has characters other than A-Z a-z 0-9 . _ -";
    return {};
}

struct Custom {
    std::optional<bool> backup;  // nullopt: null or absent
    bool backup_invalid = false;
    std::string profile;
};

Custom custom_fields(object o, const Mapping& m) {
    Custom c;
    object fields;
    if (o["custom_fields"].get_object().get(fields)) return c;
    element v;
    if (!m.backup_field.empty() && !fields[m.backup_field].get(v) && !v.is_null()) {
        bool b = false;
        if (v.get_bool().get(b))
            c.backup_invalid = true;
        else
            c.backup = b;
    }
    std::string_view profile;
    if (!m.profile_field.empty() && !fields[m.profile_field].get_string().get(profile))
        c.profile = std::string(profile);
    return c;
}

std::string map_platform(std::string_view slug, const Mapping& m, std::vector<std::string>& notes) {
    if (slug.empty()) return {};
    for (const auto& [from, to] : m.platforms)
        if (from == slug) return to;
    if (find_builtin_platform(slug)) return std::string(slug);
    notes.push_back(fmt::format(
        "NetBox platform '{}' has no netkeep platform: its devices get none (map it with --map)",
        slug));
    return {};
}

std::vector<std::string> tags_of(object o, const Mapping& m) {
    std::set<std::string> tags;
    for (const TagSource& t : m.tags) {
        if (t.source != "tags") {
            std::string_view v = source_value(o, t.source);
            if (!v.empty()) tags.insert(t.prefix + std::string(v));
            continue;
        }
        array list;
        if (o["tags"].get_array().get(list)) continue;
        for (element tag : list) {
            std::string_view slug;
            if (!tag["slug"].get_string().get(slug) && !slug.empty())
                tags.insert(t.prefix + std::string(slug));
        }
    }
    return {tags.begin(), tags.end()};
}

// Maps one result into page.devices or page.skipped.
void map_object(object o, std::int64_t id, std::string_view kind, const Mapping& m, Page& page) {
    std::string_view name;
    if (o["name"].get_string().get(name) || name.empty()) {
        page.skipped.push_back({id, "", "has no name"});
        return;
    }
    auto skip = [&](std::string reason, bool by_choice = false) {
        page.skipped.push_back({id, std::string(name), std::move(reason), by_choice});
    };
    const std::string_view status = status_of(o);
    if (std::find(m.statuses.begin(), m.statuses.end(), status) == m.statuses.end())
        return skip(fmt::format("status '{}'", status), true);
    const Custom custom = custom_fields(o, m);
    if (custom.backup_invalid)
        return skip(fmt::format("custom field {} is not true, false or null", m.backup_field));
    if (!custom.backup.value_or(m.backup_default))
        return skip(fmt::format("custom field {} is false", m.backup_field), true);
    if (std::string problem = name_problem(name); !problem.empty())
        return skip(fmt::format("the name {}", problem));
    Device d;
    d.netbox_id = id;
    d.kind = std::string(kind);
    d.name = std::string(name);
    for (const std::string& source : m.host) {
        d.host = source == "name" ? d.name : address_of(o, source);
        if (!d.host.empty()) break;
    }
    if (d.host.empty()) return skip(fmt::format("no address in {}", fmt::join(m.host, ", ")));
    // An address or a DNS name; anything else in NetBox's field is a data error there.
    if (d.host.size() > 253 || !std::all_of(d.host.begin(), d.host.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '.' || c == ':' || c == '-' || c == '_' || c == '%';
        }))
        return skip("the address is not an IP address or host name");
    d.profile = custom.profile.empty() ? m.profile : custom.profile;
    d.platform = map_platform(slug_of(o, "platform"), m, page.notes);
    if (!m.group.empty()) d.group = std::string(source_value(o, m.group));
    d.tags = tags_of(o, m);
    page.devices.push_back(std::move(d));
}

std::string origin_of(const std::string& base) {
    const std::size_t scheme_end = base.find("://") + 3;
    const std::size_t slash = base.find('/', scheme_end);
    return slash == std::string::npos ? base : base.substr(0, slash);
}

bool printable_url_text(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '#'; });
}

Status pull_endpoint(const std::string& base, std::string_view endpoint, std::string_view kind,
                     std::string_view filter, const Mapping& mapping, const Limits& limits,
                     const Fetch& fetch, std::chrono::steady_clock::time_point deadline, Pull& out);

}  // namespace

Mapping default_mapping() {
    Mapping m;
    for (const auto& [from, to] : k_default_platforms) m.platforms.emplace_back(from, to);
    return m;
}

Result<Mapping> parse_mapping(std::string_view json) {
    simdjson::dom::parser parser;
    element root;
    if (auto error = parser.parse(json.data(), json.size()).get(root))
        return bad("/", fmt::format("not valid JSON: {}", simdjson::error_message(error)));
    object o;
    if (root.get_object().get(o)) return bad("/", "must be a JSON object");
    Mapping m = default_mapping();
    std::set<std::string_view> seen;
    for (auto [key, value] : o) {
        if (!seen.insert(key).second) return bad(fmt::format("/{}", key), "appears twice");
        if (Status s = set_key(m, key, value); !s) return s;
    }
    return m;
}

Result<Page> parse_page(std::string_view body, const Mapping& mapping, std::string_view kind) {
    simdjson::dom::parser parser;
    element root;
    if (auto error = parser.parse(body.data(), body.size()).get(root))
        return Status::invalid_argument(fmt::format("not a NetBox list page: not valid JSON: {}",
                                                    simdjson::error_message(error)));
    object o;
    std::uint64_t count = 0;
    array results;
    if (root.get_object().get(o) || o["count"].get_uint64().get(count) ||
        o["results"].get_array().get(results))
        return Status::invalid_argument(
            "not a NetBox list page: expected an object with count and results");
    Page page;
    page.count = count;
    element next;
    if (o["next"].get(next) == simdjson::SUCCESS && !next.is_null()) {
        std::string_view link;
        if (next.get_string().get(link))
            return Status::invalid_argument("not a NetBox list page: next is not a string or null");
        page.next = std::string(link);
    }
    for (element result : results) {
        object item;
        std::int64_t id = 0;
        if (result.get_object().get(item) || item["id"].get_int64().get(id))
            return Status::invalid_argument(fmt::format(
                "not a NetBox list page: result {} is not an object with an id", page.results));
        ++page.results;
        map_object(item, id, kind, mapping, page);
    }
    return page;
}

Result<std::string> check_base_url(std::string_view url) {
    std::string out(url);
    while (out.ends_with('/')) out.pop_back();
    if (!out.starts_with("http://") && !out.starts_with("https://"))
        return Status::invalid_argument("--url: must start with http:// or https://");
    if (out.size() > 1024 || !printable_url_text(out) || out.find('?') != std::string::npos)
        return Status::invalid_argument(
            "--url: at most 1024 printable characters, no query or fragment");
    const std::size_t host = out.find("://") + 3;
    const std::string_view authority =
        std::string_view(out).substr(host, out.find('/', host) - host);
    if (authority.empty()) return Status::invalid_argument("--url: no host");
    if (authority.find('@') != std::string_view::npos)
        return Status::invalid_argument("--url: no user or password in the URL: use --token-file");
    return out;
}

Status check_filter(std::string_view filter) {
    if (filter.size() > 2048) return Status::invalid_argument("--filter: longer than 2048 bytes");
    if (!printable_url_text(filter))
        return Status::invalid_argument(
            "--filter: only printable ASCII without spaces or '#' (percent-encode the rest)");
    std::size_t start = 0;
    while (start <= filter.size()) {
        const std::size_t end = std::min(filter.find('&', start), filter.size());
        const std::string_view pair = filter.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        if (eq == 0 || eq == std::string_view::npos)
            return Status::invalid_argument(
                fmt::format("--filter: '{}' is not NAME=VALUE (e.g. site=dal1&tag=backup)", pair));
        const std::string_view key = pair.substr(0, eq);
        if (key == "limit" || key == "offset" || key == "exclude" || key == "brief" ||
            key == "format" || key == "fields" || key == "omit")
            return Status::invalid_argument(
                fmt::format("--filter: '{}' is set by netkeepctl (it pages the list itself)", key));
        start = end + 1;
    }
    return Status::ok();
}

std::string first_page_url(const std::string& base, std::string_view endpoint,
                           std::uint32_t page_size, std::string_view filter) {
    std::string url = fmt::format("{}/api/{}/?limit={}&offset=0&exclude=config_context", base,
                                  endpoint, page_size);
    if (!filter.empty()) url += fmt::format("&{}", filter);
    return url;
}

Result<std::string> next_page_url(const std::string& base, std::string_view endpoint,
                                  std::string_view next) {
    std::string_view rest = next;
    if (const std::size_t scheme = next.find("://"); scheme != std::string_view::npos) {
        const std::size_t slash = next.find('/', scheme + 3);
        rest = slash == std::string_view::npos ? std::string_view{} : next.substr(slash);
    }
    const std::string origin = origin_of(base);
    const std::string expected =
        fmt::format("{}/api/{}/", std::string_view(base).substr(origin.size()), endpoint);
    if (next.size() > 8192 || !printable_url_text(rest) || !rest.starts_with(expected))
        return Status::invalid_argument(
            fmt::format("the next link '{}' is not a page of {}", next.substr(0, 200), expected));
    return origin + std::string(rest);
}

namespace {

Status pull_endpoint(const std::string& base, std::string_view endpoint, std::string_view kind,
                     std::string_view filter, const Mapping& mapping, const Limits& limits,
                     const Fetch& fetch, std::chrono::steady_clock::time_point deadline,
                     Pull& out) {
    std::string url = first_page_url(base, endpoint, limits.page_size, filter);
    std::optional<std::uint64_t> count;
    std::uint64_t read = 0;
    std::set<std::string> seen{url};
    for (;;) {
        if (++out.pages > limits.max_pages)
            return Status::too_large(fmt::format("more than {} pages", limits.max_pages));
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return Status::unavailable(
                fmt::format("took longer than {} s in all", limits.total_time.count() / 1000));
        auto body = fetch(url, std::min(left, limits.request_timeout));
        if (!body)
            return Status::unavailable(fmt::format("GET {}: {}", url, body.status().message()));
        auto page = parse_page(*body, mapping, kind);
        if (!page)
            return Status::invalid_argument(
                fmt::format("GET {}: {}", url, page.status().message()));
        if (count && page->count != *count)
            return Status::conflict(
                fmt::format("the {} count changed while paging ({} then {}): try again", kind,
                            *count, page->count));
        count = page->count;
        read += page->results;
        out.objects += page->results;
        if (*count > limits.max_devices || out.objects > limits.max_devices)
            return Status::too_large(
                fmt::format("more than {} objects (the limit)", limits.max_devices));
        if (read > *count)
            return Status::conflict(fmt::format(
                "the pages hold more {}s ({}) than the count says ({})", kind, read, *count));
        for (Device& d : page->devices) out.devices.push_back(std::move(d));
        for (Skipped& s : page->skipped) out.skipped.push_back(std::move(s));
        for (std::string& n : page->notes)
            if (std::find(out.notes.begin(), out.notes.end(), n) == out.notes.end())
                out.notes.push_back(std::move(n));
        if (!page->next) break;
        if (page->results == 0)
            return Status::conflict(fmt::format("GET {}: an empty page with a next link", url));
        auto next = next_page_url(base, endpoint, *page->next);
        if (!next)
            return Status::invalid_argument(
                fmt::format("GET {}: {}", url, next.status().message()));
        if (!seen.insert(*next).second)
            return Status::conflict(
                fmt::format("GET {}: the next link repeats an earlier page", url));
        url = std::move(*next);
    }
    if (read != *count)
        return Status::conflict(fmt::format(
            "the count says {} {}s but the pages held {} (changed while paging?): try again",
            *count, kind, read));
    return Status::ok();
}

}  // namespace

Result<Pull> pull(const std::string& base, std::string_view filter, const Mapping& mapping,
                  const Limits& limits, const Fetch& fetch) {
    const auto deadline = std::chrono::steady_clock::now() + limits.total_time;
    Pull out;
    if (Status s = pull_endpoint(base, "dcim/devices", "device", filter, mapping, limits, fetch,
                                 deadline, out);
        !s)
        return s;
    if (mapping.virtual_machines) {
        if (Status s = pull_endpoint(base, "virtualization/virtual-machines", "virtual machine",
                                     filter, mapping, limits, fetch, deadline, out);
            !s)
            return s;
    }
    std::stable_sort(out.devices.begin(), out.devices.end(),
                     [](const Device& a, const Device& b) { return a.name < b.name; });
    return out;
}

std::string render_devices_json(const Mapping& mapping, const std::vector<Device>& devices) {
    std::string out =
        fmt::format("{{\n  \"credentials\": {},\n  \"profiles\": {},\n  \"devices\": [",
                    mapping.credentials_json, mapping.profiles_json);
    bool first = true;
    for (const Device& d : devices) {
        out += first ? "\n    {" : ",\n    {";
        first = false;
        out += fmt::format("\"name\": {}, \"host\": {}", json_quote(d.name), json_quote(d.host));
        if (!d.profile.empty()) out += fmt::format(", \"profile\": {}", json_quote(d.profile));
        if (!d.platform.empty()) out += fmt::format(", \"platform\": {}", json_quote(d.platform));
        if (!d.group.empty()) out += fmt::format(", \"group\": {}", json_quote(d.group));
        if (!d.tags.empty()) {
            out += ", \"tags\": [";
            for (std::size_t i = 0; i < d.tags.size(); ++i)
                out += (i ? ", " : "") + json_quote(d.tags[i]);
            out += "]";
        }
        out += "}";
    }
    out += devices.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return out;
}

std::string name_netbox_object(std::string message, const std::vector<Device>& devices) {
    constexpr std::string_view k_marker = "/devices/";
    const std::size_t at = message.find(k_marker);
    if (at == std::string::npos) return message;
    std::size_t index = 0;
    const char* begin = message.data() + at + k_marker.size();
    auto [end, ec] = std::from_chars(begin, message.data() + message.size(), index);
    if (ec != std::errc() || end == begin || index >= devices.size()) return message;
    std::vector<std::string> ids;
    for (const Device& d : devices)
        if (d.name == devices[index].name)
            ids.push_back(fmt::format("{} id {}", d.kind, d.netbox_id));
    return fmt::format("{} (NetBox {})", message, fmt::join(ids, ", "));
}

}  // namespace netkeep::ctl::netbox
