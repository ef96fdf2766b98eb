#pragma once
// netkeepctl's command line, parsed without touching the disk. Pure: unit-tested.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/event_text.hpp"
#include "netkeep/status.hpp"

namespace netkeep::ctl {

// The commands, then every option (generated from the option tables): for --help and
// after a usage error.
extern const std::string k_usage;

enum class Command {
    help,
    log,
    state,
    verify,
    inventory_check,
    backup,
    token_add,
    token_list,
    token_revoke,
    scrub_secrets,
    quarantine_list,
    quarantine_retry,
    platforms,
    consumers
};

// `state --at`: a sequence number or a time ("the state after the last event at or
// before it").
struct StatePoint {
    std::optional<std::uint64_t> seq;
    std::optional<unix_time> time;
};

struct Options {
    Command command = Command::help;
    std::string data_dir = "var";
    bool json = false;
    LogFilter filter;     // log
    bool follow = false;  // log
    StatePoint at;        // state
    std::string path;     // inventory check DIR, backup DEST, platforms NAME
    // token add|list|revoke
    std::string auth_file;
    std::string token_name;
    std::string token_role;
    std::vector<std::string> token_tags;
    std::uint64_t seq = 0;  // quarantine retry SEQ
};

// args without the program name. Errors are InvalidArgument (exit 2), naming the
// offending argument. The scanner is util/args.hpp's ("--name value" or "--name=value",
// each option once unless repeatable, "--" ends the options). Options may come before or
// after the command, but a command refuses another command's options ("--at belongs to
// state, not log").
Result<Options> parse_args(const std::vector<std::string_view>& args);

}  // namespace netkeep::ctl
