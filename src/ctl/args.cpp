#include "ctl/args.hpp"

#include <charconv>

#include <fmt/format.h>

#include "ctl/time.hpp"

namespace netkeep::ctl {

namespace {

Status usage(std::string msg) { return Status::invalid_argument(std::move(msg)); }

}  // namespace

Result<Options> parse_args(const std::vector<std::string_view>& args) {
    Options o;
    std::vector<std::string_view> words;  // the command and its positional arguments
    bool have_command = false;
    std::string_view command_name;

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "-h" || arg == "--help") {
            o.command = Command::help;
            return o;
        }
        if (!arg.starts_with("--")) {
            if (!have_command) {
                have_command = true;
                command_name = arg;
            } else {
                words.push_back(arg);
            }
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> inline_value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        auto value = [&]() -> Result<std::string_view> {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) return usage(fmt::format("{} needs a value", name));
            return args[++i];
        };
        auto flag = [&]() -> Status {
            if (inline_value) return usage(fmt::format("{} takes no value", name));
            return Status::ok();
        };
        auto seq_value = [&]() -> Result<std::uint64_t> {
            auto v = value();
            if (!v) return v.status();
            auto seq = parse_seq(*v);
            if (!seq) return usage(fmt::format("{}: '{}' is not a sequence number", name, *v));
            return *seq;
        };

        if (name == "--json") {
            if (Status s = flag(); !s) return s;
            o.json = true;
        } else if (name == "--data-dir") {
            auto v = value();
            if (!v) return v.status();
            if (v->empty()) return usage("--data-dir must not be empty");
            o.data_dir = std::string(*v);
        } else if (name == "--from") {
            auto v = seq_value();
            if (!v) return v.status();
            o.filter.from = *v;
        } else if (name == "--to") {
            auto v = seq_value();
            if (!v) return v.status();
            o.filter.to = *v;
        } else if (name == "--since") {
            auto v = value();
            if (!v) return v.status();
            auto t = parse_time(*v);
            if (!t) return usage(fmt::format("--since: {}", t.status().message()));
            o.filter.since = *t;
        } else if (name == "--device") {
            auto v = value();
            if (!v) return v.status();
            o.filter.devices.emplace_back(*v);
        } else if (name == "--job") {
            auto v = value();
            if (!v) return v.status();
            o.filter.jobs.emplace_back(*v);
        } else if (name == "--type") {
            auto v = value();
            if (!v) return v.status();
            auto t = event_type_from_name(*v);
            if (!t)
                return usage(fmt::format(
                    "--type: unknown event type '{}' (e.g. LeaseGranted, CompletionRecorded)", *v));
            o.filter.types.push_back(*t);
        } else if (name == "--auth" || name == "--name" || name == "--role" || name == "--tag") {
            auto v = value();
            if (!v) return v.status();
            if (v->empty()) return usage(fmt::format("{} must not be empty", name));
            if (name == "--auth")
                o.auth_file = std::string(*v);
            else if (name == "--name")
                o.token_name = std::string(*v);
            else if (name == "--role")
                o.token_role = std::string(*v);
            else
                o.token_tags.emplace_back(*v);
        } else if (name == "--follow") {
            if (Status s = flag(); !s) return s;
            o.follow = true;
        } else if (name == "--at") {
            auto v = value();
            if (!v) return v.status();
            if (auto seq = parse_seq(*v)) {
                o.at.seq = *seq;
            } else {
                auto t = parse_time(*v);
                if (!t)
                    return usage(fmt::format("--at: neither a sequence number nor a time: {}",
                                             t.status().message()));
                o.at.time = *t;
            }
        } else {
            return usage(fmt::format("unknown option {}", name));
        }
    }

    if (!have_command) return usage("no command given");
    // Options that belong to one command are refused elsewhere, so a typo does not
    // silently change nothing.
    const bool log_options = o.follow || o.filter.from != 1 || o.filter.to || o.filter.since ||
                             !o.filter.devices.empty() || !o.filter.jobs.empty() ||
                             !o.filter.types.empty();
    const bool state_options = o.at.seq || o.at.time;
    const bool token_options = !o.auth_file.empty() || !o.token_name.empty() ||
                               !o.token_role.empty() || !o.token_tags.empty();
    if (token_options && command_name != "token")
        return usage("--auth, --name, --role and --tag belong to the token commands");
    auto positional = [&](std::size_t n, std::string_view what) -> Status {
        if (words.size() < n) return usage(fmt::format("{}: missing {}", command_name, what));
        if (words.size() > n)
            return usage(fmt::format("{}: unexpected argument '{}'", command_name, words[n]));
        return Status::ok();
    };

    if (command_name == "log") {
        o.command = Command::log;
        if (Status s = positional(0, ""); !s) return s;
        if (state_options) return usage("--at belongs to state, not log");
        if (o.filter.to && *o.filter.to < o.filter.from) return usage("--to is before --from");
    } else if (command_name == "state") {
        o.command = Command::state;
        if (Status s = positional(0, ""); !s) return s;
        if (log_options) return usage("state takes only --at");
    } else if (command_name == "verify" || command_name == "backup") {
        o.command = command_name == "verify" ? Command::verify : Command::backup;
        if (Status s = positional(command_name == "backup" ? 1 : 0, "DEST"); !s) return s;
        if (log_options || state_options)
            return usage(fmt::format("{} takes no log or state options", command_name));
        if (!words.empty()) o.path = std::string(words[0]);
    } else if (command_name == "scrub-secrets") {
        o.command = Command::scrub_secrets;
        if (Status s = positional(0, ""); !s) return s;
        if (log_options || state_options)
            return usage("scrub-secrets takes no log or state options");
    } else if (command_name == "inventory") {
        if (words.empty() || words[0] != "check")
            return usage("inventory: the only subcommand is 'inventory check DIR'");
        words.erase(words.begin());
        command_name = "inventory check";
        if (Status s = positional(1, "DIR"); !s) return s;
        if (log_options || state_options) return usage("inventory check takes only DIR");
        o.command = Command::inventory_check;
        o.path = std::string(words[0]);
    } else if (command_name == "token") {
        if (words.empty()) return usage("token: add, list or revoke");
        std::string_view sub = words[0];
        words.erase(words.begin());
        if (log_options || state_options)
            return usage("token commands take no log or state options");
        if (!words.empty())
            return usage(fmt::format("token {}: unexpected argument '{}'", sub, words[0]));
        if (o.auth_file.empty())
            return usage(fmt::format("token {}: --auth FILE is required", sub));
        if (sub == "add") {
            o.command = Command::token_add;
            if (o.token_name.empty()) return usage("token add: --name is required");
            if (o.token_role.empty())
                return usage("token add: --role is required (worker, read or admin)");
            if (o.token_role == "worker" && o.token_tags.empty())
                return usage(
                    "token add: a worker token needs --tag (repeatable; --tag '*' for every tag)");
            if (o.token_role != "worker" && !o.token_tags.empty())
                return usage("token add: only worker tokens take --tag");
        } else if (sub == "list") {
            o.command = Command::token_list;
            if (!o.token_name.empty() || !o.token_role.empty() || !o.token_tags.empty())
                return usage("token list takes only --auth");
        } else if (sub == "revoke") {
            o.command = Command::token_revoke;
            if (o.token_name.empty()) return usage("token revoke: --name is required");
            if (!o.token_role.empty() || !o.token_tags.empty())
                return usage("token revoke takes --auth and --name");
        } else {
            return usage(fmt::format("token: unknown subcommand '{}' (add, list, revoke)", sub));
        }
    } else if (command_name == "quarantine") {
        if (words.empty()) return usage("quarantine: list or retry SEQ");
        std::string_view sub = words[0];
        words.erase(words.begin());
        if (log_options || state_options)
            return usage("quarantine commands take no log or state options");
        if (sub == "list") {
            command_name = "quarantine list";
            if (Status s = positional(0, ""); !s) return s;
            o.command = Command::quarantine_list;
        } else if (sub == "retry") {
            command_name = "quarantine retry";
            if (Status s = positional(1, "SEQ"); !s) return s;
            std::uint64_t seq = 0;
            auto [end, ec] =
                std::from_chars(words[0].data(), words[0].data() + words[0].size(), seq);
            if (ec != std::errc() || end != words[0].data() + words[0].size() || seq == 0)
                return usage(
                    fmt::format("quarantine retry: '{}' is not a sequence number", words[0]));
            o.command = Command::quarantine_retry;
            o.seq = seq;
        } else {
            return usage(fmt::format("quarantine: unknown subcommand '{}' (list, retry)", sub));
        }
    } else if (command_name == "help") {
        o.command = Command::help;
    } else {
        return usage(fmt::format("unknown command '{}'", command_name));
    }
    return o;
}

}  // namespace netkeep::ctl
