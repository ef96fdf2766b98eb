// Fuzz target: the inventory loader (src/inventory: parse_inventory and
// record_inventory_files), on the text an operator (or a replayed InventoryApplied event)
// gives it.
//
// Input: devices.json text, a line "---", jobs.json text. Without the separator the whole
// input is devices.json and jobs.json is a small valid file.
//
// Checks (inventory.hpp):
// - the load is deterministic;
// - what InventoryApplied records loads again in structural mode (replay does exactly
//   that) and gives the same devices, jobs and tasks; recording it again changes nothing;
// - a resolved load that succeeds also succeeds structurally, with the same result;
// - tags are sorted and unique, tasks are job-major in device order and in range;
// - a task that runs a platform command set has its platform's worker JSON.
// Secrets from files are resolved only for inputs that cannot name one (no "file" key and
// no \u escape that could spell it): a fuzzed path such as /dev/zero would hang the target.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "netkeep/inventory.hpp"

using netkeep::Inventory;
using netkeep::InventoryFiles;
using netkeep::InventoryLoadOptions;

namespace {

constexpr std::string_view k_separator = "\n---\n";
constexpr std::string_view k_default_jobs =
    R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})";

void check_shape(const Inventory& inv) {
    for (const auto& d : inv.devices) {
        FUZZ_CHECK(!d.name.empty());
        for (std::size_t i = 1; i < d.tags.size(); ++i) FUZZ_CHECK(d.tags[i - 1] < d.tags[i]);
    }
    for (const auto& j : inv.jobs) {
        FUZZ_CHECK(!j.name.empty());
        FUZZ_CHECK(j.timeout > 0);
        FUZZ_CHECK(j.max_attempts > 0);
        FUZZ_CHECK(j.retry_delay >= 0);
    }
    for (std::size_t i = 0; i < inv.tasks.size(); ++i) {
        FUZZ_CHECK(inv.tasks[i].device < inv.devices.size());
        FUZZ_CHECK(inv.tasks[i].job < inv.jobs.size());
        if (i > 0) {
            const auto& a = inv.tasks[i - 1];
            const auto& b = inv.tasks[i];
            FUZZ_CHECK(a.job < b.job || (a.job == b.job && a.device < b.device));
        }
    }
}

// What structural mode keeps: everything but the expanded JSON and the recorded files.
void check_same_structure(const Inventory& a, const Inventory& b) {
    FUZZ_CHECK(a.devices.size() == b.devices.size());
    for (std::size_t i = 0; i < a.devices.size(); ++i) {
        FUZZ_CHECK(a.devices[i].name == b.devices[i].name);
        FUZZ_CHECK(a.devices[i].tags == b.devices[i].tags);
        FUZZ_CHECK(a.devices[i].group == b.devices[i].group);
        FUZZ_CHECK(a.devices[i].platform == b.devices[i].platform);
    }
    FUZZ_CHECK(a.platforms.size() == b.platforms.size());
    for (std::size_t i = 0; i < a.platforms.size() && i < b.platforms.size(); ++i) {
        FUZZ_CHECK(a.platforms[i].name == b.platforms[i].name);
        FUZZ_CHECK(a.platforms[i].rules == b.platforms[i].rules);
    }
    FUZZ_CHECK(a.jobs.size() == b.jobs.size());
    for (std::size_t i = 0; i < a.jobs.size(); ++i) {
        const auto& x = a.jobs[i];
        const auto& y = b.jobs[i];
        FUZZ_CHECK(x.name == y.name);
        FUZZ_CHECK(x.schedule == y.schedule);
        FUZZ_CHECK(x.timeout == y.timeout);
        FUZZ_CHECK(x.max_attempts == y.max_attempts);
        FUZZ_CHECK(x.retry_delay == y.retry_delay);
        FUZZ_CHECK(x.redact == y.redact);
        FUZZ_CHECK(x.noise == y.noise);
        FUZZ_CHECK(x.platform_commands == y.platform_commands);
    }
    FUZZ_CHECK(a.tasks.size() == b.tasks.size());
    for (std::size_t i = 0; i < a.tasks.size(); ++i) {
        FUZZ_CHECK(a.tasks[i].device == b.tasks[i].device);
        FUZZ_CHECK(a.tasks[i].job == b.tasks[i].job);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = netkeep::fuzz::as_text(data, size);
    InventoryFiles files;
    if (auto sep = text.find(k_separator); sep != std::string_view::npos) {
        files.devices_json = std::string(text.substr(0, sep));
        files.jobs_json = std::string(text.substr(sep + k_separator.size()));
    } else {
        files.devices_json = std::string(text);
        files.jobs_json = std::string(k_default_jobs);
    }

    const InventoryLoadOptions structural{.resolve_secrets = false, .secrets_dir = {}};
    // A directory that does not exist: relative secret files are never found.
    const InventoryLoadOptions resolved{.resolve_secrets = true,
                                        .secrets_dir = "/nonexistent/netkeep-fuzz"};
    const bool may_read_files =
        text.find("file") != std::string_view::npos || text.find("\\u") != std::string_view::npos;

    auto first = parse_inventory(files, structural);
    auto again = parse_inventory(files, structural);
    FUZZ_CHECK(first.is_ok() == again.is_ok());
    if (!first) {
        FUZZ_CHECK(first.status().message() == again.status().message());
    } else {
        check_same_structure(*first, *again);
        FUZZ_CHECK(first->recorded == again->recorded);
    }

    if (!may_read_files) {
        auto res = parse_inventory(files, resolved);
        if (res) {
            check_shape(*res);
            // Resolving only adds requirements (secrets that exist): never accepts more.
            FUZZ_CHECK(first.is_ok());
            check_same_structure(*res, *first);
            for (const auto& d : res->devices) FUZZ_CHECK(!d.json.empty());
            for (const auto& j : res->jobs) FUZZ_CHECK(!j.json.empty());
            // A job that runs a platform command set was checked against every device.
            for (const auto& t : res->tasks)
                if (!res->jobs[t.job].platform_commands.empty())
                    FUZZ_CHECK(netkeep::platform_worker_json(*res, t) != nullptr);
        }
    }
    if (!first) return 0;
    check_shape(*first);

    // Replay loads what InventoryApplied recorded, structurally: it must load, and mean
    // the same thing as what the operator wrote.
    const InventoryFiles& recorded = first->recorded;
    FUZZ_CHECK(recorded.jobs_json == files.jobs_json);
    auto replayed = parse_inventory(recorded, structural);
    FUZZ_CHECK(replayed.is_ok());
    check_same_structure(*first, *replayed);
    // record_inventory_files is idempotent.
    FUZZ_CHECK(replayed->recorded == recorded);
    auto twice = netkeep::record_inventory_files(recorded);
    FUZZ_CHECK(twice.is_ok());
    FUZZ_CHECK(*twice == recorded);
    return 0;
}
