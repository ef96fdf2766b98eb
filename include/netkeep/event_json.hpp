#pragma once
// The JSON of one event: what GET /api/v1/events answers and `netkeepctl log --json`
// prints, byte for byte the same for the same record. docs/event-log.md documents it.
//
//   {"seq":N,"type":"LeaseGranted","at":1700000000,"device":"r1",...}
//
// The fields and their kinds are netkeep/event_schema.hpp's: times are integer unix
// seconds, raw SHA-256 is lowercase hex, an absent optional is null, and a document that
// may hold secrets (InventoryApplied's devices_json, jobs_json) is only
// {"size":N,"sha256":"hex"}, never its content.

#include <string>

#include "netkeep/events.hpp"

namespace netkeep {

std::string event_json(const EventRecord& record);

}  // namespace netkeep
