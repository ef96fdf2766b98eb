#include "ctl/ctl.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "ctl/state_view.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/event_json.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/json.hpp"
#include "netkeep/projection.hpp"
#include "notify/config.hpp"

namespace netkeep::ctl {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

void write(std::FILE* f, std::string_view text) { std::fwrite(text.data(), 1, text.size(), f); }

Result<std::unique_ptr<EventLog>> open_reader(const Options& o) {
    return open_event_log_reader(log_dir(o));
}

}  // namespace

std::string log_dir(const Options& o) { return o.data_dir + "/log"; }
std::string repo_dir(const Options& o) { return o.data_dir + "/repo.git"; }
std::string spool_dir(const Options& o) { return o.data_dir + "/spool"; }

int fail(const Options& o, Io io, std::string_view message, int code) {
    fmt::print(io.err, "netkeepctl: {}\n", message);
    if (o.json) fmt::print(io.out, "{{\"error\":{}}}\n", json_quote(message));
    return code;
}

int run_log(const Options& o, Io io) {
    auto log = open_reader(o);
    if (!log) return fail(o, io, log.status().to_string());
    const LogFilter& f = o.filter;
    std::uint64_t next = f.from;
    auto print = [&](EventRecord&& r) {
        if (matches(f, r)) {
            std::string line = o.json ? event_json(r) : format_event_text(r);
            line += '\n';
            write(io.out, line);
        }
        next = r.seq + 1;
        return true;
    };
    auto to = [&] { return f.to ? std::min(*f.to, (*log)->last_seq()) : (*log)->last_seq(); };
    // Below first_seq (retention, docs/retention.md) only the archive has the whole story;
    // without --archive the log starts at first_seq (its pinned records are not shown).
    Status listed = Status::ok();
    if (o.archive) {
        const std::string archive_dir = (std::filesystem::path(o.data_dir) / "archive").string();
        listed = scan_with_archive(**log, archive_dir, next, to(), print);
    } else {
        next = std::max(next, (*log)->first_seq());
        listed = (*log)->scan(next, to(), print);
    }
    if (!listed) return fail(o, io, listed.to_string());
    if (!o.follow) return 0;

    // Follow until --to is reached or a signal: SIGINT/SIGTERM end it with exit 0.
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::fflush(io.out);
    while (!g_stop && !(f.to && next > *f.to)) {
        (*log)->wait_for(next - 1, std::chrono::milliseconds(500));
        if (Status s = (*log)->scan(next, to(), print); !s) return fail(o, io, s.to_string());
        std::fflush(io.out);
    }
    return 0;
}

int run_state(const Options& o, Io io) {
    auto log = open_reader(o);
    if (!log) return fail(o, io, log.status().to_string());
    const std::uint64_t last = (*log)->last_seq();
    std::uint64_t through = last;
    if (o.at.seq) {
        if (*o.at.seq > last)
            return fail(o, io, fmt::format("--at {}: the log ends at seq {}", *o.at.seq, last));
        through = *o.at.seq;
    } else if (o.at.time) {
        // The prefix of the log up to the last event at or before the time: the state as
        // it was then. (Events are appended in time order; a clock stepped back would
        // make a later event look earlier, and the prefix stops at the first one after.)
        through = 0;
        Status s = (*log)->scan(1, last, [&](EventRecord&& r) {
            if (event_at(r.event) > *o.at.time) return false;
            through = r.seq;
            return true;
        });
        if (!s) return fail(o, io, s.to_string());
    }
    Projection p;
    if (Status s = replay(**log, through, p); !s) return fail(o, io, s.to_string());
    std::optional<unix_time> at_time;
    if (through > 0) {
        Status s = (*log)->scan(through, through, [&](EventRecord&& r) {
            at_time = event_at(r.event);
            return false;
        });
        if (!s) return fail(o, io, s.to_string());
    }
    write(io.out, o.json ? format_state_json(p, at_time) + "\n" : format_state_text(p, at_time));
    return 0;
}

int run_inventory_check(const Options& o, Io io) {
    // Exactly what netkeepd does at start and on reload: read both files, validate and
    // expand with secrets resolved (relative {"file": ...} secrets from DIR).
    auto files = read_inventory_files(o.path);
    if (!files) return fail(o, io, files.status().message());
    InventoryLoadOptions options;
    options.resolve_secrets = true;
    options.secrets_dir = o.path;
    auto inventory = parse_inventory(*files, options);
    if (!inventory) return fail(o, io, inventory.status().message());
    // netkeepd refuses a reload whose notify.json does not load (docs/notifications.md).
    auto notify = notify::load_notify_config(o.path);
    if (!notify) return fail(o, io, notify.status().message());
    write(io.out, o.json ? format_inventory_json(*inventory, o.path) + "\n"
                         : format_inventory_text(*inventory, o.path));
    if (*notify && !o.json)
        fmt::print(io.out, "notify.json: {} targets, {} rules\n", (*notify)->targets.size(),
                   (*notify)->rules.size());
    return 0;
}

int run(const std::vector<std::string_view>& args, std::FILE* out, std::FILE* err) {
    auto options = parse_args(args);
    if (!options) {
        fmt::print(err, "netkeepctl: {}\n{}", options.status().message(), k_usage);
        return 2;
    }
    Io io{out, err};
    switch (options->command) {
        case Command::help:
            write(out, k_usage);
            return 0;
        case Command::log:
            return run_log(*options, io);
        case Command::state:
            return run_state(*options, io);
        case Command::verify:
            return run_verify(*options, io);
        case Command::inventory_check:
            return run_inventory_check(*options, io);
        case Command::inventory_netbox:
            return run_inventory_netbox(*options, io);
        case Command::backup:
            return run_backup(*options, io);
        case Command::token_add:
        case Command::token_list:
        case Command::token_revoke:
            return run_token(*options, io);
        case Command::scrub_secrets:
            return run_scrub_secrets(*options, io);
        case Command::quarantine_list:
        case Command::quarantine_retry:
            return run_quarantine(*options, io);
        case Command::platforms:
            return run_platforms(*options, io);
        case Command::consumers:
            return run_consumers(*options, io);
    }
    return 2;
}

}  // namespace netkeep::ctl
