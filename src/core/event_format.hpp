#pragma once
// Private to core (included as "core/event_format.hpp"): the store, and the tests and
// tools of the log format, use it; other parts read events through the EventLog.
//
// The on-disk format of one event-log record. docs/event-log.md explains it at length.
//
// Key: the sequence number as a big-endian u64, so the store's byte order is log order.
//
// Value:
//   +---------+----------------+-------------------+-------------------+--------------+
//   | type u8 | version u16 LE | payload len u32 LE| payload (len B)   | crc32c u32 LE|
//   +---------+----------------+-------------------+-------------------+--------------+
//   |<------------------------- covered by the checksum ----------------->|
//
// Payload: the event's fields in the order of netkeep/event_schema.hpp. Integers are
// LEB128 varints (signed ones zigzag-encoded), strings are a varint length then the
// bytes, an optional is one byte (0 absent, 1 present) followed by the value, an enum is
// one byte.
//
// A decoder accepts every schema version up to the one it writes; a record of a newer
// version or an unknown type is refused with a status naming its sequence number, never
// skipped: skipping would silently change the replayed state.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::event_format {

constexpr std::size_t k_header_size = 1 + 2 + 4;
constexpr std::size_t k_trailer_size = 4;
constexpr std::size_t k_key_size = 8;

// The schema version this build writes, per type. Bump when a payload changes, and give
// the new field that version as its `since` in netkeep/event_schema.hpp.
// LeaseGranted 2: + holder. CompletionRecorded 2, RunRequested 2: + changed_by, trigger.
constexpr std::uint16_t current_version(EventType type) {
    switch (type) {
        case EventType::lease_granted:
        case EventType::completion_recorded:
        case EventType::run_requested:
            return 2;
        default:
            return 1;
    }
}

// The record value for an event.
std::string encode(const Event& event);

// Decodes a record value stored at seq. Errors: Corruption (truncated, bad checksum,
// malformed payload) or NotSupported (unknown type, newer version), both naming seq.
Result<Event> decode(std::uint64_t seq, std::string_view record);

std::string encode_key(std::uint64_t seq);
Result<std::uint64_t> decode_key(std::string_view key);

}  // namespace netkeep::event_format
