#include "ctl/args.hpp"

#include <charconv>
#include <span>

#include <fmt/format.h>

#include "ctl/time.hpp"
#include "util/args.hpp"

namespace netkeep::ctl {

namespace {

using args::Kind;
using args::quoted;
using args::Rule;
using Words = std::vector<std::string_view>;

Status usage(std::string msg) { return Status::invalid_argument(std::move(msg)); }

Result<std::uint64_t> seq_value(std::string_view option, std::string_view v) {
    auto seq = parse_seq(v);
    if (!seq) return usage(fmt::format("{}: {} is not a sequence number", option, quoted(v)));
    return *seq;
}

Status set_type(Options& o, std::string_view v) {
    auto t = event_type_from_name(v);
    if (!t)
        return usage(fmt::format(
            "--type: unknown event type {} (e.g. LeaseGranted, CompletionRecorded)", quoted(v)));
    o.filter.types.push_back(*t);
    return Status::ok();
}

Status set_at(Options& o, std::string_view v) {
    if (auto seq = parse_seq(v)) {
        o.at.seq = *seq;
        return Status::ok();
    }
    auto t = parse_time(v);
    if (!t)
        return usage(
            fmt::format("--at: neither a sequence number nor a time: {}", t.status().message()));
    o.at.time = *t;
    return Status::ok();
}

// A string option as the captureless function a Rule holds.
template <auto field>
Status set_text(Options& o, std::string_view v) {
    o.*field = std::string(v);
    return Status::ok();
}

template <auto field>
Status add_text(Options& o, std::string_view v) {
    (o.*field).emplace_back(v);
    return Status::ok();
}

// Taken before or after any command.
constexpr Rule<Options> k_global_rules[] = {
    {{"data-dir", Kind::value, "DIR", "the data directory (default ./var, as for netkeepd)"},
     set_text<&Options::data_dir>},
    {{"json", Kind::flag, "", "JSON instead of text"},
     [](Options& o, std::string_view) {
         o.json = true;
         return Status::ok();
     }},
};

constexpr Rule<Options> k_log_rules[] = {
    {{"from", Kind::value, "SEQ", "first sequence number (default 1)"},
     [](Options& o, std::string_view v) -> Status {
         auto seq = seq_value("--from", v);
         if (!seq) return seq.status();
         o.filter.from = *seq;
         return Status::ok();
     }},
    {{"to", Kind::value, "SEQ", "last sequence number"},
     [](Options& o, std::string_view v) -> Status {
         auto seq = seq_value("--to", v);
         if (!seq) return seq.status();
         o.filter.to = *seq;
         return Status::ok();
     }},
    {{"since", Kind::value, "TIME", "events at or after TIME"},
     [](Options& o, std::string_view v) -> Status {
         auto t = parse_time(v);
         if (!t) return usage(fmt::format("--since: {}", t.status().message()));
         o.filter.since = *t;
         return Status::ok();
     }},
    {{"device", Kind::repeated, "D", "events of device D; repeatable"},
     [](Options& o, std::string_view v) {
         o.filter.devices.emplace_back(v);
         return Status::ok();
     }},
    {{"job", Kind::repeated, "J", "events of job J; repeatable"},
     [](Options& o, std::string_view v) {
         o.filter.jobs.emplace_back(v);
         return Status::ok();
     }},
    {{"type", Kind::repeated, "T", "events of type T (e.g. LeaseGranted); repeatable"}, set_type},
    {{"follow", Kind::flag, "", "then wait for new events until interrupted"},
     [](Options& o, std::string_view) {
         o.follow = true;
         return Status::ok();
     }},
    {{"archive", Kind::flag, "", "from the archive too: events retention moved out of the log"},
     [](Options& o, std::string_view) {
         o.archive = true;
         return Status::ok();
     }},
};

constexpr Rule<Options> k_state_rules[] = {
    {{"at", Kind::value, "SEQ|TIME", "the state after that event (default: the last)"}, set_at},
};

constexpr Rule<Options> k_token_rules[] = {
    {{"auth", Kind::value, "FILE", "the token file (netkeepd --auth FILE)"},
     set_text<&Options::auth_file>},
    {{"name", Kind::value, "NAME", "the token's name"}, set_text<&Options::token_name>},
    {{"role", Kind::value, "ROLE", "worker, read or admin"}, set_text<&Options::token_role>},
    {{"tag", Kind::repeated, "TAG", "a worker token's device tag; repeatable ('*': all)"},
     add_text<&Options::token_tags>},
};

template <auto field>
Status set_netbox(Options& o, std::string_view v) {
    o.netbox.*field = std::string(v);
    return Status::ok();
}

Status set_watch(Options& o, std::string_view v) {
    std::uint32_t seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || end != v.data() + v.size() || seconds < 1 || seconds > 86400)
        return usage(
            fmt::format("--watch: {} is not a number of seconds from 1 to 86400", quoted(v)));
    o.netbox.watch = seconds;
    return Status::ok();
}

Status set_netbox_timeout(Options& o, std::string_view v) {
    std::uint32_t seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || end != v.data() + v.size() || seconds < 1 || seconds > 600)
        return usage(
            fmt::format("--timeout: {} is not a number of seconds from 1 to 600", quoted(v)));
    o.netbox.timeout = seconds;
    return Status::ok();
}

constexpr Rule<Options> k_netbox_rules[] = {
    {{"url", Kind::value, "URL", "NetBox's address (https://netbox.example.net)"},
     set_netbox<&NetboxOptions::url>},
    {{"token-file", Kind::value, "FILE", "the NetBox API token (v1, or v2 nbt_...)"},
     set_netbox<&NetboxOptions::token_file>},
    {{"filter", Kind::value, "QUERY", "NetBox filters passed through (site=dal1&tag=backup)"},
     set_netbox<&NetboxOptions::filter>},
    {{"map", Kind::value, "FILE", "the mapping file (docs/netbox.md)"},
     set_netbox<&NetboxOptions::map_file>},
    {{"out", Kind::value, "DIR", "the inventory directory: its devices.json is replaced"},
     set_netbox<&NetboxOptions::out_dir>},
    {{"watch", Kind::value, "SECONDS", "run again every SECONDS until interrupted"}, set_watch},
    {{"timeout", Kind::value, "SECONDS", "the most one NetBox request may take (default 60)"},
     set_netbox_timeout},
    {{"reload", Kind::value, "URL", "netkeepd's URL: POST /admin/reload after a change"},
     set_netbox<&NetboxOptions::reload_url>},
    {{"reload-token-file", Kind::value, "FILE", "an admin token for --reload"},
     set_netbox<&NetboxOptions::reload_token_file>},
    {{"reload-command", Kind::value, "CMD", "run CMD (/bin/sh -c) after a change instead"},
     set_netbox<&NetboxOptions::reload_command>},
    {{"ca-file", Kind::value, "FILE", "trust these CA certificates (PEM) for https:// URLs"},
     set_netbox<&NetboxOptions::ca_file>},
};

// Which command each group of options belongs to ("" for the global ones).
struct Group {
    std::string_view command;
    std::string_view heading;  // in the usage
    std::span<const Rule<Options>> rules;
};

constexpr Group k_groups[] = {
    {"", "options", k_global_rules},
    {"log", "log", k_log_rules},
    {"state", "state", k_state_rules},
    {"token", "token add|list|revoke", k_token_rules},
    {"inventory", "inventory netbox", k_netbox_rules},
};

std::vector<Rule<Options>> all_rules() {
    std::vector<Rule<Options>> rules;
    for (const Group& g : k_groups) rules.insert(rules.end(), g.rules.begin(), g.rules.end());
    return rules;
}

const Group& group_of(std::string_view option) {
    for (const Group& g : k_groups) {
        for (const auto& rule : g.rules) {
            if (rule.option.name == option) return g;
        }
    }
    return k_groups[0];
}

// So a typo does not silently change nothing: an option of another command is refused.
Status check_options_belong(const args::Parsed& parsed, std::string_view command) {
    for (const args::Match& m : parsed.options) {
        const Group& g = group_of(m.name);
        if (g.command.empty() || g.command == command) continue;
        return usage(fmt::format("--{} belongs to {}, not {}", m.name,
                                 g.command == "token" ? "the token commands" : g.command, command));
    }
    return Status::ok();
}

// Exactly `n` positional arguments after `command` (what: the name of the missing one).
Status expect_words(std::string_view command, const Words& words, std::size_t n,
                    std::string_view what) {
    if (words.size() < n) return usage(fmt::format("{}: missing {}", command, what));
    if (words.size() > n)
        return usage(fmt::format("{}: unexpected argument {}", command, quoted(words[n])));
    return Status::ok();
}

Status finish_log(Options& o, const Words& words) {
    o.command = Command::log;
    if (Status s = expect_words("log", words, 0, ""); !s) return s;
    if (o.filter.to && *o.filter.to < o.filter.from) return usage("--to is before --from");
    return Status::ok();
}

Status finish_state(Options& o, const Words& words) {
    o.command = Command::state;
    return expect_words("state", words, 0, "");
}

Status finish_verify(Options& o, const Words& words) {
    o.command = Command::verify;
    return expect_words("verify", words, 0, "");
}

Status finish_backup(Options& o, const Words& words) {
    o.command = Command::backup;
    if (Status s = expect_words("backup", words, 1, "DEST"); !s) return s;
    o.path = std::string(words[0]);
    return Status::ok();
}

Status finish_scrub_secrets(Options& o, const Words& words) {
    o.command = Command::scrub_secrets;
    return expect_words("scrub-secrets", words, 0, "");
}

Status finish_inventory_netbox(Options& o, const Words& rest) {
    o.command = Command::inventory_netbox;
    if (Status s = expect_words("inventory netbox", rest, 0, ""); !s) return s;
    const NetboxOptions& n = o.netbox;
    if (n.url.empty()) return usage("inventory netbox: --url is required");
    if (n.token_file.empty()) return usage("inventory netbox: --token-file is required");
    if (n.out_dir.empty()) return usage("inventory netbox: --out DIR is required");
    if (!n.reload_url.empty() && !n.reload_command.empty())
        return usage("inventory netbox: --reload or --reload-command, not both");
    if (!n.reload_token_file.empty() && n.reload_url.empty())
        return usage("inventory netbox: --reload-token-file goes with --reload");
    return Status::ok();
}

Status finish_inventory(Options& o, const Words& words) {
    const Words rest(words.begin() + std::min<std::size_t>(1, words.size()), words.end());
    if (!words.empty() && words[0] == "netbox") return finish_inventory_netbox(o, rest);
    if (words.empty() || words[0] != "check")
        return usage("inventory: 'inventory check DIR' or 'inventory netbox ...'");
    if (!o.netbox.url.empty() || !o.netbox.token_file.empty() || !o.netbox.out_dir.empty() ||
        !o.netbox.filter.empty() || !o.netbox.map_file.empty() || o.netbox.watch != 0 ||
        !o.netbox.reload_url.empty() || !o.netbox.reload_token_file.empty() ||
        !o.netbox.reload_command.empty() || !o.netbox.ca_file.empty() || o.netbox.timeout != 60)
        return usage("inventory check takes only DIR (the other options are inventory netbox's)");
    if (Status s = expect_words("inventory check", rest, 1, "DIR"); !s) return s;
    o.command = Command::inventory_check;
    o.path = std::string(rest[0]);
    return Status::ok();
}

Status check_token_add(const Options& o) {
    if (o.token_name.empty()) return usage("token add: --name is required");
    if (o.token_role.empty()) return usage("token add: --role is required (worker, read or admin)");
    if (o.token_role == "worker" && o.token_tags.empty())
        return usage("token add: a worker token needs --tag (repeatable; --tag '*' for every tag)");
    if (o.token_role != "worker" && !o.token_tags.empty())
        return usage("token add: only worker tokens take --tag");
    return Status::ok();
}

Status finish_token(Options& o, const Words& words) {
    if (words.empty()) return usage("token: add, list or revoke");
    const std::string_view sub = words[0];
    if (sub != "add" && sub != "list" && sub != "revoke")
        return usage(fmt::format("token: unknown subcommand {} (add, list, revoke)", quoted(sub)));
    if (Status s = expect_words(fmt::format("token {}", sub), words, 1, ""); !s) return s;
    if (o.auth_file.empty()) return usage(fmt::format("token {}: --auth FILE is required", sub));
    if (sub == "add") {
        o.command = Command::token_add;
        return check_token_add(o);
    }
    if (sub == "list") {
        o.command = Command::token_list;
        if (!o.token_name.empty() || !o.token_role.empty() || !o.token_tags.empty())
            return usage("token list takes only --auth");
        return Status::ok();
    }
    o.command = Command::token_revoke;
    if (o.token_name.empty()) return usage("token revoke: --name is required");
    if (!o.token_role.empty() || !o.token_tags.empty())
        return usage("token revoke takes --auth and --name");
    return Status::ok();
}

Status finish_quarantine(Options& o, const Words& words) {
    if (words.empty()) return usage("quarantine: list or retry SEQ");
    const std::string_view sub = words[0];
    const Words rest(words.begin() + 1, words.end());
    if (sub == "list") {
        o.command = Command::quarantine_list;
        return expect_words("quarantine list", rest, 0, "");
    }
    if (sub != "retry")
        return usage(fmt::format("quarantine: unknown subcommand {} (list, retry)", quoted(sub)));
    if (Status s = expect_words("quarantine retry", rest, 1, "SEQ"); !s) return s;
    const std::string_view text = rest[0];
    std::uint64_t seq = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
    if (ec != std::errc() || end != text.data() + text.size() || seq == 0)
        return usage(fmt::format("quarantine retry: {} is not a sequence number", quoted(text)));
    o.command = Command::quarantine_retry;
    o.seq = seq;
    return Status::ok();
}

Status finish_platforms(Options& o, const Words& words) {
    o.command = Command::platforms;
    if (words.size() > 1)
        return usage(fmt::format("platforms: unexpected argument {}", quoted(words[1])));
    if (!words.empty()) o.path = std::string(words[0]);
    return Status::ok();
}

Status finish_consumers(Options& o, const Words& words) {
    o.command = Command::consumers;
    return expect_words("consumers", words, 0, "");
}

Status finish_help(Options& o, const Words&) {
    o.command = Command::help;
    return Status::ok();
}

// A command: checks its positional arguments and the rules between its options, and
// sets Options::command.
struct CommandSpec {
    std::string_view name;
    Status (*finish)(Options& o, const Words& words);  // the words after the command's name
};

constexpr CommandSpec k_commands[] = {
    {"log", finish_log},
    {"state", finish_state},
    {"verify", finish_verify},
    {"backup", finish_backup},
    {"scrub-secrets", finish_scrub_secrets},
    {"inventory", finish_inventory},
    {"token", finish_token},
    {"quarantine", finish_quarantine},
    {"platforms", finish_platforms},
    {"consumers", finish_consumers},
    {"help", finish_help},
};

}  // namespace

const std::string k_usage = [] {
    std::string text =
        "usage: netkeepctl [--data-dir DIR] [--json] <command>\n"
        "  log [--from SEQ] [--to SEQ] [--since TIME] [--device D] [--job J] [--type T] "
        "[--follow] [--archive]\n"
        "  state [--at SEQ|TIME]\n"
        "  verify\n"
        "  inventory check DIR\n"
        "  inventory netbox --url URL --token-file FILE --out DIR [--filter QUERY] [--map FILE]\n"
        "                   [--watch SECONDS] [--timeout SECONDS] [--reload URL "
        "[--reload-token-file FILE] | "
        "--reload-command CMD]\n"
        "  backup DEST\n"
        "  token add --auth FILE --name NAME --role worker|read|admin [--tag TAG]...\n"
        "  token list --auth FILE\n"
        "  token revoke --auth FILE --name NAME\n"
        "  scrub-secrets            (netkeepd stopped: rewrite old records without literal "
        "passwords)\n"
        "  quarantine list          (events the git writer quarantined)\n"
        "  quarantine retry SEQ     (ask the git writer to apply it again: now, or at netkeepd's "
        "next start)\n"
        "  platforms [NAME]         (the built-in platforms; NAME: its definition, to copy and "
        "adapt)\n"
        "  consumers                (each log consumer's durable cursor and lag: notification "
        "targets, git mirrors)\n"
        "TIME: 2026-11-28T03:00:00Z, 2026-11-28 03:00, 2026-11-28 or @UNIX (UTC unless an offset "
        "is given)\n";
    for (const Group& g : k_groups) {
        text += fmt::format("\n{}:\n", g.heading);
        text += args::help_text<Options>(g.rules, g.command.empty());
    }
    return text;
}();

Result<Options> parse_args(const std::vector<std::string_view>& args) {
    Options o;
    const auto rules = all_rules();
    auto parsed = args::parse_into<Options>(rules, args, o);
    if (!parsed) return parsed.status();
    if (parsed->help) {
        o.command = Command::help;
        return o;
    }
    if (parsed->positional.empty()) return usage("no command given");
    const std::string_view name = parsed->positional[0];
    const Words words(parsed->positional.begin() + 1, parsed->positional.end());
    for (const CommandSpec& command : k_commands) {
        if (command.name != name) continue;
        if (Status s = check_options_belong(*parsed, name); !s) return s;
        if (Status s = command.finish(o, words); !s) return s;
        return o;
    }
    return usage(fmt::format("unknown command {}", quoted(name)));
}

}  // namespace netkeep::ctl
