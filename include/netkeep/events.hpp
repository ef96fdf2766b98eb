#pragma once
// The events of netkeep's write-ahead log. Every state change of the system is one of
// these, appended durably before it is acted on; the projection, the git writer and
// netkeepctl are all functions of this sequence.
//
// Times are unix seconds (UTC). Names are device and job names as in the inventory.
// Adding a field to an event means bumping its schema version in src/core/event_format.hpp and
// teaching the decoder the old version too: the log is kept forever.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace netkeep {

using unix_time = std::int64_t;

// The operator's inventory as applied, in its unresolved form (secrets stay
// references unless written literally), so replay never depends on the environment.
struct InventoryApplied {
    unix_time at = 0;
    std::string devices_json;
    std::string jobs_json;
    friend bool operator==(const InventoryApplied&, const InventoryApplied&) = default;
};

// An occurrence (device, job, timestamp) leased exclusively to a worker until deadline.
struct LeaseGranted {
    unix_time at = 0;
    std::string device;
    std::string job;
    unix_time timestamp = 0;
    unix_time deadline = 0;
    std::uint32_t attempt = 1;  // 1 for the first lease of this occurrence
    std::string worker;  // who asked: the token's name, else the X-Netkeep-Worker header or address
    // The token the lease belongs to (netkeepd --auth): only it may complete the
    // occurrence while the lease runs. Empty when granted without tokens (and in
    // records of schema version 1).
    std::string holder;
    friend bool operator==(const LeaseGranted&, const LeaseGranted&) = default;
};

// A lease reached its deadline without a completion: a failed attempt.
struct LeaseExpired {
    unix_time at = 0;
    std::string device;
    std::string job;
    unix_time timestamp = 0;
    friend bool operator==(const LeaseExpired&, const LeaseExpired&) = default;
};

// A worker's result, durable in the spool before this event was appended.
struct CompletionRecorded {
    unix_time at = 0;
    std::string device;
    std::string job;
    unix_time job_timestamp = 0;
    unix_time start_timestamp = 0;
    unix_time end_timestamp = 0;
    std::optional<std::string> failure;  // present: a failed attempt
    std::uint64_t size = 0;              // bytes of content
    std::string sha256;                  // 32 raw bytes of the content's SHA-256
    std::string spool;                   // spool file name, relative to the spool dir
    std::string worker;
    // Version 2 (issue 14): copied from the open occurrence this completion answers, when a
    // run-now asked for it (RunRequested's changed_by and trigger); empty otherwise. The git
    // writer shows changed_by in the commit ("configured by alice"). `{}` initialisers: the
    // aggregate initialisations written before these fields stay warning-free.
    std::string changed_by{};
    std::string trigger{};
    friend bool operator==(const CompletionRecorded&, const CompletionRecorded&) = default;
};

enum class CloseReason : std::uint8_t {
    succeeded = 1,  // a completion without failure
    failed = 2,     // attempts exhausted
    removed = 3,    // the device or job left the inventory
};

// An occurrence ended; the task moves on to its next slot.
struct OccurrenceClosed {
    unix_time at = 0;
    std::string device;
    std::string job;
    unix_time timestamp = 0;
    CloseReason reason = CloseReason::succeeded;
    friend bool operator==(const OccurrenceClosed&, const OccurrenceClosed&) = default;
};

// An operator asked for a task to run now (POST /api/v1/tasks/<device>/<job>/run). Its
// open occurrence, the one at `timestamp` when asked, becomes due at `at`; one never
// handed out whose timestamp is still in the future is replaced by one timestamped `at`
// (Projection::apply, docs/event-log.md). An operator's is appended only for an occurrence
// not leased; one with a trigger (syslog, issue 14) may meet a leased occurrence, and then
// asks for a follow-up run once that lease's occurrence closes (docs/syslog.md).
struct RunRequested {
    unix_time at = 0;
    std::string device;
    std::string job;
    unix_time timestamp = 0;   // the open occurrence's timestamp when asked
    std::string requested_by;  // who asked: the client's address (not authenticated)
    // Version 2 (issue 14): who changed the device, as the device reported it (the user
    // name of a syslog config-change message), and what asked for the run ("syslog");
    // both empty for an operator's run-now and in version 1 records.
    std::string changed_by{};
    std::string trigger{};
    friend bool operator==(const RunRequested&, const RunRequested&) = default;
};

using Event = std::variant<InventoryApplied, LeaseGranted, LeaseExpired, CompletionRecorded,
                           OccurrenceClosed, RunRequested>;

// Stable on disk: never renumber, only add.
enum class EventType : std::uint8_t {
    inventory_applied = 1,
    lease_granted = 2,
    lease_expired = 3,
    completion_recorded = 4,
    occurrence_closed = 5,
    run_requested = 6,
};

EventType type_of(const Event& event);
std::string_view event_type_name(EventType type);  // "LeaseGranted"
std::optional<EventType> event_type_from_name(std::string_view name);
std::string_view close_reason_name(CloseReason reason);  // "succeeded"

// An event as stored: its position in the log (1-based, gapless) and its content.
struct EventRecord {
    std::uint64_t seq = 0;
    Event event;
    friend bool operator==(const EventRecord&, const EventRecord&) = default;
};

}  // namespace netkeep
