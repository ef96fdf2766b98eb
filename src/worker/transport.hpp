#pragma once
// A byte stream to a device's CLI (an SSH channel on a PTY, or telnet data), and the loop
// that runs a CliSession over one with the job's clocks.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"
#include "worker/session.hpp"

namespace netkeep::worker {

struct ReadResult {
    std::size_t n = 0;  // bytes placed in the buffer; 0 without eof: nothing yet
    bool eof = false;   // the device closed the stream
};

class Transport {
public:
    virtual ~Transport() = default;
    // Waits at most `timeout` for bytes. May return 0 bytes early (e.g. after telnet
    // negotiation only). An error means the stream is unusable.
    virtual Result<ReadResult> read(char* buffer, std::size_t size,
                                    std::chrono::milliseconds timeout) = 0;
    virtual Status write(std::string_view bytes) = 0;
};

struct Clocks {
    std::chrono::steady_clock::time_point deadline;  // the job's total timeout
    std::int64_t timeout_seconds = 0;                // the same, for messages
    std::chrono::milliseconds idle{30000};           // longest wait for the next byte
    std::chrono::milliseconds quiet{200};            // silence that confirms a prompt
};

// Runs `session` over `transport` until it is finished. Timeouts fail the session with
// "prompt not seen: ..." (no prompt yet) or "timed out: ..." (during a command).
void drive(Transport& transport, CliSession& session, const Clocks& clocks);

}  // namespace netkeep::worker
