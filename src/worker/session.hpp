#pragma once
// The CLI conversation with a device, as a pure state machine: bytes in, bytes to send
// and output lines out, no sockets and no clocks. The drivers (SSH, telnet) feed it what
// they read and call quiet() when no byte arrived for the quiet period while
// wants_quiet() held; tests feed it transcripts split at every position.
//
// The conversation:
//   1. before the prompt: everything is discarded. With `login` set (telnet), a line
//      ending in "Username:"/"login:" is answered with the user, "Password:" with the
//      password.
//   2. the prompt: the last line matches `prompt` and nothing more arrived for the quiet
//      period. A line inside a config that looks like the prompt is followed at once by
//      more output, so it never stays quiet; the quiet period is what tells them apart.
//   3. for each command: send it + newline; drop the echoed command line (everything up
//      to the first '\n'); pass each further line to the sink with "\r\n" turned into
//      "\n"; a pager prompt at the end of what was received is removed and answered
//      with a space, and the erase sequence that follows (n backspaces, up to n spaces,
//      up to n backspaces, as IOS sends) is dropped; the command ends when the prompt
//      is seen (as in 2), and that last line is dropped.
//   4. done after the last command's prompt.
//
// Only the current, unfinished line is kept in memory (at most about 64 KiB of it), so
// output of any size streams through to the sink.
//
// Threads: one session per job, used by one thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/status.hpp"
#include "worker/pattern.hpp"

namespace netkeep::worker {

struct Login {
    std::string user;
    std::string pass;
};

struct SessionOptions {
    std::vector<std::string> commands;
    Pattern prompt;
    Pattern pager;
    std::string newline = "\n";
    std::optional<Login> login;  // answer Username:/Password: prompts (telnet)
    // The most output a job may produce (netkeep-worker --max-output): one byte more and
    // the session fails "too large: ..." before that byte reaches the sink. A device that
    // streams without end then costs bounded disk and ends long before the timeout.
    std::uint64_t max_output = UINT64_MAX;
};

class CliSession {
public:
    // Receives the output, in order, a line (or a piece of a very long line) at a time.
    // An error from it fails the session.
    using Sink = std::function<Status(std::string_view)>;

    enum class Phase { before_prompt, echo, output, done, failed };

    CliSession(SessionOptions options, Sink sink);

    // Bytes received from the device (telnet commands already removed).
    void feed(std::string_view bytes);
    // True when the last line looks like the prompt: the driver calls quiet() once no byte
    // has arrived for the quiet period.
    bool wants_quiet() const;
    void quiet();
    // The device closed the connection (or the transport failed): fails unless done.
    void eof(std::string_view detail = {});
    // Fails the session from outside (timeouts), unless it is already finished.
    void fail(std::string failure);

    // What to send to the device now (emptied by the call).
    std::string take_send();

    Phase phase() const { return phase_; }
    bool finished() const { return phase_ == Phase::done || phase_ == Phase::failed; }
    // The failure text (docs/worker.md#failures) once phase() is failed.
    const std::string& failure() const { return failure_; }
    // The command running now ("" before the first), for messages.
    std::string_view current_command() const;
    // The last line received so far, for "prompt not seen" messages.
    std::string_view last_line() const { return line_; }
    std::uint64_t output_bytes() const { return output_bytes_; }
    const Pattern& prompt() const { return options_.prompt; }

private:
    void byte(char c);
    void end_line();
    void after_chunk();
    void start_command();
    void emit(std::string_view bytes);
    bool erase_byte(char c);  // true when c belonged to a pager's erase sequence

    SessionOptions options_;
    Sink sink_;
    Phase phase_ = Phase::before_prompt;
    std::string failure_;
    std::string send_;
    std::string line_;           // the current line, "\r\n" already folded
    bool cr_pending_ = false;    // a '\r' was the last byte: it may start "\r\n"
    bool line_flushed_ = false;  // part of the current line went to the sink already
    std::size_t command_ = 0;    // index of the running command
    bool password_sent_ = false;
    std::uint64_t output_bytes_ = 0;
    // Pager erase sequence: phase 0 none, 1 backspaces, 2 spaces, 3 backspaces.
    int erase_phase_ = 0;
    std::size_t erase_n_ = 0, erase_count_ = 0;
};

}  // namespace netkeep::worker
