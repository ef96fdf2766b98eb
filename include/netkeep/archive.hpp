#pragma once
// Reading the whole history of the log: the records retention moved out of the event log
// into archive segments (docs/retention.md), then the log's own.
//
// Threads: any thread; reads files and the log, holds nothing between calls.

#include <cstdint>
#include <string>

#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// Visits the records with from <= seq <= to in order: those below log.first_seq() from the
// archive segments in archive_dir, then the log's. A record missing from both ends the scan
// with a Corruption status naming it. Return false from visit to stop early.
Status scan_with_archive(const EventLog& log, const std::string& archive_dir, std::uint64_t from,
                         std::uint64_t to, const EventLog::Visitor& visit);

}  // namespace netkeep
