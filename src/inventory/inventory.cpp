// Inventory loading with simdjson, the project's one JSON reader (auth and the worker use it too).
//
// Validation is strict: an unknown field is an error, because a typo such as "tag" for
// "tags" would otherwise silently back up the wrong devices. Every error names the
// file and the JSON pointer of the offending value.

#include "netkeep/inventory.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <simdjson.h>

#include "netkeep/host_key.hpp"
#include "netkeep/json.hpp"
#include "netkeep/platform.hpp"
#include "netkeep/regex.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep {

namespace {

namespace dom = simdjson::dom;

const json_path k_root{};

Status check_name(std::string_view name, std::string_view what) {
    if (name.empty()) return Status::invalid_argument(fmt::format("{} must not be empty", what));
    if (name.front() == '.')
        return Status::invalid_argument(
            fmt::format("'{}' must not start with '.'", json_escape(name)));
    for (char c : name) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            std::string shown = (unsigned char)c >= 0x80
                                    ? std::string("a non-ASCII character")
                                    : "'" + json_escape(std::string_view(&c, 1)) + "'";
            return Status::invalid_argument(fmt::format(
                "'{}' contains {}: {} names may only use A-Z a-z 0-9 . _ - (they become git paths)",
                json_escape(name), shown, what));
        }
    }
    return Status::ok();
}

// A built-in platform as loaded once per process (builtin_platform_specs).
struct builtin_platform_entry {
    std::string_view name;
    Result<PlatformSpec> spec;  // worker_json filled for every command set
};
// Sorted by name, as builtin_platforms() is.
const std::vector<builtin_platform_entry>& builtin_platform_specs();

// "aoscx, asa, ...": what an unknown platform's error lists.
std::string builtin_platform_names() {
    std::string out;
    for (const BuiltinPlatform& p : builtin_platforms()) {
        if (!out.empty()) out += ", ";
        out += p.name;
    }
    return out;
}

// Bounds of what a job or a platform definition may list.
constexpr std::size_t k_max_commands = 256;        // per list: inline, setup, a command set
constexpr std::size_t k_max_command_bytes = 4096;  // one command line
constexpr std::size_t k_max_command_sets = 16;
constexpr std::size_t k_max_expect = 32;           // expect rules
constexpr std::size_t k_max_answer = 256;          // bytes of one expect answer
constexpr std::size_t k_max_syslog_patterns = 16;  // a platform's "syslog" list

// Parses one file, keeping the parser (and so the document) alive while it is used.
struct parsed_file {
    std::string name;
    dom::parser parser;
    dom::element root;
};

class loader {
public:
    loader(const InventoryFiles& files, const InventoryLoadOptions& options)
        : files_(files), options_(options) {}

    Result<Inventory> load() {
        if (Status s = parse_file("devices.json", files_.devices_json, devices_file_); !s) return s;
        if (Status s = parse_file("jobs.json", files_.jobs_json, jobs_file_); !s) return s;
        if (Status s = load_devices(); !s) return s;
        if (Status s = load_used_platforms(); !s) return s;
        if (Status s = load_jobs(); !s) return s;
        return std::move(inventory_);
    }

private:
    // ---- error helpers: every error names the file and the JSON path ----
    Status fail(const json_path& path, std::string_view message) const {
        std::string where = path.str();
        return Status::invalid_argument(
            fmt::format("{}: {}: {}", file_->name, where.empty() ? "/" : where, message));
    }

    Status parse_file(std::string name, const std::string& text, parsed_file& out) {
        out.name = std::move(name);
        file_ = &out;
        auto err = out.parser.parse(text).get(out.root);
        if (err)
            return Status::invalid_argument(
                fmt::format("{}: not valid JSON: {}", out.name, simdjson::error_message(err)));
        if (!out.root.is_object()) return fail(k_root, "must be a JSON object");
        return Status::ok();
    }

    Result<dom::object> object_at(dom::element el, const json_path& path,
                                  std::initializer_list<std::string_view> allowed) const {
        dom::object obj;
        if (el.get_object().get(obj)) return fail(path, "must be an object");
        std::uint32_t seen = 0;  // bit i: allowed[i] was present
        for (auto [key, value] : obj) {
            (void)value;
            auto it = std::find(allowed.begin(), allowed.end(), key);
            if (it == allowed.end())
                return fail(child(path, key), fmt::format("unknown field '{}'", json_escape(key)));
            std::uint32_t bit = 1u << (it - allowed.begin());
            if (seen & bit) return fail(child(path, key), "appears twice");
            seen |= bit;
        }
        return obj;
    }

    Result<std::string_view> string_at(dom::element el, const json_path& path) const {
        std::string_view s;
        if (el.get_string().get(s)) return fail(path, "must be a string");
        return s;
    }

    Result<std::int64_t> integer_at(dom::element el, const json_path& path, std::int64_t min,
                                    std::int64_t max) const {
        std::int64_t v = 0;
        if (!el.is_int64() || el.get_int64().get(v)) return fail(path, "must be an integer");
        if (v < min || v > max) return fail(path, fmt::format("{} is outside {}..{}", v, min, max));
        return v;
    }

    Result<std::vector<std::string>> string_list_at(dom::element el, const json_path& path) const {
        dom::array arr;
        if (el.get_array().get(arr)) return fail(path, "must be an array of strings");
        std::vector<std::string> out;
        std::size_t i = 0;
        for (dom::element item : arr) {
            auto s = string_at(item, child(path, i));
            if (!s) return s.status();
            if (s->empty()) return fail(child(path, i), "must not be empty");
            out.emplace_back(*s);
            ++i;
        }
        return out;
    }

    // ---- secrets: "literal" | {"env": "VAR"} | {"file": "path"} ----
    // and, in the recorded form only, {"redacted_sha256": "<hex>"} for a literal.
    Result<std::string> secret_at(dom::element el, const json_path& path) const {
        if (el.is_string()) return std::string(el.get_string().value());
        auto obj = object_at(el, path, {"env", "file", k_redacted_secret_key});
        if (!obj) return fail(path, "must be a string, {\"env\": \"VAR\"} or {\"file\": \"path\"}");
        if (obj->size() != 1) return fail(path, "must have exactly one of 'env' or 'file'");
        auto [key, value] = *obj->begin();
        auto ref = string_at(value, child(path, key));
        if (!ref) return ref.status();
        if (key == k_redacted_secret_key) {
            // The log's stand-in for a password: fine for replay, useless for a login.
            if (options_.resolve_secrets)
                return fail(
                    path,
                    "a redacted secret is how the event log records a password and cannot be "
                    "resolved; write the password, {\"env\": \"VAR\"} or {\"file\": \"path\"}");
            if (ref->size() != 64 || !std::all_of(ref->begin(), ref->end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                }))
                return fail(child(path, key),
                            "must be 64 lowercase hexadecimal digits (a SHA-256)");
            return std::string();
        }
        if (ref->empty()) return fail(child(path, key), "must not be empty");
        if (!options_.resolve_secrets) return std::string();
        if (key == "env") {
            std::string var(*ref);
            const char* v = std::getenv(var.c_str());
            if (!v) return fail(path, fmt::format("environment variable {} is not set", var));
            if (!*v) return fail(path, fmt::format("environment variable {} is empty", var));
            return std::string(v);
        }
        std::string file(*ref);
        if (!file.empty() && file.front() != '/' && !options_.secrets_dir.empty())
            file = options_.secrets_dir + "/" + file;
        std::ifstream in(file, std::ios::binary);
        if (!in) return fail(path, fmt::format("cannot read secret file {}", file));
        std::ostringstream content;
        content << in.rdbuf();
        std::string s = content.str();
        // Files written with `echo` end in a newline that is not part of the secret.
        if (!s.empty() && s.back() == '\n') s.pop_back();
        if (!s.empty() && s.back() == '\r') s.pop_back();
        if (s.empty()) return fail(path, fmt::format("secret file {} is empty", file));
        return s;
    }

    // {"ends_with": ".."} | {"regex": ".."} → its expanded JSON
    Result<std::string> prompt_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"ends_with", "regex"});
        if (!obj) return obj.status();
        if (obj->size() != 1) return fail(path, "must have exactly one of 'ends_with' or 'regex'");
        auto [key, value] = *obj->begin();
        auto s = string_at(value, child(path, key));
        if (!s) return s.status();
        if (s->empty()) return fail(child(path, key), "must not be empty");
        if (key == "regex")
            if (Status st = check_regex(*s, child(path, key)); !st) return st;
        return fmt::format("{{\"{}\":{}}}", key, json_quote(*s));
    }

    // "platform": a built-in platform's name (docs/platforms.md).
    Result<std::string> platform_name_at(dom::element el, const json_path& path) const {
        auto s = string_at(el, path);
        if (!s) return s.status();
        if (!find_builtin_platform(*s))
            return fail(path, fmt::format("unknown platform '{}' (built-in platforms: {})",
                                          json_escape(*s), builtin_platform_names()));
        return std::string(*s);
    }

    // A list of commands (a job's inline or setup, a platform's set or setup) → its JSON
    // array; `non_empty`: at least one.
    Result<std::string> command_list_at(dom::element el, const json_path& path,
                                        bool non_empty) const {
        auto commands = string_list_at(el, path);
        if (!commands) return commands.status();
        if (non_empty && commands->empty()) return fail(path, "must list at least one command");
        if (commands->size() > k_max_commands)
            return fail(path, fmt::format("at most {} commands", k_max_commands));
        std::string out = "[";
        for (std::size_t c = 0; c < commands->size(); ++c) {
            if ((*commands)[c].size() > k_max_command_bytes)
                return fail(child(path, c),
                            fmt::format("longer than {} bytes", k_max_command_bytes));
            if (c) out += ',';
            out += json_quote((*commands)[c]);
        }
        return out + "]";
    }

    // "expect": [{"pattern": PROMPT, "answer": TEXT}...] → its JSON; at most k_max_expect.
    Result<std::string> expect_at(dom::element el, const json_path& path) const {
        dom::array rules;
        if (el.get_array().get(rules))
            return fail(path, "must be an array of {\"pattern\", \"answer\"}");
        if (rules.size() > k_max_expect)
            return fail(path, fmt::format("at most {} rules", k_max_expect));
        std::string out = "[";
        std::size_t i = 0;
        for (dom::element rule : rules) {
            json_path one = child(path, i++);
            auto obj = object_at(rule, one, {"pattern", "answer"});
            if (!obj) return obj.status();
            dom::element v;
            if (obj->at_key("pattern").get(v)) return fail(one, "missing field 'pattern'");
            auto pattern = prompt_at(v, child(one, "pattern"));
            if (!pattern) return pattern.status();
            if (obj->at_key("answer").get(v)) return fail(one, "missing field 'answer'");
            auto answer = string_at(v, child(one, "answer"));
            if (!answer) return answer.status();
            if (answer->empty())
                return fail(child(one, "answer"), "must not be empty (\"\\n\" sends a line end)");
            if (answer->size() > k_max_answer)
                return fail(child(one, "answer"),
                            fmt::format("longer than {} bytes", k_max_answer));
            if (out.size() > 1) out += ',';
            out += "{\"pattern\":" + *pattern + ",\"answer\":" + json_quote(*answer) + "}";
        }
        return out + "]";
    }

    // Compiled exactly as the git writer and the worker will (include/netkeep/regex.hpp),
    // so a pattern accepted here never fails there: RE2 syntax; what RE2 lacks
    // (back-references, look-around...) is refused here, with RE2's message.
    Status check_regex(std::string_view re, const json_path& path) const {
        if (re.size() > Regex::k_max_length)
            return fail(path, fmt::format("regular expression longer than {} characters",
                                          Regex::k_max_length));
        auto compiled = Regex::compile(re);
        if (!compiled)
            return fail(path, fmt::format("not a valid regular expression (RE2 syntax): {}",
                                          compiled.status().message()));
        return Status::ok();
    }

    // {user, pass?, key?, enable?, prompt?} → expanded JSON
    Result<std::string> credentials_object_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"user", "pass", "key", "enable", "prompt"});
        if (!obj) return obj.status();
        std::string out = "{";
        dom::element user;
        if (obj->at_key("user").get(user)) return fail(path, "missing field 'user'");
        auto u = string_at(user, child(path, "user"));
        if (!u) return u.status();
        out += "\"user\":" + json_quote(*u);
        dom::element pass;
        if (!obj->at_key("pass").get(pass)) {
            auto p = secret_at(pass, child(path, "pass"));
            if (!p) return p.status();
            out += ",\"pass\":" + json_quote(*p);
        }
        // A path on the worker's machine: the private key never travels, so it is no secret.
        dom::element key;
        if (!obj->at_key("key").get(key)) {
            auto k = string_at(key, child(path, "key"));
            if (!k) return k.status();
            if (k->empty()) return fail(child(path, "key"), "must not be empty");
            out += ",\"key\":" + json_quote(*k);
        }
        // The platform's enable (or super) password: a secret exactly like `pass`.
        dom::element enable;
        if (!obj->at_key("enable").get(enable)) {
            auto e = secret_at(enable, child(path, "enable"));
            if (!e) return e.status();
            out += ",\"enable\":" + json_quote(*e);
        }
        dom::element prompt;
        if (!obj->at_key("prompt").get(prompt)) {
            auto p = prompt_at(prompt, child(path, "prompt"));
            if (!p) return p.status();
            out += ",\"prompt\":" + *p;
        }
        out += "}";
        return out;
    }

    // A device's or profile's "credentials": a set's name or an inline object.
    Result<std::string> credentials_at(dom::element el, const json_path& path) const {
        if (el.is_string()) {
            std::string name(el.get_string().value());
            auto it = credentials_.find(name);
            if (it == credentials_.end())
                return fail(path, fmt::format("unknown credentials '{}'", json_escape(name)));
            return it->second;
        }
        return credentials_object_at(el, path);
    }

    // {"type": "ssh"|"telnet", "ssh": {"port": N, "host_key": K}, "telnet": {"port": N}}
    // → expanded JSON
    Result<std::string> protocol_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"type", "ssh", "telnet"});
        if (!obj) return obj.status();
        std::string type = "ssh";
        dom::element t;
        if (!obj->at_key("type").get(t)) {
            auto s = string_at(t, child(path, "type"));
            if (!s) return s.status();
            type = std::string(*s);
        }
        if (type != "ssh" && type != "telnet")
            return fail(child(path, "type"),
                        fmt::format("unknown protocol '{}' (ssh or telnet)", json_escape(type)));
        std::int64_t port = type == "ssh" ? 22 : 23;
        std::string host_keys;  // expanded JSON array; empty when none is pinned
        for (std::string_view other : {"ssh", "telnet"}) {
            dom::element section;
            if (obj->at_key(other).get(section)) continue;
            json_path spath = child(path, other);
            if (other != type)
                return fail(spath, fmt::format("given, but the protocol type is '{}'", type));
            auto sobj = object_at(section, spath, {"port", "host_key"});
            if (!sobj) return sobj.status();
            dom::element p;
            if (!sobj->at_key("port").get(p)) {
                auto v = integer_at(p, child(spath, "port"), 1, 65535);
                if (!v) return v.status();
                port = *v;
            }
            if (!sobj->at_key("host_key").get(p)) {
                if (type != "ssh") return fail(child(spath, "host_key"), "telnet has no host key");
                auto keys = host_keys_at(p, child(spath, "host_key"));
                if (!keys) return keys.status();
                host_keys = std::move(*keys);
            }
        }
        std::string out = fmt::format("{{\"type\":\"{0}\",\"{0}\":{{\"port\":{1}", type, port);
        if (!host_keys.empty()) out += ",\"host_key\":" + host_keys;
        return out + "}}";
    }

    // protocol.ssh.host_key: one known_hosts line or a list of them (any one may match,
    // for a key rotation) → the expanded JSON array of "TYPE BASE64" (docs/devices.md).
    Result<std::string> host_keys_at(dom::element el, const json_path& path) const {
        std::vector<std::pair<dom::element, json_path>> lines;
        if (el.is_string()) {
            lines.emplace_back(el, path);
        } else {
            dom::array arr;
            if (el.get_array().get(arr))
                return fail(path, "must be a known_hosts line or an array of them");
            std::size_t i = 0;
            for (dom::element item : arr) lines.emplace_back(item, child(path, i++));
            if (lines.empty()) return fail(path, "must list at least one key");
        }
        std::string out = "[";
        for (const auto& [item, item_path] : lines) {
            auto text = string_at(item, item_path);
            if (!text) return text.status();
            auto key = parse_host_key_line(*text);
            if (!key) return fail(item_path, key.status().message());
            if (out.size() > 1) out += ',';
            out += json_quote(key->line());
        }
        return out + "]";
    }

    // A partial device: what profiles and devices share.
    struct partial_device {
        std::optional<std::string> protocol_json;
        std::optional<std::string> credentials_json;
        std::vector<std::string> tags;
        std::optional<std::string> group;
        std::optional<std::string> platform;  // a built-in platform's name
    };

    Status load_shared_fields(dom::object obj, const json_path& path, partial_device& out) const {
        dom::element el;
        if (!obj.at_key("protocol").get(el)) {
            auto p = protocol_at(el, child(path, "protocol"));
            if (!p) return p.status();
            out.protocol_json = std::move(*p);
        }
        if (!obj.at_key("credentials").get(el)) {
            auto c = credentials_at(el, child(path, "credentials"));
            if (!c) return c.status();
            out.credentials_json = std::move(*c);
        }
        if (!obj.at_key("tags").get(el)) {
            auto t = string_list_at(el, child(path, "tags"));
            if (!t) return t.status();
            out.tags = std::move(*t);
        }
        if (!obj.at_key("group").get(el)) {
            auto g = string_at(el, child(path, "group"));
            if (!g) return g.status();
            // A directory in git with the group path layout (docs/git.md).
            if (Status s = check_name(*g, "group"); !s)
                return fail(child(path, "group"), s.message());
            out.group = std::string(*g);
        }
        if (!obj.at_key("platform").get(el)) {
            auto p = platform_name_at(el, child(path, "platform"));
            if (!p) return p.status();
            out.platform = std::move(*p);
        }
        return Status::ok();
    }

    using profile_map = std::map<std::string, partial_device, std::less<>>;

    // devices.json: credential sets, then profiles, then the devices that use them.
    Status load_devices() {
        file_ = &devices_file_;
        auto root = object_at(devices_file_.root, k_root, {"credentials", "profiles", "devices"});
        if (!root) return root.status();
        if (Status s = load_credential_sets(*root); !s) return s;
        profile_map profiles;
        if (Status s = load_profiles(*root, profiles); !s) return s;

        const json_path devices_path = child(k_root, "devices");
        dom::element el;
        if (root->at_key("devices").get(el))
            return fail(devices_path, "missing (a list of devices)");
        dom::array devices;
        if (el.get_array().get(devices)) return fail(devices_path, "must be an array");
        device_index_.reserve(devices.size());
        std::size_t i = 0;
        for (dom::element d : devices)
            if (Status s = load_device(d, child(devices_path, i++), profiles); !s) return s;
        return Status::ok();
    }

    // "credentials": name → set, which devices and profiles may name instead of inlining.
    Status load_credential_sets(dom::object root) {
        dom::element el;
        if (root.at_key("credentials").get(el)) return Status::ok();
        const json_path sets_path = child(k_root, "credentials");
        dom::object creds;
        if (el.get_object().get(creds)) return fail(sets_path, "must be an object");
        for (auto [name, value] : creds) {
            json_path path = child(sets_path, name);
            if (credentials_.count(std::string(name))) return fail(path, "appears twice");
            auto c = credentials_object_at(value, path);
            if (!c) return c.status();
            credentials_.emplace(std::string(name), std::move(*c));
        }
        return Status::ok();
    }

    // "profiles": name → the fields a device may take over with "profile".
    Status load_profiles(dom::object root, profile_map& profiles) const {
        dom::element el;
        if (root.at_key("profiles").get(el)) return Status::ok();
        const json_path profiles_path = child(k_root, "profiles");
        dom::object objs;
        if (el.get_object().get(objs)) return fail(profiles_path, "must be an object");
        for (auto [name, value] : objs) {
            json_path path = child(profiles_path, name);
            if (profiles.count(name)) return fail(path, "appears twice");
            auto obj =
                object_at(value, path, {"protocol", "credentials", "tags", "group", "platform"});
            if (!obj) return obj.status();
            partial_device p;
            if (Status s = load_shared_fields(*obj, path, p); !s) return s;
            profiles.emplace(std::string(name), std::move(p));
        }
        return Status::ok();
    }

    Status load_device(dom::element d, const json_path& path, const profile_map& profiles) {
        auto obj = object_at(
            d, path,
            {"name", "host", "profile", "protocol", "credentials", "tags", "group", "platform"});
        if (!obj) return obj.status();

        dom::element v;
        if (obj->at_key("name").get(v)) return fail(path, "missing field 'name'");
        auto name = string_at(v, child(path, "name"));
        if (!name) return name.status();
        if (Status s = check_name(*name, "device"); !s)
            return fail(child(path, "name"), s.message());
        if (!device_index_.emplace(*name, std::uint32_t(inventory_.devices.size())).second)
            return fail(child(path, "name"), fmt::format("duplicate device name '{}'", *name));

        std::string host(*name);
        if (!obj->at_key("host").get(v)) {
            auto h = string_at(v, child(path, "host"));
            if (!h) return h.status();
            if (h->empty()) return fail(child(path, "host"), "must not be empty");
            host = std::string(*h);
        }

        auto merged = device_fields(*obj, path, profiles);
        if (!merged) return merged.status();
        DeviceSpec spec;
        spec.name = std::string(*name);
        spec.tags = std::move(merged->tags);
        spec.group = merged->group.value_or(std::string());
        spec.platform = merged->platform.value_or(std::string());
        if (options_.resolve_secrets) spec.json = device_json(spec, host, *merged);
        spec.host = std::move(host);
        inventory_.devices.push_back(std::move(spec));
        return Status::ok();
    }

    // A device's shared fields over its profile's: the device's own win; tags are the union.
    Result<partial_device> device_fields(dom::object obj, const json_path& path,
                                         const profile_map& profiles) const {
        partial_device merged;
        dom::element v;
        if (!obj.at_key("profile").get(v)) {
            auto pname = string_at(v, child(path, "profile"));
            if (!pname) return pname.status();
            auto it = profiles.find(*pname);
            if (it == profiles.end())
                return fail(child(path, "profile"),
                            fmt::format("unknown profile '{}'", json_escape(*pname)));
            merged = it->second;
        }
        partial_device own;
        if (Status s = load_shared_fields(obj, path, own); !s) return s;
        if (own.protocol_json) merged.protocol_json = std::move(own.protocol_json);
        if (own.credentials_json) merged.credentials_json = std::move(own.credentials_json);
        if (own.group) merged.group = std::move(own.group);
        if (own.platform) merged.platform = std::move(own.platform);
        merged.tags.insert(merged.tags.end(), own.tags.begin(), own.tags.end());
        std::sort(merged.tags.begin(), merged.tags.end());
        merged.tags.erase(std::unique(merged.tags.begin(), merged.tags.end()), merged.tags.end());
        if (!merged.credentials_json)
            return fail(path, "no credentials: neither the device nor its profile names any");
        return merged;
    }

    // The expanded device JSON the worker receives (spec.tags already sorted and unique).
    static std::string device_json(const DeviceSpec& spec, const std::string& host,
                                   const partial_device& merged) {
        std::string j = "{\"name\":" + json_quote(spec.name) + ",\"host\":" + json_quote(host) +
                        ",\"protocol\":";
        j += merged.protocol_json ? *merged.protocol_json : R"({"type":"ssh","ssh":{"port":22}})";
        j += ",\"tags\":[";
        for (std::size_t t = 0; t < spec.tags.size(); ++t) {
            if (t) j += ',';
            j += json_quote(spec.tags[t]);
        }
        j += ']';
        if (merged.group) j += ",\"group\":" + json_quote(*merged.group);
        if (merged.platform) j += ",\"platform\":" + json_quote(*merged.platform);
        j += ",\"credentials\":" + *merged.credentials_json + "}";
        return j;
    }

    Result<Schedule> schedule_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"cron", "interval"});
        if (!obj) return obj.status();
        if (obj->size() != 1) return fail(path, "must have exactly one of 'cron' or 'interval'");
        auto [key, value] = *obj->begin();
        if (key == "interval") {
            auto n = integer_at(value, child(path, "interval"), 1, 366 * 86400);
            if (!n) return n.status();
            return Schedule{IntervalSchedule{*n}};
        }
        auto expr = string_at(value, child(path, "cron"));
        if (!expr) return expr.status();
        auto cron = parse_cron(*expr);
        if (!cron) return fail(child(path, "cron"), cron.status().message());
        return Schedule{std::move(*cron)};
    }

    // jobs.json, after devices.json: a job's "devices" selects among the loaded devices.
    Status load_jobs() {
        file_ = &jobs_file_;
        const json_path jobs_path = child(k_root, "jobs");
        auto root = object_at(jobs_file_.root, k_root, {"jobs"});
        if (!root) return root.status();
        dom::element el;
        if (root->at_key("jobs").get(el)) return fail(jobs_path, "missing (a list of jobs)");
        dom::array jobs;
        if (el.get_array().get(jobs)) return fail(jobs_path, "must be an array");
        std::unordered_set<std::string_view> names;
        std::size_t i = 0;
        for (dom::element jel : jobs)
            if (Status s = load_job(jel, child(jobs_path, i++), names); !s) return s;
        return Status::ok();
    }

    // What the steps of loading one job fill in: the spec, and what only its JSON needs.
    struct job_draft {
        JobSpec job;
        std::optional<std::string> command_json;  // as written; absent: the "config" set
        std::optional<std::string> setup_json;
        std::optional<std::string> expect_json;
        std::optional<std::string> prompt_json;
        std::optional<std::string> pager_json;
    };

    // The fields are checked in a fixed order, so a job with several errors always reports
    // the same first one.
    Status load_job(dom::element jel, const json_path& path,
                    std::unordered_set<std::string_view>& names) {
        auto obj =
            object_at(jel, path,
                      {"name", "schedule", "command", "setup", "expect", "prompt", "pager",
                       "devices", "timeout", "max_attempts", "retry_delay", "redact", "noise"});
        if (!obj) return obj.status();
        job_draft draft;
        if (Status s = load_job_name(*obj, path, names, draft.job); !s) return s;
        dom::element v;
        if (obj->at_key("schedule").get(v)) return fail(path, "missing field 'schedule'");
        auto schedule = schedule_at(v, child(path, "schedule"));
        if (!schedule) return schedule.status();
        draft.job.schedule = std::move(*schedule);
        if (Status s = load_job_command(*obj, path, draft); !s) return s;
        if (Status s = load_job_options(*obj, path, draft); !s) return s;
        if (Status s = load_content_rules(*obj, path, draft.job); !s) return s;
        auto selected = selected_devices(*obj, path);
        if (!selected) return selected.status();
        if (Status s = check_platform_commands(draft.job, path, *selected); !s) return s;

        if (options_.resolve_secrets) draft.job.json = job_json(draft);
        auto job_index = std::uint32_t(inventory_.jobs.size());
        inventory_.jobs.push_back(std::move(draft.job));
        for (std::size_t d = 0; d < selected->size(); ++d)
            if ((*selected)[d]) inventory_.tasks.push_back(TaskSpec{std::uint32_t(d), job_index});
        return Status::ok();
    }

    Status load_job_name(dom::object obj, const json_path& path,
                         std::unordered_set<std::string_view>& names, JobSpec& job) const {
        dom::element v;
        if (obj.at_key("name").get(v)) return fail(path, "missing field 'name'");
        auto name = string_at(v, child(path, "name"));
        if (!name) return name.status();
        if (Status s = check_name(*name, "job"); !s) return fail(child(path, "name"), s.message());
        if (!names.insert(*name).second)
            return fail(child(path, "name"), fmt::format("duplicate job name '{}'", *name));
        job.name = std::string(*name);
        return Status::ok();
    }

    // "command": {"inline": [...]} | {"platform": SET} | absent (the platform's "config").
    Status load_job_command(dom::object obj, const json_path& path, job_draft& draft) const {
        dom::element v;
        if (obj.at_key("command").get(v)) {
            draft.job.platform_commands = "config";
            return Status::ok();
        }
        json_path cpath = child(path, "command");
        auto cobj = object_at(v, cpath, {"inline", "platform"});
        if (!cobj) return cobj.status();
        if (cobj->size() != 1)
            return fail(cpath,
                        "must have exactly one of 'inline' (a list of commands) or 'platform' "
                        "(a command set of the device's platform)");
        auto [key, value] = *cobj->begin();
        if (key == "platform") {
            auto set = string_at(value, child(cpath, key));
            if (!set) return set.status();
            if (set->empty()) return fail(child(cpath, key), "must not be empty");
            draft.job.platform_commands = std::string(*set);
            draft.command_json = "{\"platform\":" + json_quote(*set) + "}";
            return Status::ok();
        }
        auto commands = command_list_at(value, child(cpath, key), true);
        if (!commands) return commands.status();
        draft.command_json = "{\"inline\":" + *commands + "}";
        return Status::ok();
    }

    // A job that runs a platform command set needs, on each of its devices, a platform
    // that has that set: checked here, so a worker never gets a job it cannot run.
    Status check_platform_commands(const JobSpec& job, const json_path& path,
                                   const std::vector<bool>& selected) const {
        if (job.platform_commands.empty()) return Status::ok();
        const json_path cpath = child(path, "command");
        for (std::size_t d = 0; d < selected.size(); ++d) {
            if (!selected[d]) continue;
            const DeviceSpec& device = inventory_.devices[d];
            if (device.platform.empty())
                return fail(cpath, fmt::format("device '{}' has no platform (give \"command\": "
                                               "{{\"inline\": [...]}})",
                                               device.name));
            auto it = platform_defs_.find(device.platform);
            if (it == platform_defs_.end()) return fail(cpath, "platform not loaded");  // a bug
            std::string sets;
            for (const auto& [set, unused] : it->second->worker_json) {
                if (set == job.platform_commands) {
                    sets.clear();
                    break;
                }
                sets += sets.empty() ? set : ", " + set;
            }
            if (!sets.empty())
                return fail(cpath, fmt::format("platform '{}' of device '{}' has no command set "
                                               "'{}' (it has: {})",
                                               device.platform, device.name,
                                               json_escape(job.platform_commands), sets));
        }
        return Status::ok();
    }

    // The optional fields: prompt, pager, setup, expect, timeout, max_attempts, retry_delay.
    Status load_job_options(dom::object obj, const json_path& path, job_draft& draft) const {
        dom::element v;
        for (auto [key, out] :
             {std::pair{"prompt", &draft.prompt_json}, std::pair{"pager", &draft.pager_json}}) {
            if (obj.at_key(key).get(v)) continue;
            auto p = prompt_at(v, child(path, key));
            if (!p) return p.status();
            *out = std::move(*p);
        }
        if (!obj.at_key("setup").get(v)) {
            auto setup = command_list_at(v, child(path, "setup"), false);
            if (!setup) return setup.status();
            draft.setup_json = std::move(*setup);
        }
        if (!obj.at_key("expect").get(v)) {
            auto expect = expect_at(v, child(path, "expect"));
            if (!expect) return expect.status();
            draft.expect_json = std::move(*expect);
        }
        if (!obj.at_key("timeout").get(v)) {
            auto n = integer_at(v, child(path, "timeout"), 1, 86400);
            if (!n) return n.status();
            draft.job.timeout = *n;
        }
        if (!obj.at_key("max_attempts").get(v)) {
            auto n = integer_at(v, child(path, "max_attempts"), 1, 100);
            if (!n) return n.status();
            draft.job.max_attempts = std::uint32_t(*n);
        }
        if (!obj.at_key("retry_delay").get(v)) {
            auto n = integer_at(v, child(path, "retry_delay"), 0, 86400);
            if (!n) return n.status();
            draft.job.retry_delay = *n;
        }
        return Status::ok();
    }

    // A job's or platform's "redact" list (docs/jobs.md#redact): each rule one of
    //   {"regex": RE, "replace": TEXT}, {"delete_line": RE},
    //   {"block": {"begin": RE, "end": RE}, "replace": TEXT},
    // each regex compiled as the git writer will. Bounded like every input: at most
    // k_max_rules rules.
    static constexpr std::size_t k_max_rules = 256;
    Result<std::vector<Redaction>> redactions_at(dom::element el, const json_path& path) const {
        dom::array rules;
        if (el.get_array().get(rules))
            return fail(path,
                        "must be an array of {\"regex\", \"replace\"}, {\"delete_line\"} or "
                        "{\"block\", \"replace\"} rules");
        if (rules.size() > k_max_rules)
            return fail(path, fmt::format("at most {} rules", k_max_rules));
        std::vector<Redaction> out;
        std::size_t r = 0;
        for (dom::element rule : rules) {
            auto one = redaction_at(rule, child(path, r++));
            if (!one) return one.status();
            out.push_back(std::move(*one));
        }
        return out;
    }

    Result<Redaction> redaction_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"regex", "replace", "delete_line", "block"});
        if (!obj) return obj.status();
        dom::element v;
        auto regex_field = [&](dom::object o, const json_path& at,
                               std::string_view key) -> Result<std::string> {
            dom::element re;
            if (o.at_key(key).get(re)) return fail(at, fmt::format("missing field '{}'", key));
            auto s = string_at(re, child(at, key));
            if (!s) return s.status();
            if (Status st = check_regex(*s, child(at, key)); !st) return st;
            return std::string(*s);
        };
        auto replace_field = [&]() -> Result<std::string> {
            if (obj->at_key("replace").get(v)) return fail(path, "missing field 'replace'");
            auto s = string_at(v, child(path, "replace"));
            if (!s) return s.status();
            return std::string(*s);
        };
        const bool has_delete = !obj->at_key("delete_line").get(v);
        const bool has_block = !obj->at_key("block").get(v);
        const bool has_regex = !obj->at_key("regex").get(v);
        if (int(has_delete) + int(has_block) + int(has_regex) != 1)
            return fail(path, "must have exactly one of 'regex', 'delete_line' or 'block'");
        if (has_delete) {
            if (obj->size() != 1) return fail(path, "'delete_line' takes no other field");
            auto re = regex_field(*obj, path, "delete_line");
            if (!re) return re.status();
            return Redaction{std::move(*re), {}, Redaction::Kind::delete_line};
        }
        auto replace = replace_field();
        if (!replace) return replace.status();
        if (has_regex) {
            auto re = regex_field(*obj, path, "regex");
            if (!re) return re.status();
            return Redaction{std::move(*re), std::move(*replace)};
        }
        json_path bpath = child(path, "block");
        if (obj->at_key("block").get(v)) return fail(bpath, "missing");  // checked above
        auto block = object_at(v, bpath, {"begin", "end"});
        if (!block) return block.status();
        auto begin = regex_field(*block, bpath, "begin");
        if (!begin) return begin.status();
        auto end = regex_field(*block, bpath, "end");
        if (!end) return end.status();
        if (replace->find_first_of("\r\n") != std::string::npos)
            return fail(child(path, "replace"), "must be one line (no line break)");
        return Redaction{std::move(*begin), std::move(*replace), Redaction::Kind::block,
                         std::move(*end)};
    }

    // A job's or platform's "noise" list (docs/jobs.md#noise):
    // [{"regex": RE, "action": "drop"|"ignore"}...], at most k_max_rules.
    Result<std::vector<NoiseRule>> noise_at(dom::element el, const json_path& path) const {
        dom::array rules;
        if (el.get_array().get(rules))
            return fail(path, "must be an array of {\"regex\", \"action\"} rules");
        if (rules.size() > k_max_rules)
            return fail(path, fmt::format("at most {} rules", k_max_rules));
        std::vector<NoiseRule> out;
        std::size_t r = 0;
        for (dom::element rule : rules) {
            json_path one = child(path, r++);
            auto robj = object_at(rule, one, {"regex", "action"});
            if (!robj) return robj.status();
            dom::element re, action;
            if (robj->at_key("regex").get(re)) return fail(one, "missing field 'regex'");
            if (robj->at_key("action").get(action)) return fail(one, "missing field 'action'");
            auto res = string_at(re, child(one, "regex"));
            if (!res) return res.status();
            if (Status s = check_regex(*res, child(one, "regex")); !s) return s;
            auto act = string_at(action, child(one, "action"));
            if (!act) return act.status();
            NoiseRule out_rule;
            if (*act == "drop")
                out_rule.action = NoiseRule::Action::drop;
            else if (*act == "ignore")
                out_rule.action = NoiseRule::Action::ignore;
            else
                return fail(child(one, "action"), "must be \"drop\" or \"ignore\"");
            out_rule.regex = std::string(*res);
            out.push_back(std::move(out_rule));
        }
        return out;
    }

    // The job's own "redact" and "noise", set only when present ("redact": [] is a
    // present, empty list: no redaction, not the platform's).
    Status load_content_rules(dom::object obj, const json_path& path, JobSpec& job) const {
        dom::element v;
        if (!obj.at_key("redact").get(v)) {
            auto rules = redactions_at(v, child(path, "redact"));
            if (!rules) return rules.status();
            job.redact = std::move(*rules);
        }
        if (!obj.at_key("noise").get(v)) {
            auto rules = noise_at(v, child(path, "noise"));
            if (!rules) return rules.status();
            job.noise = std::move(*rules);
        }
        return Status::ok();
    }

    // Device selection, by device index: tags and names add up; no "devices" selects every
    // device.
    Result<std::vector<bool>> selected_devices(dom::object obj, const json_path& path) const {
        std::vector<bool> selected(inventory_.devices.size(), false);
        dom::element v;
        if (obj.at_key("devices").get(v)) {
            selected.assign(selected.size(), true);
            return selected;
        }
        json_path dpath = child(path, "devices");
        auto dobj = object_at(v, dpath, {"tags", "names"});
        if (!dobj) return dobj.status();
        if (dobj->size() == 0) return fail(dpath, "must have 'tags' and/or 'names'");
        dom::element list;
        if (!dobj->at_key("tags").get(list)) {
            auto tags = string_list_at(list, child(dpath, "tags"));
            if (!tags) return tags.status();
            std::set<std::string, std::less<>> wanted(tags->begin(), tags->end());
            for (std::size_t d = 0; d < inventory_.devices.size(); ++d)
                for (const auto& t : inventory_.devices[d].tags)
                    if (wanted.count(t)) selected[d] = true;
        }
        if (!dobj->at_key("names").get(list)) {
            json_path npath = child(dpath, "names");
            auto dnames = string_list_at(list, npath);
            if (!dnames) return dnames.status();
            for (std::size_t n = 0; n < dnames->size(); ++n) {
                auto it = device_index_.find((*dnames)[n]);
                if (it == device_index_.end())
                    return fail(child(npath, n),
                                fmt::format("unknown device '{}'", json_escape((*dnames)[n])));
                selected[it->second] = true;
            }
        }
        return selected;
    }

    // The expanded job JSON the worker receives.
    static std::string job_json(const job_draft& draft) {
        const JobSpec& job = draft.job;
        std::string j = "{\"name\":" + json_quote(job.name) + ",\"schedule\":";
        if (auto* cron = std::get_if<CronSchedule>(&job.schedule))
            j += "{\"cron\":" + json_quote(cron->expression) + "}";
        else
            j += fmt::format("{{\"interval\":{}}}",
                             std::get<IntervalSchedule>(job.schedule).seconds);
        if (draft.command_json) j += ",\"command\":" + *draft.command_json;
        if (draft.setup_json) j += ",\"setup\":" + *draft.setup_json;
        if (draft.expect_json) j += ",\"expect\":" + *draft.expect_json;
        if (draft.prompt_json) j += ",\"prompt\":" + *draft.prompt_json;
        if (draft.pager_json) j += ",\"pager\":" + *draft.pager_json;
        j += fmt::format(",\"timeout\":{},\"max_attempts\":{},\"retry_delay\":{}}}", job.timeout,
                         job.max_attempts, job.retry_delay);
        return j;
    }

    // The built-in platforms the devices name, each once, sorted by name; a definition
    // that does not load fails the inventory that uses it.
    Status load_used_platforms() {
        std::set<std::string_view> used;
        for (const DeviceSpec& device : inventory_.devices)
            if (!device.platform.empty()) used.insert(device.platform);
        const auto& specs = builtin_platform_specs();
        for (std::string_view name : used) {
            auto it = std::lower_bound(
                specs.begin(), specs.end(), name,
                [](const builtin_platform_entry& e, std::string_view n) { return e.name < n; });
            if (it == specs.end() || it->name != name)
                return Status::invalid_argument(fmt::format("platform {}: not built in", name));
            if (!it->spec) return it->spec.status();
            const PlatformSpec& spec = *it->spec;
            platform_defs_.emplace(spec.name, &spec);
            // Structural loads (replay) need the rules only, not the workers' JSON.
            inventory_.platforms.push_back(PlatformSpec{
                spec.name, spec.rules,
                options_.resolve_secrets ? spec.worker_json : decltype(spec.worker_json){},
                spec.syslog});
        }
        return Status::ok();
    }

    // ---- built-in platform definitions (docs/platforms.md) ----

public:
    // One definition, checked with the parsers a job's fields use (prompt, pager, expect,
    // redact, noise...), into its rules and, for each command set, the "platform" object
    // a worker receives (contract: docs/api.md#get-workernext). Errors name
    // "platform NAME: /path".
    Result<PlatformSpec> load_platform(std::string_view name, std::string_view text) {
        std::string copy(text);
        if (Status s = parse_file(fmt::format("platform {}", name), copy, platform_file_); !s)
            return s;
        auto obj = object_at(
            platform_file_.root, k_root,
            {"name", "description", "channel", "pty", "strip_ansi", "prompt", "pager", "expect",
             "enable", "setup", "commands", "redact", "noise", "notes", "syslog"});
        if (!obj) return obj.status();
        platform_draft draft;
        draft.spec.name = std::string(name);
        if (Status s = load_platform_head(*obj, draft); !s) return s;
        if (Status s = load_platform_session(*obj, draft); !s) return s;
        if (Status s = load_platform_commands(*obj, draft); !s) return s;
        dom::element v;
        if (!obj->at_key("redact").get(v)) {
            auto rules = redactions_at(v, child(k_root, "redact"));
            if (!rules) return rules.status();
            draft.spec.rules.redact = std::move(*rules);
        }
        if (!obj->at_key("noise").get(v)) {
            auto rules = noise_at(v, child(k_root, "noise"));
            if (!rules) return rules.status();
            draft.spec.rules.noise = std::move(*rules);
        }
        if (!obj->at_key("syslog").get(v)) {
            auto patterns = syslog_patterns_at(v, child(k_root, "syslog"));
            if (!patterns) return patterns.status();
            draft.spec.syslog = std::move(*patterns);
        }
        for (const auto& [set, commands] : draft.commands)
            draft.spec.worker_json.emplace_back(set, platform_worker_json(draft, commands));
        return std::move(draft.spec);
    }

private:
    // What loading one definition collects before its worker JSON is built.
    struct platform_draft {
        PlatformSpec spec;
        std::string channel;
        std::int64_t width = 511;
        std::int64_t height = 24;
        bool strip_ansi = false;
        std::optional<std::string> prompt_json;
        std::optional<std::string> pager_json;
        std::optional<std::string> enable_json;
        std::string expect_json = "[]";
        std::string setup_json = "[]";
        std::vector<std::pair<std::string, std::string>> commands;  // set → JSON array
    };

    Result<std::string> required_string_at(dom::object obj, const json_path& path,
                                           std::string_view key) const {
        dom::element v;
        if (obj.at_key(key).get(v)) return fail(path, fmt::format("missing field '{}'", key));
        auto s = string_at(v, child(path, key));
        if (!s) return s.status();
        if (s->empty()) return fail(child(path, key), "must not be empty");
        return std::string(*s);
    }

    // name (= the file's), description, channel, notes.
    Status load_platform_head(dom::object obj, platform_draft& draft) const {
        auto name = required_string_at(obj, k_root, "name");
        if (!name) return name.status();
        if (*name != draft.spec.name)
            return fail(child(k_root, "name"),
                        fmt::format("'{}' is not the file's name", json_escape(*name)));
        auto description = required_string_at(obj, k_root, "description");
        if (!description) return description.status();
        auto channel = required_string_at(obj, k_root, "channel");
        if (!channel) return channel.status();
        if (*channel != "shell" && *channel != "exec")
            return fail(child(k_root, "channel"), "must be \"shell\" or \"exec\"");
        draft.channel = std::move(*channel);
        dom::element v;
        if (!obj.at_key("notes").get(v)) {
            auto notes = string_at(v, child(k_root, "notes"));
            if (!notes) return notes.status();
        }
        return Status::ok();
    }

    // pty, strip_ansi, prompt (required for a shell), pager, expect, enable, setup.
    Status load_platform_session(dom::object obj, platform_draft& draft) const {
        dom::element v;
        if (!obj.at_key("pty").get(v)) {
            json_path ppath = child(k_root, "pty");
            auto pty = object_at(v, ppath, {"width", "height"});
            if (!pty) return pty.status();
            for (auto [key, out, min] : {std::tuple{"width", &draft.width, std::int64_t(1)},
                                         std::tuple{"height", &draft.height, std::int64_t(0)}}) {
                dom::element n;
                if (pty->at_key(key).get(n)) continue;
                auto value = integer_at(n, child(ppath, key), min, 10000);
                if (!value) return value.status();
                *out = *value;
            }
        }
        if (!obj.at_key("strip_ansi").get(v) && v.get_bool().get(draft.strip_ansi))
            return fail(child(k_root, "strip_ansi"), "must be true or false");
        for (auto [key, out] :
             {std::pair{"prompt", &draft.prompt_json}, std::pair{"pager", &draft.pager_json}}) {
            if (obj.at_key(key).get(v)) continue;
            auto p = prompt_at(v, child(k_root, key));
            if (!p) return p.status();
            *out = std::move(*p);
        }
        if (!draft.prompt_json && draft.channel == "shell")
            return fail(k_root, "missing field 'prompt' (a shell channel needs one)");
        if (!obj.at_key("expect").get(v)) {
            auto e = expect_at(v, child(k_root, "expect"));
            if (!e) return e.status();
            draft.expect_json = std::move(*e);
        }
        if (!obj.at_key("enable").get(v)) {
            auto e = enable_at(v, child(k_root, "enable"));
            if (!e) return e.status();
            draft.enable_json = std::move(*e);
        }
        if (!obj.at_key("setup").get(v)) {
            auto setup = command_list_at(v, child(k_root, "setup"), false);
            if (!setup) return setup.status();
            draft.setup_json = std::move(*setup);
        }
        return Status::ok();
    }

    // {"command": TEXT, "password_prompt": PROMPT, "when_prompt"?: PROMPT} → JSON
    Result<std::string> enable_at(dom::element el, const json_path& path) const {
        auto obj = object_at(el, path, {"command", "password_prompt", "when_prompt"});
        if (!obj) return obj.status();
        auto command = required_string_at(*obj, path, "command");
        if (!command) return command.status();
        std::string out = "{\"command\":" + json_quote(*command);
        for (std::string_view key : {"password_prompt", "when_prompt"}) {
            dom::element v;
            if (obj->at_key(key).get(v)) {
                if (key == "password_prompt") return fail(path, "missing field 'password_prompt'");
                continue;
            }
            auto p = prompt_at(v, child(path, key));
            if (!p) return p.status();
            out += fmt::format(",\"{}\":{}", key, *p);
        }
        return out + "}";
    }

    // "commands": {SET: [command...]}, with a "config" set.
    Status load_platform_commands(dom::object obj, platform_draft& draft) const {
        dom::element v;
        json_path cpath = child(k_root, "commands");
        if (obj.at_key("commands").get(v)) return fail(k_root, "missing field 'commands'");
        dom::object sets;
        if (v.get_object().get(sets)) return fail(cpath, "must be an object: set name → commands");
        if (sets.size() > k_max_command_sets)
            return fail(cpath, fmt::format("at most {} command sets", k_max_command_sets));
        for (auto [set, list] : sets) {
            json_path spath = child(cpath, set);
            if (Status s = check_name(set, "command set"); !s) return fail(spath, s.message());
            for (const auto& [seen, unused] : draft.commands)
                if (seen == set) return fail(spath, "appears twice");
            auto commands = command_list_at(list, spath, true);
            if (!commands) return commands.status();
            draft.commands.emplace_back(std::string(set), std::move(*commands));
        }
        for (const auto& [set, unused] : draft.commands)
            if (set == "config") return Status::ok();
        return fail(cpath, "missing the \"config\" set (what a job runs by default)");
    }

    // "syslog": [RE...] (docs/syslog.md): each a regular expression as the others here,
    // whose group named `user`, when it has one, must be a plain capture group.
    Result<std::vector<std::string>> syslog_patterns_at(dom::element el,
                                                        const json_path& path) const {
        dom::array list;
        if (el.get_array().get(list)) return fail(path, "must be a list of regular expressions");
        if (list.size() > k_max_syslog_patterns)
            return fail(path, fmt::format("at most {} patterns", k_max_syslog_patterns));
        std::vector<std::string> out;
        std::size_t i = 0;
        for (dom::element item : list) {
            json_path ipath = child(path, i++);
            auto re = string_at(item, ipath);
            if (!re) return re.status();
            if (re->empty()) return fail(ipath, "must not be empty");
            if (Status s = check_regex(*re, ipath); !s) return s;
            out.emplace_back(*re);
        }
        return out;
    }

    // The lease's "platform" for one command set; keys in the documented order.
    static std::string platform_worker_json(const platform_draft& d, const std::string& commands) {
        std::string j = fmt::format(
            "{{\"name\":{},\"channel\":\"{}\",\"pty\":{{\"width\":{},\"height\":{}}},"
            "\"strip_ansi\":{}",
            json_quote(d.spec.name), d.channel, d.width, d.height, d.strip_ansi);
        if (d.prompt_json) j += ",\"prompt\":" + *d.prompt_json;
        if (d.pager_json) j += ",\"pager\":" + *d.pager_json;
        j += ",\"expect\":" + d.expect_json;
        if (d.enable_json) j += ",\"enable\":" + *d.enable_json;
        j += ",\"setup\":" + d.setup_json + ",\"commands\":" + commands + "}";
        return j;
    }

    const InventoryFiles& files_;
    const InventoryLoadOptions& options_;
    parsed_file devices_file_;
    parsed_file jobs_file_;
    parsed_file platform_file_;
    const parsed_file* file_ = nullptr;  // the file errors are attributed to
    // The definitions of the platforms the devices use, keyed by name (static lifetime).
    std::map<std::string_view, const PlatformSpec*> platform_defs_;

    std::map<std::string, std::string, std::less<>> credentials_;  // name → expanded JSON
    // Keyed by views into the parsed devices.json, which outlives the loader's use.
    std::unordered_map<std::string_view, std::uint32_t> device_index_;
    Inventory inventory_;
};

const std::vector<builtin_platform_entry>& builtin_platform_specs() {
    // Once per process: the structural load runs for every InventoryApplied replayed.
    static const std::vector<builtin_platform_entry> specs = [] {
        std::vector<builtin_platform_entry> out;
        for (const BuiltinPlatform& p : builtin_platforms())
            out.push_back(
                builtin_platform_entry{p.name, parse_platform_definition(p.name, p.json)});
        return out;
    }();
    return specs;
}

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::not_found(fmt::format("{}: cannot open", path));
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return Status::io_error(fmt::format("{}: read failed", path));
    return content.str();
}

}  // namespace

Result<InventoryFiles> read_inventory_files(const std::string& dir) {
    auto devices = read_file(dir + "/devices.json");
    if (!devices) return devices.status();
    auto jobs = read_file(dir + "/jobs.json");
    if (!jobs) return jobs.status();
    return InventoryFiles{std::move(*devices), std::move(*jobs)};
}

Result<Inventory> parse_inventory(const InventoryFiles& files,
                                  const InventoryLoadOptions& options) {
    auto inventory = loader(files, options).load();
    if (!inventory) return inventory;
    auto recorded = record_inventory_files(files);
    if (!recorded) return recorded.status();
    inventory->recorded = std::move(*recorded);
    return inventory;
}

Result<PlatformSpec> parse_platform_definition(std::string_view name, std::string_view json) {
    static const InventoryFiles no_files;
    static const InventoryLoadOptions no_options{.resolve_secrets = false, .secrets_dir = {}};
    return loader(no_files, no_options).load_platform(name, json);
}

std::string redaction_marker(std::string_view secret) {
    return fmt::format("{{\"{}\":\"{}\"}}", k_redacted_secret_key, sha256_hex(secret));
}

namespace {

namespace ondemand = simdjson::ondemand;

// A literal secret's bytes in devices.json (its quoted token) and its marker.
struct splice {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::string marker;
};

// The On Demand API, not the DOM: it hands out each value's raw token as a view into the
// input, so a secret can be cut out by its byte offset and everything around it kept as
// the operator wrote it.
class secret_finder {
public:
    explicit secret_finder(const simdjson::padded_string& text) : base_(text.data()) {}

    Status credentials_object(ondemand::value value) {
        ondemand::object obj;
        if (auto err = value.get_object().get(obj)) return error(err);
        for (auto field : obj) {
            std::string_view key;
            if (auto err = field.unescaped_key().get(key)) return error(err);
            if (key != "pass" && key != "enable") continue;  // the two secrets of a set
            ondemand::value pass;
            if (auto err = field.value().get(pass)) return error(err);
            ondemand::json_type type;
            if (auto err = pass.type().get(type)) return error(err);
            if (type != ondemand::json_type::string) continue;  // {"env"}, {"file"}, a marker
            // The token runs to the next structural character: trim the blanks after it.
            std::string_view token = pass.raw_json_token();
            while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                                      token.back() == '\n' || token.back() == '\r'))
                token.remove_suffix(1);
            std::string_view secret;
            if (auto err = pass.get_string().get(secret)) return error(err);
            splices_.push_back(
                splice{std::size_t(token.data() - base_), token.size(), redaction_marker(secret)});
        }
        return Status::ok();
    }

    // A profile or device: its "credentials" may be an inline object (or a set's name).
    Status holder(ondemand::value value) {
        ondemand::object obj;
        if (auto err = value.get_object().get(obj)) return error(err);
        for (auto field : obj) {
            std::string_view key;
            if (auto err = field.unescaped_key().get(key)) return error(err);
            if (key != "credentials") continue;
            ondemand::value creds;
            if (auto err = field.value().get(creds)) return error(err);
            ondemand::json_type type;
            if (auto err = creds.type().get(type)) return error(err);
            if (type != ondemand::json_type::object) continue;
            if (Status s = credentials_object(creds); !s) return s;
        }
        return Status::ok();
    }

    // Every value of an object ("credentials": name → set, "profiles": name → profile).
    template <typename Member>
    Status each_member(ondemand::value value, Member member) {
        ondemand::object obj;
        if (auto err = value.get_object().get(obj)) return error(err);
        for (auto field : obj) {
            ondemand::value v;
            if (auto err = field.value().get(v)) return error(err);
            if (Status s = (this->*member)(v); !s) return s;
        }
        return Status::ok();
    }

    Status devices(ondemand::value value) {
        ondemand::array arr;
        if (auto err = value.get_array().get(arr)) return error(err);
        for (auto item : arr) {
            ondemand::value v;
            if (auto err = item.get(v)) return error(err);
            if (Status s = holder(v); !s) return s;
        }
        return Status::ok();
    }

    std::vector<splice> take() { return std::move(splices_); }

    static Status error(simdjson::error_code err) {
        return Status::invalid_argument(
            fmt::format("devices.json: not valid JSON: {}", simdjson::error_message(err)));
    }

private:
    const char* base_;
    std::vector<splice> splices_;
};

Result<std::string> record_devices_json(const std::string& text) {
    simdjson::padded_string padded(text);
    ondemand::parser parser;
    ondemand::document doc;
    if (auto err = parser.iterate(padded).get(doc)) return secret_finder::error(err);
    ondemand::object root;
    if (auto err = doc.get_object().get(root)) return secret_finder::error(err);
    secret_finder finder(padded);
    // Every field, duplicates included: whichever copy a reader would take, none is literal.
    for (auto field : root) {
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) return secret_finder::error(err);
        ondemand::value value;
        if (auto err = field.value().get(value)) return secret_finder::error(err);
        Status s = Status::ok();
        if (key == "credentials")
            s = finder.each_member(value, &secret_finder::credentials_object);
        else if (key == "profiles")
            s = finder.each_member(value, &secret_finder::holder);
        else if (key == "devices")
            s = finder.devices(value);
        if (!s) return s;
    }
    // In bounds after the root object means a token follows it.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
        return Status::invalid_argument("devices.json: not valid JSON: content after the object");
    std::vector<splice> splices = finder.take();
    if (splices.empty()) return text;
    std::string out;
    out.reserve(text.size() + splices.size() * 80);
    std::size_t at = 0;
    for (const splice& s : splices) {  // in document order
        out.append(text, at, s.offset - at);
        out += s.marker;
        at = s.offset + s.length;
    }
    out.append(text, at, std::string::npos);
    return out;
}

}  // namespace

Result<InventoryFiles> record_inventory_files(const InventoryFiles& files) {
    auto devices = record_devices_json(files.devices_json);
    if (!devices) return devices.status();
    return InventoryFiles{std::move(*devices), files.jobs_json};
}

namespace {

// The inventory's definition of the task's device's platform; nullptr when none.
const PlatformSpec* task_platform(const Inventory& inventory, const TaskSpec& task) {
    const std::string& platform = inventory.devices.at(task.device).platform;
    if (platform.empty()) return nullptr;
    auto it = std::lower_bound(
        inventory.platforms.begin(), inventory.platforms.end(), platform,
        [](const PlatformSpec& p, const std::string& name) { return p.name < name; });
    return it != inventory.platforms.end() && it->name == platform ? &*it : nullptr;
}

}  // namespace

const std::string* platform_worker_json(const Inventory& inventory, const TaskSpec& task) {
    const PlatformSpec* spec = task_platform(inventory, task);
    if (!spec) return nullptr;
    const std::string& wanted = inventory.jobs.at(task.job).platform_commands;
    std::string_view set = wanted.empty() ? std::string_view("config") : std::string_view(wanted);
    for (const auto& [name, json] : spec->worker_json)
        if (name == set) return &json;
    return nullptr;
}

ContentRules content_rules(const Inventory& inventory, const TaskSpec& task) {
    const JobSpec& job = inventory.jobs.at(task.job);
    const PlatformSpec* spec = task_platform(inventory, task);
    ContentRules out;
    if (job.redact)
        out.redact = *job.redact;
    else if (spec)
        out.redact = spec->rules.redact;
    if (job.noise)
        out.noise = *job.noise;
    else if (spec)
        out.noise = spec->rules.noise;
    return out;
}

std::string task_key(std::string_view device, std::string_view job) {
    std::string key;
    key.reserve(device.size() + job.size() + 1);
    key.append(device).append("/").append(job);
    return key;
}

}  // namespace netkeep
