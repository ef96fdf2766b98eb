#pragma once
// Reading the whole history of the log: the records retention moved out of the event log
// into archive segments (docs/retention.md), then the log's own.
//
// Threads: any thread; reads files and the log, holds nothing between calls.

#include <cstdint>
#include <string>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// Visits the records with from <= seq <= to in order: those below log.first_seq() from the
// archive segments in archive_dir, then the log's. A record missing from both ends the scan
// with a Corruption status naming it (and the segment file, when one is damaged). Return
// false from visit to stop early.
Status scan_with_archive(const EventLog& log, const std::string& archive_dir, std::uint64_t from,
                         std::uint64_t to, const EventLog::Visitor& visit);

// One archive segment: the records first_seq..last_seq (gapless), by its file name
// events-<first 20 digits>-<last 20 digits>.nka.
struct ArchiveSegment {
    std::string path;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t bytes = 0;  // file size
};

// The segments in dir by file name, ascending by first_seq; nothing is read but names and
// sizes. Other files are ignored. Empty when dir does not exist.
std::vector<ArchiveSegment> list_archive_segments(const std::string& dir);

// Reads and checks one segment (header, sizes, both checksums, every record's own CRC,
// the seqs its name says): visits its records in order. Corruption naming the file on any
// damage; a segment is never trusted further than its checks. At most
// k_archive_max_raw_bytes are held in memory.
inline constexpr std::uint64_t k_archive_max_raw_bytes = 256ull << 20;
Status read_archive_segment(const ArchiveSegment& segment, const EventLog::Visitor& visit);

}  // namespace netkeep
