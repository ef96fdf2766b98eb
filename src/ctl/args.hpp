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
    inventory_netbox,
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

// inventory netbox (docs/netbox.md).
struct NetboxOptions {
    std::string url;
    std::string token_file;
    std::string filter;
    std::string map_file;
    std::string out_dir;
    std::uint32_t watch = 0;     // seconds between runs; 0: run once
    std::uint32_t timeout = 60;  // seconds one NetBox request may take
    std::string reload_url;      // netkeepd's URL: POST <url>/admin/reload after a change
    std::string reload_token_file;
    std::string reload_command;  // or run this (/bin/sh -c) after a change
    std::string ca_file;         // for https:// NetBox and netkeepd URLs
};

struct Options {
    Command command = Command::help;
    std::string data_dir = "var";
    bool json = false;
    LogFilter filter;      // log
    bool follow = false;   // log
    bool archive = false;  // log: also the archived history (<data-dir>/archive)
    StatePoint at;         // state
    std::string path;      // inventory check DIR, backup DEST, platforms NAME
    // token add|list|revoke
    std::string auth_file;
    std::string token_name;
    std::string token_role;
    std::vector<std::string> token_tags;
    std::uint64_t seq = 0;  // quarantine retry SEQ
    NetboxOptions netbox;   // inventory netbox
};

// args without the program name. Errors are InvalidArgument (exit 2), naming the
// offending argument. The scanner is util/args.hpp's ("--name value" or "--name=value",
// each option once unless repeatable, "--" ends the options). Options may come before or
// after the command, but a command refuses another command's options ("--at belongs to
// state, not log").
Result<Options> parse_args(const std::vector<std::string_view>& args);

}  // namespace netkeep::ctl
