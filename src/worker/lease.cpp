// Parsing /worker/next answers with simdjson, as the inventory and auth parse their files:
// the worker needs a JSON parser too and uses the project's single JSON reader rather
// than adding another.
#include "worker/lease.hpp"

#include <fmt/format.h>
#include <simdjson.h>

namespace netkeep::worker {

namespace {

namespace dom = simdjson::dom;

// Every malformed answer is a corruption naming the place; the helpers below return it
// instead of throwing, like the rest of the code (netkeep/status.hpp).
Status bad(std::string what) { return Status::corruption(std::move(what)); }

Result<dom::element> field(dom::element obj, std::string_view name, std::string_view path) {
    dom::element e;
    if (obj[name].get(e)) return bad(fmt::format("{}: missing field '{}'", path, name));
    return e;
}

Result<std::string> str(dom::element e, std::string_view path) {
    std::string_view s;
    if (e.get(s)) return bad(fmt::format("{}: must be a string", path));
    return std::string(s);
}

Result<std::string> str_field(dom::element obj, std::string_view name, std::string_view path) {
    auto e = field(obj, name, path);
    if (!e) return e.status();
    return str(*e, fmt::format("{}/{}", path, name));
}

Result<std::int64_t> integer(dom::element e, std::string_view path) {
    std::int64_t v = 0;
    if (e.get(v)) return bad(fmt::format("{}: must be an integer", path));
    return v;
}

std::optional<dom::element> optional_field(dom::element obj, std::string_view name) {
    dom::element e;
    if (obj[name].get(e)) return std::nullopt;
    return e;
}

// Sets `out` when the field is there.
Status optional_str(dom::element obj, std::string_view name, const std::string& path,
                    std::optional<std::string>& out) {
    auto e = optional_field(obj, name);
    if (!e) return Status::ok();
    auto s = str(*e, path + "/" + std::string(name));
    if (!s) return s.status();
    out = std::move(*s);
    return Status::ok();
}

// A pattern object ({"ends_with": T} or {"regex": RE}) at `p`.
Result<PatternSpec> pattern(dom::element e, const std::string& p) {
    for (auto [key, kind] : {std::pair{"ends_with", PatternSpec::Kind::ends_with},
                             std::pair{"regex", PatternSpec::Kind::regex}}) {
        auto t = optional_field(e, key);
        if (!t) continue;
        auto text = str(*t, p + "/" + key);
        if (!text) return text.status();
        return PatternSpec{kind, std::move(*text)};
    }
    return bad(fmt::format("{}: must have 'ends_with' or 'regex'", p));
}

// Bounds on what one element may carry: the server checks far less generous limits at
// load, these only stop a corrupt answer from costing unbounded memory or time.
constexpr std::size_t k_max_list = 10000;
constexpr std::size_t k_max_expect = 32;

Result<std::vector<std::string>> string_array(dom::element e, const std::string& p) {
    dom::array arr;
    if (e.get(arr)) return bad(p + ": must be an array");
    if (arr.size() > k_max_list) return bad(fmt::format("{}: more than {} entries", p, k_max_list));
    std::vector<std::string> out;
    std::size_t i = 0;
    for (dom::element item : arr) {
        auto text = str(item, fmt::format("{}/{}", p, i++));
        if (!text) return text.status();
        out.push_back(std::move(*text));
    }
    return out;
}

Result<std::vector<ExpectRule>> expect_rules(dom::element e, const std::string& p) {
    dom::array arr;
    if (e.get(arr)) return bad(p + ": must be an array");
    if (arr.size() > k_max_expect)
        return bad(fmt::format("{}: more than {} rules", p, k_max_expect));
    std::vector<ExpectRule> out;
    std::size_t i = 0;
    for (dom::element item : arr) {
        const std::string at = fmt::format("{}/{}", p, i++);
        auto pat = field(item, "pattern", at);
        if (!pat) return pat.status();
        auto spec = pattern(*pat, at + "/pattern");
        if (!spec) return spec.status();
        auto answer = str_field(item, "answer", at);
        if (!answer) return answer.status();
        out.push_back(ExpectRule{std::move(*spec), std::move(*answer)});
    }
    return out;
}

// Sets `out` when the field is there.
Status optional_pattern(dom::element obj, std::string_view name, const std::string& path,
                        std::optional<PatternSpec>& out) {
    auto e = optional_field(obj, name);
    if (!e) return Status::ok();
    auto spec = pattern(*e, path + "/" + std::string(name));
    if (!spec) return spec.status();
    out = std::move(*spec);
    return Status::ok();
}

// The server sends an array of "TYPE BASE64"; a single line is taken too.
Result<std::vector<HostKey>> host_keys(dom::element e, const std::string& path) {
    std::vector<std::pair<dom::element, std::string>> lines;
    dom::array arr;
    if (e.is_string()) {
        lines.emplace_back(e, path);
    } else if (!e.get(arr)) {
        std::size_t i = 0;
        for (dom::element item : arr) lines.emplace_back(item, fmt::format("{}/{}", path, i++));
    } else {
        return bad(path + ": must be a string or an array of strings");
    }
    std::vector<HostKey> out;
    for (const auto& [item, at] : lines) {
        auto text = str(item, at);
        if (!text) return text.status();
        auto key = parse_host_key_line(*text);
        if (!key) return bad(fmt::format("{}: {}", at, key.status().message()));
        out.push_back(std::move(key.value()));
    }
    // An empty list would silently mean "no pin": the server never sends one.
    if (out.empty()) return bad(path + ": must list at least one key");
    return out;
}

// protocol: its type, and the port and pinned keys of its section (`d` is the device's path).
Status parse_protocol(dom::element device, const std::string& d, Lease& l) {
    auto protocol = field(device, "protocol", d);
    if (!protocol) return protocol.status();
    auto type = str_field(*protocol, "type", d + "/protocol");
    if (!type) return type.status();
    l.protocol = std::move(*type);
    auto section = optional_field(*protocol, l.protocol);
    if (!section) {
        l.port = l.protocol == "telnet" ? 23 : 22;
        return Status::ok();
    }
    if (auto port = optional_field(*section, "port")) {
        auto v = integer(*port, d + "/protocol/" + l.protocol + "/port");
        if (!v) return v.status();
        if (*v < 1 || *v > 65535)
            return bad(fmt::format("{}/protocol: port {} out of range", d, *v));
        l.port = std::uint16_t(*v);
    }
    if (auto keys = optional_field(*section, "host_key"); keys && l.protocol == "ssh") {
        auto pinned = host_keys(*keys, d + "/protocol/ssh/host_key");
        if (!pinned) return pinned.status();
        l.host_keys = std::move(*pinned);
    }
    return Status::ok();
}

Status parse_credentials(dom::element device, const std::string& d, Credentials& out) {
    const std::string c = d + "/credentials";
    auto creds = field(device, "credentials", d);
    if (!creds) return creds.status();
    auto user = str_field(*creds, "user", c);
    if (!user) return user.status();
    out.user = std::move(*user);
    if (Status s = optional_str(*creds, "pass", c, out.pass); !s) return s;
    if (Status s = optional_str(*creds, "key", c, out.key); !s) return s;
    if (Status s = optional_str(*creds, "enable", c, out.enable); !s) return s;
    return optional_pattern(*creds, "prompt", c, out.prompt);
}

Status parse_device(dom::element item, const std::string& at, Lease& l) {
    const std::string d = at + "/device";
    auto device = field(item, "device", at);
    if (!device) return device.status();
    auto name = str_field(*device, "name", d);
    if (!name) return name.status();
    l.device = std::move(*name);
    auto host = str_field(*device, "host", d);
    if (!host) return host.status();
    l.host = std::move(*host);
    if (Status s = parse_protocol(*device, d, l); !s) return s;
    return parse_credentials(*device, d, l.credentials);
}

// "command": {"inline": [...]} or {"platform": "SET"}, or absent (the platform's "config").
Status parse_commands(dom::element job, const std::string& j, Lease& l) {
    auto command = optional_field(job, "command");
    if (!command) return Status::ok();
    if (auto set = optional_field(*command, "platform")) {
        auto name = str(*set, j + "/command/platform");
        if (!name) return name.status();
        l.command_set = std::move(*name);
        return Status::ok();
    }
    auto lines = field(*command, "inline", j + "/command");
    if (!lines) return lines.status();
    auto commands = string_array(*lines, j + "/command/inline");
    if (!commands) return commands.status();
    if (commands->empty()) return bad(j + "/command/inline: no command");
    l.commands = std::move(*commands);
    return Status::ok();
}

// setup and expect: absent (the platform's), or the job's own list, [] included.
Status parse_job_lists(dom::element job, const std::string& j, Lease& l) {
    if (auto e = optional_field(job, "setup")) {
        auto setup = string_array(*e, j + "/setup");
        if (!setup) return setup.status();
        l.setup = std::move(*setup);
    }
    if (auto e = optional_field(job, "expect")) {
        auto expect = expect_rules(*e, j + "/expect");
        if (!expect) return expect.status();
        l.expect = std::move(*expect);
    }
    return Status::ok();
}

Status parse_job(dom::element item, const std::string& at, Lease& l) {
    const std::string j = at + "/job";
    auto job = field(item, "job", at);
    if (!job) return job.status();
    auto name = str_field(*job, "name", j);
    if (!name) return name.status();
    l.job = std::move(*name);
    if (Status s = parse_commands(*job, j, l); !s) return s;
    if (Status s = parse_job_lists(*job, j, l); !s) return s;
    if (Status s = optional_pattern(*job, "prompt", j, l.prompt); !s) return s;
    if (Status s = optional_pattern(*job, "pager", j, l.pager); !s) return s;
    if (auto t = optional_field(*job, "timeout")) {
        auto timeout = integer(*t, j + "/timeout");
        if (!timeout) return timeout.status();
        l.timeout = *timeout;
    }
    if (l.timeout < 1) l.timeout = 1;
    return Status::ok();
}

Result<int> pty_dimension(dom::element pty, std::string_view name, const std::string& p,
                          int fallback) {
    auto e = optional_field(pty, name);
    if (!e) return fallback;
    auto v = integer(*e, fmt::format("{}/{}", p, name));
    if (!v) return v.status();
    if (*v < 1 || *v > 10000) return bad(fmt::format("{}/{}: {} out of range", p, name, *v));
    return int(*v);
}

Status parse_enable(dom::element e, const std::string& p, PlatformLease& out) {
    EnableSpec enable;
    auto command = str_field(e, "command", p);
    if (!command) return command.status();
    enable.command = std::move(*command);
    if (Status s = optional_pattern(e, "password_prompt", p, enable.password_prompt); !s) return s;
    if (Status s = optional_pattern(e, "when_prompt", p, enable.when_prompt); !s) return s;
    out.enable = std::move(enable);
    return Status::ok();
}

// The session-shaping fields: pty, strip_ansi, prompt, pager, expect, enable.
Status parse_platform_session(dom::element e, const std::string& p, PlatformLease& out) {
    if (auto pty = optional_field(e, "pty")) {
        auto w = pty_dimension(*pty, "width", p + "/pty", out.pty_width);
        if (!w) return w.status();
        auto h = pty_dimension(*pty, "height", p + "/pty", out.pty_height);
        if (!h) return h.status();
        out.pty_width = *w;
        out.pty_height = *h;
    }
    if (auto strip = optional_field(e, "strip_ansi")) {
        if (strip->get(out.strip_ansi)) return bad(p + "/strip_ansi: must be true or false");
    }
    if (Status s = optional_pattern(e, "prompt", p, out.prompt); !s) return s;
    if (Status s = optional_pattern(e, "pager", p, out.pager); !s) return s;
    if (auto x = optional_field(e, "expect")) {
        auto rules = expect_rules(*x, p + "/expect");
        if (!rules) return rules.status();
        out.expect = std::move(*rules);
    }
    if (auto en = optional_field(e, "enable")) return parse_enable(*en, p + "/enable", out);
    return Status::ok();
}

// The element's "platform" object, when the device has one.
Status parse_platform(dom::element item, const std::string& at, Lease& l) {
    auto e = optional_field(item, "platform");
    if (!e) return Status::ok();
    const std::string p = at + "/platform";
    PlatformLease out;
    auto name = str_field(*e, "name", p);
    if (!name) return name.status();
    out.name = std::move(*name);
    if (auto ch = optional_field(*e, "channel")) {
        auto channel = str(*ch, p + "/channel");
        if (!channel) return channel.status();
        if (*channel != "shell" && *channel != "exec")
            return bad(fmt::format("{}/channel: must be \"shell\" or \"exec\"", p));
        out.exec = *channel == "exec";
    }
    if (Status s = parse_platform_session(*e, p, out); !s) return s;
    for (auto [key, list] :
         {std::pair{"setup", &out.setup}, std::pair{"commands", &out.commands}}) {
        auto f = optional_field(*e, key);
        if (!f) continue;
        auto v = string_array(*f, p + "/" + key);
        if (!v) return v.status();
        *list = std::move(*v);
    }
    l.platform = std::move(out);
    return Status::ok();
}

// The occurrence: its timestamp, and the lease's expiry and attempt.
Status parse_occurrence(dom::element item, const std::string& at, Lease& l) {
    auto timestamp = field(item, "timestamp", at);
    if (!timestamp) return timestamp.status();
    auto ts = integer(*timestamp, at + "/timestamp");
    if (!ts) return ts.status();
    l.timestamp = *ts;
    auto lease = field(item, "lease", at);
    if (!lease) return lease.status();
    auto expires = field(*lease, "expires", at + "/lease");
    if (!expires) return expires.status();
    auto exp = integer(*expires, at + "/lease/expires");
    if (!exp) return exp.status();
    l.expires = *exp;
    if (auto a = optional_field(*lease, "attempt")) {
        auto attempt = integer(*a, at + "/lease/attempt");
        if (!attempt) return attempt.status();
        l.attempt = *attempt;
    }
    return Status::ok();
}

Result<Lease> parse_one(dom::element item, const std::string& at) {
    Lease l;
    if (Status s = parse_device(item, at, l); !s) return s;
    if (Status s = parse_job(item, at, l); !s) return s;
    if (Status s = parse_platform(item, at, l); !s) return s;
    if (Status s = parse_occurrence(item, at, l); !s) return s;
    return l;
}

}  // namespace

Result<std::vector<Lease>> parse_leases(std::string_view body) {
    dom::parser parser;
    dom::element doc;
    if (auto err = parser.parse(body.data(), body.size()).get(doc))
        return Status::corruption(fmt::format("not valid JSON: {}", simdjson::error_message(err)));
    dom::array items;
    if (doc.get(items)) return Status::corruption("/: must be an array");
    std::vector<Lease> out;
    std::size_t i = 0;
    for (dom::element item : items) {
        auto lease = parse_one(item, fmt::format("/{}", i++));
        if (!lease) return lease.status();
        out.push_back(std::move(*lease));
    }
    return out;
}

}  // namespace netkeep::worker
