#pragma once
// The pure half of the git writer: commit messages, their trailers, the cursor
// recovery rule. No git, no disk, no log: unit-tested directly.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// The meta keys the writer owns in the log's meta column family.
inline constexpr std::string_view k_cursor_key = "gitwriter.cursor";
// The seq of the last InventoryApplied at or before the persisted cursor; spares a
// restart from scanning the whole log for the redaction rules in force.
inline constexpr std::string_view k_inventory_key = "gitwriter.inventory_seq";

// One record per applied successful completion: what went into git for it, so a verify
// can compare git with the log long after the spool file is gone. Key: this prefix and
// the seq as 20 zero-padded digits (records sort in log order).
inline constexpr std::string_view k_applied_prefix = "gitwriter.applied.";

inline constexpr std::string_view k_seq_trailer = "Netkeep-Seq";
inline constexpr std::string_view k_job_timestamp_trailer = "Netkeep-Job-Timestamp";
// On a commit made for a quarantined event retried late (docs/git.md#quarantine): the
// writer's cursor when it was made. Every event up to it was applied in order, so this,
// not the older Netkeep-Seq, is the commit's place in the log ("position").
inline constexpr std::string_view k_retried_after_trailer = "Netkeep-Retried-After";

// One record per quarantined event: key this prefix and the seq as 20 digits.
inline constexpr std::string_view k_quarantine_prefix = "gitwriter.quarantine.";

// "2023-11-14T22:13:20Z".
std::string iso8601_utc(unix_time t);

// Devices without a group, with the group layout.
inline constexpr std::string_view k_no_group = "ungrouped";

// The file's path in the tree: "<device>/<job>", or "<group>/<device>/<job>" with the
// group layout (k_no_group for a device without one). Names are restricted by the
// inventory (no '/', not starting with '.'), so the depth is fixed.
std::string tree_path(PathLayout layout, std::string_view group, std::string_view device,
                      std::string_view job);

// The full commit message, ending in '\n':
//
//   r1: show_run at 2023-11-14T22:13:22Z
//
//   worker 10.0.0.5:41234; job 2023-11-14T22:13:20Z (1700000000), started
//   2023-11-14T22:13:21Z (1700000001), ended 2023-11-14T22:13:22Z (1700000002)   <- one line
//
//   Netkeep-Seq: 42
//   Netkeep-Job-Timestamp: 1700000000
//
// With retried_after (a late commit of a quarantined event), a third trailer
// "Netkeep-Retried-After: <cursor>" follows.
std::string format_commit_message(std::uint64_t seq, const CompletionRecorded& completion,
                                  std::optional<std::uint64_t> retried_after = std::nullopt);

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

// What happened to an event the writer quarantined (docs/git.md#quarantine). Stored as
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

// A decimal u64 and nothing else (meta values, trailer values).
std::optional<std::uint64_t> parse_u64(std::string_view text);

// The last seq already applied, from which the writer resumes (it applies cursor + 1
// next). Both inputs are lower bounds of what was applied: the meta cursor is written
// after the events it covers, and the trailer is in the commit of the event it names,
// which exists only if every earlier event was applied first. So the maximum is the
// truth: anything after it was not committed (a crash before its commit) and anything
// at or before it must not be committed again. Either ahead of the log is refused: that
// repository or cursor belongs to another log.
Result<std::uint64_t> resume_cursor(std::optional<std::uint64_t> meta_cursor,
                                    std::optional<std::uint64_t> head_trailer,
                                    std::uint64_t log_last_seq);

}  // namespace netkeep::gitwriter
