#pragma once
// The server's clock as this worker sees it (docs/worker.md#clock-skew).
//
// Every GET /worker/next answer carries X-Netkeep-Server-Time, the server's wall clock in
// unix milliseconds as the answer left. Lease timestamps and expiry times are the
// server's, so the worker runs a job when the server's clock says it is due, budgets it
// against the lease in server time, and reports start and end in server time (the server
// refuses an end in its future). A worker whose own clock is wrong then still behaves.
//
// The offset is measured per answer, NTP-style: server time minus the midpoint of the
// request's send and receive times (the error is at most half the round trip). The last
// answer wins: a local clock that is stepped (NTP, an operator) is followed at the next
// poll, and one poll every --seconds gives no noise worth smoothing.
//
// Threads: observe() is called by the polling thread only; offset_ms() and now_ms() by
// any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace netkeep::worker {

// The server sets it under the same name (src/api/service.cpp).
inline constexpr std::string_view k_server_time_header = "X-Netkeep-Server-Time";

// Decimal unix milliseconds, as the server writes them; nullopt for anything else
// (a missing header, an older server, a value beyond the year 10000).
std::optional<std::int64_t> parse_server_time(std::string_view value);

class ServerClock {
public:
    // A skew beyond this is logged (once, not at every poll).
    static constexpr std::int64_t k_report_ms = 2000;

    enum class Report {
        none,     // nothing to log
        skewed,   // |skew| passed k_report_ms, or moved by more than k_report_ms since logged
        in_step,  // back within k_report_ms after a report
    };

    // One answer: the server's time in it and the local wall-clock times (unix ms) the
    // request was sent and the answer received.
    Report observe(std::int64_t server_ms, std::int64_t sent_ms, std::int64_t received_ms);

    // server − local, in milliseconds (0 until the first answer).
    std::int64_t offset_ms() const { return offset_.load(std::memory_order_relaxed); }
    // The server's time now, from a local wall-clock reading.
    std::int64_t now_ms(std::int64_t local_ms) const { return local_ms + offset_ms(); }
    // The server's time now, unix milliseconds and whole seconds.
    std::int64_t now_ms() const;
    std::int64_t now_seconds() const;

    // The local wall clock, unix milliseconds.
    static std::int64_t local_ms();

private:
    std::atomic<std::int64_t> offset_{0};
    bool reported_ = false;         // a skew was logged and has not been reported back in step
    std::int64_t reported_ms_ = 0;  // the offset last logged
};

// How long a job may run, from `server_now_ms`: its timeout, but ending half a second
// before its lease expires (in server time), so that the result, a failure for a device
// that hangs, reaches the server while the lease is still held; at least one second
// whatever the lease says.
std::chrono::milliseconds job_budget(std::int64_t timeout_seconds, std::int64_t lease_expires,
                                     std::int64_t server_now_ms);

}  // namespace netkeep::worker
