// Parsing /worker/next answers with simdjson. The inventory part is otherwise the only
// one that includes simdjson; the worker needs a JSON parser too and uses the same one
// (the project's single JSON reader) rather than adding another.
#include "worker/lease.hpp"

#include <fmt/format.h>
#include <simdjson.h>

namespace netkeep::worker {

namespace {

namespace dom = simdjson::dom;

struct Bad {
    std::string what;
};

dom::element field(dom::element obj, std::string_view name, std::string_view path) {
    dom::element e;
    if (obj[name].get(e)) throw Bad{fmt::format("{}: missing field '{}'", path, name)};
    return e;
}

std::string str(dom::element e, std::string_view path) {
    std::string_view s;
    if (e.get(s)) throw Bad{fmt::format("{}: must be a string", path)};
    return std::string(s);
}

std::int64_t integer(dom::element e, std::string_view path) {
    std::int64_t v = 0;
    if (e.get(v)) throw Bad{fmt::format("{}: must be an integer", path)};
    return v;
}

std::optional<dom::element> optional_field(dom::element obj, std::string_view name) {
    dom::element e;
    if (obj[name].get(e)) return std::nullopt;
    return e;
}

std::optional<PatternSpec> pattern(dom::element obj, std::string_view name,
                                   const std::string& path) {
    auto e = optional_field(obj, name);
    if (!e) return std::nullopt;
    const std::string p = path + "/" + std::string(name);
    if (auto t = optional_field(*e, "ends_with"))
        return PatternSpec{PatternSpec::Kind::ends_with, str(*t, p + "/ends_with")};
    if (auto t = optional_field(*e, "regex"))
        return PatternSpec{PatternSpec::Kind::regex, str(*t, p + "/regex")};
    throw Bad{fmt::format("{}: must have 'ends_with' or 'regex'", p)};
}

// The server sends an array of "TYPE BASE64"; a single line is taken too.
std::vector<HostKey> host_keys(dom::element e, const std::string& path) {
    std::vector<std::pair<dom::element, std::string>> lines;
    dom::array arr;
    if (e.is_string()) {
        lines.emplace_back(e, path);
    } else if (!e.get(arr)) {
        std::size_t i = 0;
        for (dom::element item : arr) lines.emplace_back(item, fmt::format("{}/{}", path, i++));
    } else {
        throw Bad{path + ": must be a string or an array of strings"};
    }
    std::vector<HostKey> out;
    for (const auto& [item, at] : lines) {
        auto key = parse_host_key_line(str(item, at));
        if (!key) throw Bad{fmt::format("{}: {}", at, key.status().message())};
        out.push_back(std::move(key.value()));
    }
    // An empty list would silently mean "no pin": the server never sends one.
    if (out.empty()) throw Bad{path + ": must list at least one key"};
    return out;
}

Lease parse_one(dom::element item, const std::string& at) {
    Lease l;
    const std::string d = at + "/device";
    dom::element device = field(item, "device", at);
    l.device = str(field(device, "name", d), d + "/name");
    l.host = str(field(device, "host", d), d + "/host");
    dom::element protocol = field(device, "protocol", d);
    l.protocol = str(field(protocol, "type", d + "/protocol"), d + "/protocol/type");
    if (auto section = optional_field(protocol, l.protocol)) {
        if (auto port = optional_field(*section, "port")) {
            auto v = integer(*port, d + "/protocol/" + l.protocol + "/port");
            if (v < 1 || v > 65535)
                throw Bad{fmt::format("{}/protocol: port {} out of range", d, v)};
            l.port = std::uint16_t(v);
        }
        if (auto keys = optional_field(*section, "host_key"); keys && l.protocol == "ssh")
            l.host_keys = host_keys(*keys, d + "/protocol/ssh/host_key");
    } else {
        l.port = l.protocol == "telnet" ? 23 : 22;
    }
    const std::string c = d + "/credentials";
    dom::element creds = field(device, "credentials", d);
    l.credentials.user = str(field(creds, "user", c), c + "/user");
    if (auto p = optional_field(creds, "pass")) l.credentials.pass = str(*p, c + "/pass");
    if (auto k = optional_field(creds, "key")) l.credentials.key = str(*k, c + "/key");
    l.credentials.prompt = pattern(creds, "prompt", c);

    const std::string j = at + "/job";
    dom::element job = field(item, "job", at);
    l.job = str(field(job, "name", j), j + "/name");
    dom::array inline_commands;
    if (field(field(job, "command", j), "inline", j + "/command").get(inline_commands))
        throw Bad{j + "/command/inline: must be an array"};
    for (dom::element cmd : inline_commands) l.commands.push_back(str(cmd, j + "/command/inline"));
    if (l.commands.empty()) throw Bad{j + "/command/inline: no command"};
    l.prompt = pattern(job, "prompt", j);
    l.pager = pattern(job, "pager", j);
    if (auto t = optional_field(job, "timeout")) l.timeout = integer(*t, j + "/timeout");
    if (l.timeout < 1) l.timeout = 1;

    l.timestamp = integer(field(item, "timestamp", at), at + "/timestamp");
    dom::element lease = field(item, "lease", at);
    l.expires = integer(field(lease, "expires", at + "/lease"), at + "/lease/expires");
    if (auto a = optional_field(lease, "attempt")) l.attempt = integer(*a, at + "/lease/attempt");
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
    try {
        for (dom::element item : items) out.push_back(parse_one(item, fmt::format("/{}", i++)));
    } catch (const Bad& bad) {
        return Status::corruption(bad.what);
    }
    return out;
}

}  // namespace netkeep::worker
