#pragma once
// Events as netkeepctl prints them, and the filters of `netkeepctl log`. Pure.
//
// Secrets: InventoryApplied carries devices.json and jobs.json as the operator wrote
// them, literal passwords included. Only their sizes and SHA-256 are ever printed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/events.hpp"

namespace netkeep::ctl {

// One event as ordered (key, value) fields, without seq and type: "at" first (ISO
// time), then the event's own fields; times as ISO, raw SHA-256 as hex.
// InventoryApplied: devices_json_bytes, devices_json_sha256, jobs_json_bytes,
// jobs_json_sha256. Integers are marked so JSON prints them as numbers.
struct Field {
    std::string key;
    std::string value;
    bool number = false;
    bool present = true;  // false: an absent optional (JSON null; not printed in text)
};
std::vector<Field> event_fields(const Event& event);

// `seq time type key=value...`; a value with a space, quote, '=', backslash, control or
// non-ASCII byte, or an empty one, is written as a JSON string (as netkeepd's log lines).
std::string format_event_text(const EventRecord& record);
// One JSON object: {"seq":N,"type":"LeaseGranted","at":"...",...}.
std::string format_event_json(const EventRecord& record);

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
