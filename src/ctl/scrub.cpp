// `netkeepctl scrub-secrets`: rewrites the InventoryApplied records of a log written
// before literal secrets were redacted, so that they hold redaction markers instead
// (docs/security.md "Secrets at rest"). The only netkeepctl command that writes the log:
// it runs while netkeepd is stopped, and the store refuses while the log is locked.

#include <optional>
#include <variant>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"

namespace netkeep::ctl {

namespace {

// What replay takes from an inventory: a rewrite that changed any of it would change the
// state the log replays to, so it is refused rather than written.
bool same_structure(const Inventory& a, const Inventory& b) {
    if (a.devices.size() != b.devices.size() || a.jobs.size() != b.jobs.size() ||
        a.tasks.size() != b.tasks.size())
        return false;
    for (std::size_t i = 0; i < a.devices.size(); ++i)
        if (a.devices[i].name != b.devices[i].name || a.devices[i].tags != b.devices[i].tags ||
            a.devices[i].group != b.devices[i].group)
            return false;
    for (std::size_t i = 0; i < a.jobs.size(); ++i)
        if (a.jobs[i].name != b.jobs[i].name || a.jobs[i].timeout != b.jobs[i].timeout ||
            a.jobs[i].max_attempts != b.jobs[i].max_attempts ||
            a.jobs[i].retry_delay != b.jobs[i].retry_delay)
            return false;
    for (std::size_t i = 0; i < a.tasks.size(); ++i)
        if (a.tasks[i].device != b.tasks[i].device || a.tasks[i].job != b.tasks[i].job)
            return false;
    return true;
}

}  // namespace

int run_scrub_secrets(const Options& o, Io io) {
    const InventoryLoadOptions structural{.resolve_secrets = false, .secrets_dir = {}};
    std::uint64_t inventories = 0;
    auto rewrite = [&](const EventRecord& r) -> Result<std::optional<Event>> {
        const auto* applied = std::get_if<InventoryApplied>(&r.event);
        if (!applied) return std::optional<Event>();
        ++inventories;
        InventoryFiles files{applied->devices_json, applied->jobs_json};
        auto before = parse_inventory(files, structural);
        if (!before)
            return Status::corruption(fmt::format("seq {}: applied inventory does not load: {}",
                                                  r.seq, before.status().message()));
        if (before->recorded == files) return std::optional<Event>();
        auto after = parse_inventory(before->recorded, structural);
        if (!after || !same_structure(*before, *after))
            return Status::corruption(
                fmt::format("seq {}: the inventory without its literal secrets would replay "
                            "differently; nothing was written",
                            r.seq));
        return std::optional<Event>(InventoryApplied{applied->at,
                                                     std::move(before->recorded.devices_json),
                                                     std::move(before->recorded.jobs_json)});
    };
    auto report = rewrite_event_log(log_dir(o), rewrite);
    if (!report) return fail(o, io, report.status().to_string());
    if (o.json) {
        fmt::print(io.out, "{{\"records\":{},\"inventories\":{},\"rewritten\":{}}}\n",
                   report->records, inventories, report->rewritten);
    } else {
        fmt::print(
            io.out,
            "{} of {} InventoryApplied records rewritten without literal secrets ({} records in "
            "the log);\n"
            "the log is compacted: the old values are gone from {}.\n"
            "Copies made before (netkeepctl backup, file-system snapshots) still hold them.\n",
            report->rewritten, inventories, report->records, log_dir(o));
    }
    return 0;
}

}  // namespace netkeep::ctl
