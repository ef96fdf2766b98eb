#pragma once
// Events as netkeepctl prints them, and the filters of `netkeepctl log`. Pure.
//
// `netkeepctl log --json` prints netkeep::event_json (netkeep/event_json.hpp): the same
// object as GET /api/v1/events. The text line is written here, from the same schema
// (netkeep/event_schema.hpp), so both show the same fields under the same names.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/events.hpp"

namespace netkeep::ctl {

// `seq time type key=value...`: the time column is the event's `at`, then its other
// fields in schema order. Times are ISO 8601 (UTC), raw SHA-256 is hex, an absent
// optional (or an unset holder) is left out. Secrets: a document (InventoryApplied's
// devices_json and jobs_json, which may hold literal passwords) shows only as
// NAME_bytes=N NAME_sha256=hex. A value with a space, quote, '=', backslash, control or
// non-ASCII byte, or an empty one, is written as a JSON string (as netkeepd's log lines).
std::string format_event_text(const EventRecord& record);

// The filters of `netkeepctl log`. Every given one must match. An event without a
// device (InventoryApplied) never matches --device, likewise for --job.
struct LogFilter {
    std::uint64_t from = 1;
    std::optional<std::uint64_t> to;
    std::optional<unix_time> since;    // at >= since
    std::vector<std::string> devices;  // any of (repeatable flag)
    std::vector<std::string> jobs;
    std::vector<EventType> types;
};
bool matches(const LogFilter& filter, const EventRecord& record);

// The event's `at`, device and job, whatever its type (nullopt/empty when it has none).
unix_time event_at(const Event& event);
std::optional<std::string_view> event_device(const Event& event);
std::optional<std::string_view> event_job(const Event& event);

}  // namespace netkeep::ctl
