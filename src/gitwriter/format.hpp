#pragma once
// The pure half of the git writer: commit messages, their trailers, the cursor
// recovery rule. No git, no disk, no log: unit-tested directly.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
std::string format_commit_message(std::uint64_t seq, const CompletionRecorded& completion);

// The Netkeep-Seq trailer of a message: looked for only in its last paragraph (where
// git puts trailers), so a subject or body can never be mistaken for one.
std::optional<std::uint64_t> parse_seq_trailer(std::string_view message);

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
