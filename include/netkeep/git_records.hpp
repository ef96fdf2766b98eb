#pragma once
// The git writer's on-disk records: what it writes outside git for others to read
// (netkeepctl verify, backup and quarantine; docs/git.md). In the manner of libgit2's
// include/git2/sys/: the format is public, the writer that keeps it is not. Everything
// here is a format on disk: change it only with a migration.
//
// In the log's meta column family (keys sort in log order: seqs are 20 zero-padded digits):
//
//   gitwriter.cursor                  "<seq>"   the last seq applied and on main, written
//                                               after the events it covers (once a batch)
//   gitwriter.inventory_seq           "<seq>"   the last InventoryApplied at or before it
//   gitwriter.applied.<seq>           "<blob> <commit or -> <path>"   (AppliedRecord)
//   gitwriter.quarantine.<seq>        "<state> <attempts> <at> <order> <after> <detail...>"
//
// In each commit's message, as git trailers (its last paragraph): Netkeep-Seq,
// Netkeep-Job-Timestamp and, on a late commit of a quarantined event,
// Netkeep-Retried-After.
//
// In <data-dir>/gitwriter/: "applying" (the crash marker, the writer's own) and
// "retry/<seq>", a retry request netkeepctl leaves: one line, the request's order (ns
// since the epoch), written durably under another name and renamed; a name holding
// ".tmp" is still being written.
//
// No third-party header here; the definitions are in src/gitwriter/records.cpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// ---- meta keys ----

inline constexpr std::string_view k_cursor_key = "gitwriter.cursor";
// The seq of the last InventoryApplied at or before the persisted cursor; spares a
// restart from scanning the whole log for the redaction rules in force.
inline constexpr std::string_view k_inventory_key = "gitwriter.inventory_seq";
// One record per applied successful completion: what went into git for it, so a verify
// can compare git with the log long after the spool file is gone.
inline constexpr std::string_view k_applied_prefix = "gitwriter.applied.";
// One record per quarantined event.
inline constexpr std::string_view k_quarantine_prefix = "gitwriter.quarantine.";

// A decimal u64 and nothing else (meta values, trailer values, key suffixes).
std::optional<std::uint64_t> parse_u64(std::string_view text);

// ---- commit trailers ----

inline constexpr std::string_view k_seq_trailer = "Netkeep-Seq";
inline constexpr std::string_view k_job_timestamp_trailer = "Netkeep-Job-Timestamp";
// On a commit made for a quarantined event retried late (docs/git.md#quarantine): the
// writer's cursor when it was made. Every event up to it was applied in order, so this,
// not the older Netkeep-Seq, is the commit's place in the log ("position").
inline constexpr std::string_view k_retried_after_trailer = "Netkeep-Retried-After";

// The Netkeep-Seq trailer of a message: looked for only in its last paragraph (where
// git puts trailers), so a subject or body can never be mistaken for one.
std::optional<std::uint64_t> parse_seq_trailer(std::string_view message);
// The value of trailer `key` (a decimal u64) in the last paragraph; nullopt when absent,
// malformed or given twice with different values.
std::optional<std::uint64_t> parse_u64_trailer(std::string_view message, std::string_view key);
// A netkeep commit's place in the log: its Netkeep-Retried-After if it has one, else its
// Netkeep-Seq (nullopt for a commit made by hand). Positions never decrease along main,
// so the newest position P says "every event <= P has been applied in order".
std::optional<std::uint64_t> parse_position(std::string_view message);

// ---- records of what was applied (docs/git.md "Records of what was applied") ----

struct AppliedRecord {
    std::string blob;    // hex id of the blob written for the completion (redacted content)
    std::string commit;  // hex id of its commit; empty when main already had that blob
    std::string path;    // where, in the tree
    friend bool operator==(const AppliedRecord&, const AppliedRecord&) = default;
};

std::string applied_key(std::uint64_t seq);
// "<blob> <commit or -> <path>" (names never contain spaces).
std::string format_applied_record(const AppliedRecord& record);
std::optional<AppliedRecord> parse_applied_record(std::string_view value);

// ---- quarantine records (docs/git.md#quarantine) ----

// What happened to an event the writer quarantined. Stored as
// "<state> <attempts> <at> <order> <after> <detail...>" (detail may hold spaces).
enum class QuarantineState {
    quarantined,  // failed quarantine_after times: skipped, waiting for the operator
    held,         // an inventory that failed as often: the writer waits at it (never skipped)
    retry,        // the operator asked for a retry (order = when): the writer applies it late
    retrying,     // a late apply in progress, made after cursor `after`
    applied,      // the late apply committed it (detail: the commit)
    superseded,   // not committed on retry: a newer completion of its task was applied (detail)
};
struct QuarantineRecord {
    QuarantineState state = QuarantineState::quarantined;
    std::uint32_t attempts = 0;
    unix_time at = 0;  // when it was (last) quarantined
    std::uint64_t order =
        0;  // retry: the request's id (ns since the epoch); retries go in this order
    std::uint64_t after = 0;  // retrying: the cursor the late commit is made after
    std::string detail;       // why (quarantined, held), the commit (applied), by what (superseded)
    friend bool operator==(const QuarantineRecord&, const QuarantineRecord&) = default;
};
std::string_view state_name(QuarantineState state);
std::optional<QuarantineState> parse_state(std::string_view name);
std::string quarantine_key(std::uint64_t seq);
std::string format_quarantine_record(const QuarantineRecord& record);
std::optional<QuarantineRecord> parse_quarantine_record(std::string_view value);
// Still waiting for the operator or for the writer: not applied, not given up.
inline bool is_open(QuarantineState s) {
    return s == QuarantineState::quarantined || s == QuarantineState::held ||
           s == QuarantineState::retry || s == QuarantineState::retrying;
}

// ---- reading the quarantine (netkeepctl quarantine list, GET /api/v1/quarantine) ----

struct QuarantineEntry {
    std::uint64_t seq = 0;
    QuarantineRecord record;
    std::string what;  // "device/job", "inventory", or empty when the event is not found
};
struct QuarantineList {
    std::vector<QuarantineEntry> entries;  // in seq order
    bool truncated = false;                // older records left out to stay within `max`
};
// The newest `max` quarantine records in the log's meta, each with what its event is
// about (one point read of the log per record kept). A record that does not parse is
// skipped. Reads the log: blocking, any thread.
Result<QuarantineList> read_quarantine(const EventLog& log, std::size_t max);

}  // namespace netkeep::gitwriter
