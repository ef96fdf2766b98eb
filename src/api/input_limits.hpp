#pragma once
// The bounds every client-supplied value of the worker API is held to (issue 11), as pure
// functions: the handlers apply them, unit tests call them directly. docs/api.md
// ("Limits") and docs/security.md describe the same numbers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netkeep/events.hpp"

namespace netkeep::api {

// Any multipart part of POST /worker/complete other than `file` (http::MultipartLimits).
inline constexpr std::size_t k_max_field_bytes = 64 * 1024;
// The `failure` text kept in CompletionRecorded: it is in every /api/v1/tasks answer
// and replayed at every start, so it is cut well below the field limit.
inline constexpr std::size_t k_max_failure_bytes = 4 * 1024;
// X-Netkeep-Worker: it goes into LeaseGranted and CompletionRecorded events.
inline constexpr std::size_t k_max_worker_name_bytes = 128;
// How far ahead of the server's clock a worker's end_timestamp may be (its clock may run
// ahead a little; more is a broken or hostile clock, and the date would become a commit's).
inline constexpr unix_time k_max_clock_ahead = 300;

// `text` if it has at most k_max_failure_bytes; otherwise its start, cut before a UTF-8
// sequence (never inside one), followed by the marker " [truncated: N bytes sent]" so
// that the whole is at most k_max_failure_bytes. Readers recognise a cut text by that
// marker at its end (docs/event-log.md).
std::string bounded_failure(std::string text);

// Whether bounded_failure(text) would cut `text`.
inline bool failure_too_long(std::string_view text) { return text.size() > k_max_failure_bytes; }

// A refused value: the form field (or header) it came from and why.
struct FieldError {
    std::string field;
    std::string message;
};

// The timestamps of a completion: each a non-negative unix time, and
// job_timestamp <= start_timestamp <= end_timestamp <= now + k_max_clock_ahead.
// The first rule broken, naming its field; nullopt when all hold.
std::optional<FieldError> check_completion_times(unix_time job_timestamp, unix_time start_timestamp,
                                                 unix_time end_timestamp, unix_time now);

// The worker's name from X-Netkeep-Worker: at most k_max_worker_name_bytes, no control
// characters (it is written into events and log lines). nullopt when acceptable.
std::optional<std::string> worker_name_problem(std::string_view name);

}  // namespace netkeep::api
