#pragma once
// The pure half of the git writer that stays private: commit messages, tree paths, the
// cursor recovery rule. No git, no disk, no log: unit-tested directly. The records others
// read (meta keys, trailers, applied and quarantine records) are public, in
// netkeep/git_records.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

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
//
// A completion that answers a triggered run-now (issue 14: a syslog config-change message
// that named its user) says so: the subject ends in ", configured by alice", and trailers
// "Netkeep-Changed-By: alice" and "Netkeep-Trigger: syslog" follow the first two. Both
// texts come from the network: made one line and cut at k_changed_by_shown bytes.
std::string format_commit_message(std::uint64_t seq, const CompletionRecorded& completion,
                                  std::optional<std::uint64_t> retried_after = std::nullopt);

inline constexpr std::string_view k_changed_by_trailer = "Netkeep-Changed-By";
inline constexpr std::string_view k_trigger_trailer = "Netkeep-Trigger";
inline constexpr std::size_t k_changed_by_shown = 256;

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
