#pragma once
// netkeepctl's command line, parsed without touching the disk. Pure: unit-tested.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/event_text.hpp"
#include "netkeep/status.hpp"

namespace netkeep::ctl {

inline constexpr std::string_view k_usage =
    "usage: netkeepctl [--data-dir DIR] [--json] <command>\n"
    "  log [--from SEQ] [--to SEQ] [--since TIME] [--device D] [--job J] [--type T] [--follow]\n"
    "  state [--at SEQ|TIME]\n"
    "  verify\n"
    "  inventory check DIR\n"
    "  backup DEST\n"
    "  token add --auth FILE --name NAME --role worker|read|admin [--tag TAG]...\n"
    "  token list --auth FILE\n"
    "  token revoke --auth FILE --name NAME\n"
    "  scrub-secrets            (netkeepd stopped: rewrite old records without literal passwords)\n"
    "  quarantine list          (events the git writer quarantined)\n"
    "  quarantine retry SEQ     (ask the git writer to apply it again: now, or at netkeepd's next "
    "start)\n"
    "TIME: 2026-11-28T03:00:00Z, 2026-11-28 03:00, 2026-11-28 or @UNIX (UTC unless an offset is "
    "given)\n"
    "--data-dir defaults to ./var, as for netkeepd.\n";

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
    quarantine_retry
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
    std::string path;     // inventory check DIR, backup DEST
    // token add|list|revoke
    std::string auth_file;
    std::string token_name;
    std::string token_role;
    std::vector<std::string> token_tags;
    std::uint64_t seq = 0;  // quarantine retry SEQ
};

// args without the program name. Errors are InvalidArgument (exit 2), naming the
// offending argument. Options take "--name value" or "--name=value"; --data-dir and
// --json may come before or after the command.
Result<Options> parse_args(const std::vector<std::string_view>& args);

}  // namespace netkeep::ctl
