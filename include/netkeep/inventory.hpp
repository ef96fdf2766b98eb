#pragma once
// The operator's inventory (devices.json + jobs.json), validated and expanded.
// docs/devices.md and docs/jobs.md are the reference for the file format.
//
// Loading has two modes:
// - resolved (the server answering /worker/next): secrets are read from the
//   environment and files, and each device and job carries its fully expanded JSON
//   object exactly as workers receive it;
// - structural (replaying InventoryApplied events): secrets are left unresolved and no
//   JSON is built, so replay never depends on the environment and stays cheap.
//
// What InventoryApplied records is not the files as written but their recorded form
// (record_inventory_files): every literal secret replaced by a redaction marker,
//   "pass": {"redacted_sha256": "<64 lowercase hex digits: SHA-256 of the password>"}
// so the log shows that a password changed, never what it is. The structural load
// accepts markers; the resolved load refuses them (a marker cannot be logged in with).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/schedule.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// The two files as read from disk; also the payload of InventoryApplied.
struct InventoryFiles {
    std::string devices_json;
    std::string jobs_json;
    friend bool operator==(const InventoryFiles&, const InventoryFiles&) = default;
};

// One redaction rule (docs/jobs.md#redact). Rules run in order over each line of a
// completion before it is written to git.
struct Redaction {
    enum class Kind {
        replace,      // {"regex", "replace"}: every match in the line is replaced
        delete_line,  // {"delete_line": RE}: a matching line is removed, ending included
        block,        // {"block": {"begin", "end"}, "replace"}: the lines after a `begin`
                      // line up to the next `end` line become one line `replace`
    };
    Redaction() = default;
    // {regex, replace} is an in-line rule.
    Redaction(std::string regex_, std::string replace_, Kind kind_ = Kind::replace,
              std::string end_ = {})
        : regex(std::move(regex_)),
          replace(std::move(replace_)),
          kind(kind_),
          end(std::move(end_)) {}
    std::string regex;    // replace, delete_line: the line pattern; block: its begin line
    std::string replace;  // replace: $1-style replacement; block: the stand-in line ("": none)
    Kind kind = Kind::replace;
    std::string end;  // block: the pattern of the line that closes it
    friend bool operator==(const Redaction&, const Redaction&) = default;
};

// One noise rule (docs/jobs.md#noise), matched against each line after redaction.
struct NoiseRule {
    enum class Action {
        drop,    // the line is removed before the content is stored
        ignore,  // stored, but a change only in such lines makes no commit
    };
    Action action = Action::drop;
    std::string regex;
    friend bool operator==(const NoiseRule&, const NoiseRule&) = default;
};

// What the git writer applies to one task's output: the job's own rules where the job
// gives them (an empty list included: "redact": [] turns redaction off), else its
// device's platform's, else none.
struct ContentRules {
    std::vector<Redaction> redact;
    std::vector<NoiseRule> noise;
    friend bool operator==(const ContentRules&, const ContentRules&) = default;
};

// A built-in platform as the loader expanded it (docs/platforms.md).
struct PlatformSpec {
    std::string name;
    ContentRules rules;  // its default redact and noise rules
    // What a worker receives in a lease's "platform" for each of the platform's command
    // sets: {"name", "channel", "pty", "strip_ansi", "prompt", "pager", "expect",
    // "enable", "setup", "commands": [...the set...]} (docs/api.md#get-workernext).
    // Keyed by set name ("config", "facts", ...); empty in structural mode.
    std::vector<std::pair<std::string, std::string>> worker_json;
    // Its "syslog" patterns (docs/syslog.md): RE2 expressions that recognise a message of
    // the device saying its configuration changed; a group named `user` ((?P<user>...))
    // captures who changed it. Checked by the loader; empty when the definition has none.
    std::vector<std::string> syslog{};
};

struct DeviceSpec {
    std::string name;
    std::vector<std::string> tags;  // profile's and own, sorted, unique
    std::string group;              // the device's or its profile's; empty when neither sets one
    std::string platform;           // the device's or its profile's; empty when neither sets one
    std::string json;               // expanded object; empty in structural mode
    // "host", or the name when it has none: syslog senders are matched to devices by it
    // (issue 14). Last, with `{}`: older aggregate initialisations stay as they were.
    std::string host{};
};

struct JobSpec {
    std::string name;
    Schedule schedule;
    std::int64_t timeout = 300;  // seconds a run may take; also the lease length
    std::uint32_t max_attempts = 3;
    std::int64_t retry_delay = 60;  // seconds after a failed attempt
    // The job's own rules; nullopt when the job does not give them (the platform's apply).
    std::optional<std::vector<Redaction>> redact;
    std::optional<std::vector<NoiseRule>> noise;
    // The platform command set the job runs when it has no inline commands: "config"
    // unless `"command": {"platform": SET}`; empty when the job has inline commands.
    std::string platform_commands;
    std::string json;  // expanded object; empty in structural mode
};

// A (device, job) pair: what gets scheduled, leased and backed up.
struct TaskSpec {
    std::uint32_t device = 0;  // index into Inventory::devices
    std::uint32_t job = 0;     // index into Inventory::jobs
};

struct Inventory {
    std::vector<DeviceSpec> devices;  // in file order
    std::vector<JobSpec> jobs;        // in file order
    std::vector<TaskSpec> tasks;      // job-major, then device file order
    // The built-in platforms the devices name, each once, sorted by name.
    std::vector<PlatformSpec> platforms;
    // The files in their recorded form (record_inventory_files): what InventoryApplied
    // stores, and what a reload compares with the last applied inventory.
    InventoryFiles recorded;
};

struct InventoryLoadOptions {
    bool resolve_secrets = true;
    std::string secrets_dir;  // base for relative {"file": ...} secrets (the inventory dir)
};

// Reads DIR/devices.json and DIR/jobs.json. A missing jobs.json is an error too:
// an inventory without jobs backs nothing up, which is never what was meant.
Result<InventoryFiles> read_inventory_files(const std::string& dir);

// Validates and expands. Errors are InvalidArgument naming the file and the JSON path:
// "devices.json: /devices/3/name: '..' must not start with '.'".
Result<Inventory> parse_inventory(const InventoryFiles& files, const InventoryLoadOptions& options);

// The key of a redaction marker: {"redacted_sha256": "<hex>"}.
inline constexpr std::string_view k_redacted_secret_key = "redacted_sha256";

// The marker that stands for `secret` in the recorded form: {"redacted_sha256":"<hex>"}.
std::string redaction_marker(std::string_view secret);

// The recorded form of the files: each literal `pass` or `enable` string of a credentials object
// (under "credentials", a profile's or a device's inline "credentials") is replaced by
// its redaction marker; every other byte is kept as written (formatting, order, fields,
// {"env"} and {"file"} references, markers already there), so the result is idempotent.
// jobs.json holds no secrets and is kept whole. Pure. InvalidArgument when devices.json
// is not JSON; meant for files parse_inventory has accepted.
Result<InventoryFiles> record_inventory_files(const InventoryFiles& files);

// One platform definition (the JSON of src/platforms/defs/NAME.json), validated as the
// loader validates the built-in ones: rules and worker_json filled. Errors are
// InvalidArgument "platform NAME: /path: ...". The loader loads each built-in one once per
// process; this is for tests and tools.
Result<PlatformSpec> parse_platform_definition(std::string_view name, std::string_view json);

// What a lease's "platform" holds for `task` (docs/api.md#get-workernext): the worker
// JSON of the device's platform for the job's command set ("config" for a job with inline
// commands); nullptr when the device has no platform or the inventory is structural.
const std::string* platform_worker_json(const Inventory& inventory, const TaskSpec& task);

// The rules the git writer applies to `task`'s output (see ContentRules).
ContentRules content_rules(const Inventory& inventory, const TaskSpec& task);

// "device/job": the task's name in messages and the key of its interval phase.
std::string task_key(std::string_view device, std::string_view job);

}  // namespace netkeep
