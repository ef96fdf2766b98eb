// netkeepctl platforms [NAME]: the built-in platform definitions (docs/platforms.md), so
// an operator can see what a device's "platform" brings and copy one to adapt it.

#include <string>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"
#include "netkeep/json.hpp"
#include "netkeep/platform.hpp"

namespace netkeep::ctl {

namespace {

// What the list shows of one definition. Read leniently: the loader's unit tests check
// the definitions; a field that is missing shows as "-".
struct platform_summary {
    std::string description = "-";
    std::string channel = "-";
    std::vector<std::string> sets;
};

platform_summary summarize(const BuiltinPlatform& p) {
    platform_summary out;
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(p.json.data(), p.json.size()).get_object().get(root)) return out;
    std::string_view text;
    if (!root["description"].get_string().get(text)) out.description = std::string(text);
    if (!root["channel"].get_string().get(text)) out.channel = std::string(text);
    simdjson::dom::object sets;
    if (!root["commands"].get_object().get(sets))
        for (auto [set, commands] : sets) {
            (void)commands;
            out.sets.emplace_back(set);
        }
    return out;
}

std::string names() {
    std::string out;
    for (const BuiltinPlatform& p : builtin_platforms())
        out += (out.empty() ? "" : ", ") + std::string(p.name);
    return out;
}

std::string list_text() {
    std::vector<std::vector<std::string>> rows{{"NAME", "CHANNEL", "COMMAND SETS", "DESCRIPTION"}};
    for (const BuiltinPlatform& p : builtin_platforms()) {
        platform_summary s = summarize(p);
        rows.push_back({std::string(p.name), s.channel, fmt::format("{}", fmt::join(s.sets, ",")),
                        s.description});
    }
    return format_table(rows);
}

std::string list_json() {
    std::string out = "[";
    for (const BuiltinPlatform& p : builtin_platforms()) {
        platform_summary s = summarize(p);
        if (out.size() > 1) out += ',';
        out += fmt::format(R"({{"name":{},"description":{},"channel":{},"command_sets":[)",
                           json_quote(p.name), json_quote(s.description), json_quote(s.channel));
        for (std::size_t i = 0; i < s.sets.size(); ++i)
            out += (i ? "," : "") + json_quote(s.sets[i]);
        out += "]}";
    }
    return out + "]\n";
}

}  // namespace

int run_platforms(const Options& o, Io io) {
    if (o.path.empty()) {
        std::string text = o.json ? list_json() : list_text();
        std::fwrite(text.data(), 1, text.size(), io.out);
        return 0;
    }
    const BuiltinPlatform* p = find_builtin_platform(o.path);
    if (!p)
        return fail(o, io,
                    fmt::format("unknown platform '{}' (built-in platforms: {})",
                                json_escape(o.path), names()),
                    2);
    // As embedded, byte for byte: it is JSON already (--json or not), ready to copy.
    std::fwrite(p->json.data(), 1, p->json.size(), io.out);
    if (!p->json.empty() && p->json.back() != '\n') std::fputc('\n', io.out);
    return 0;
}

}  // namespace netkeep::ctl
