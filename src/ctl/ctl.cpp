#include "ctl/ctl.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <limits>
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
#include "netkeep/snapshot.hpp"
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

namespace {

// Applies the records after p.last_seq() through `through`: the log's with replay(), older
// ones (retention moved them, docs/retention.md) through the archive.
Status replay_with_archive(const EventLog& log, const std::string& archive_dir,
                           std::uint64_t through, Projection& p) {
    if (p.last_seq() >= through) return Status::ok();
    if (p.last_seq() + 1 >= log.first_seq()) return replay(log, through, p);
    p.defer_indexing();
    Status applied = Status::ok();
    Status scanned =
        scan_with_archive(log, archive_dir, p.last_seq() + 1, through, [&](EventRecord&& r) {
            applied = p.apply(r);
            return applied.is_ok();
        });
    p.resume_indexing();
    return scanned ? applied : scanned;
}

std::string snapshot_dir(const Options& o) { return o.data_dir + "/snapshots"; }

// The newest snapshot at or before the target (seq, or the time of its last event), so
// that only the events after it are replayed (docs/snapshots.md); none: from seq 1.
std::optional<LoadedSnapshot> snapshot_before(const Options& o, const EventLog& log,
                                              std::uint64_t max_seq, unix_time max_at) {
    return load_newest_snapshot(snapshot_dir(o), max_seq, max_at, snapshot_matches_log(log));
}

}  // namespace

int run_state(const Options& o, Io io) {
    auto log = open_reader(o);
    if (!log) return fail(o, io, log.status().to_string());
    const std::uint64_t last = (*log)->last_seq();
    const std::string archive = o.data_dir + "/archive";
    std::uint64_t through = last;
    std::optional<LoadedSnapshot> snap;
    if (o.at.seq) {
        if (*o.at.seq > last)
            return fail(o, io, fmt::format("--at {}: the log ends at seq {}", *o.at.seq, last));
        through = *o.at.seq;
        snap = snapshot_before(o, **log, through, std::numeric_limits<unix_time>::max());
    } else if (o.at.time) {
        // The prefix of the log up to the last event at or before the time: the state as
        // it was then. (Events are appended in time order; a clock stepped back would
        // make a later event look earlier, and the prefix stops at the first one after.)
        // A snapshot whose last event is at or before the time starts the search.
        snap = snapshot_before(o, **log, last, *o.at.time);
        through = snap ? snap->info.seq : 0;
        Status s = scan_with_archive(**log, archive, through + 1, last, [&](EventRecord&& r) {
            if (event_at(r.event) > *o.at.time) return false;
            through = r.seq;
            return true;
        });
        if (!s) return fail(o, io, s.to_string());
    } else {
        snap = snapshot_before(o, **log, last, std::numeric_limits<unix_time>::max());
    }
    Projection p;
    std::optional<unix_time> at_time;
    if (snap) {
        p = std::move(snap->projection);
        if (snap->info.seq == through) at_time = snap->header.at;
    }
    if (Status s = replay_with_archive(**log, archive, through, p); !s)
        return fail(o, io, s.to_string());
    if (through > 0 && !at_time) {
        Status s = scan_with_archive(**log, archive, through, through, [&](EventRecord&& r) {
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
