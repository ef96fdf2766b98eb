#pragma once
// The CLI conversation with a device, as a pure state machine: bytes in, bytes to send
// and output lines out, no sockets and no clocks. The drivers (SSH, telnet) feed it what
// they read and call quiet() when no byte arrived for the quiet period while
// wants_quiet() held; tests feed it transcripts split at every position.
//
// The conversation (docs/worker.md#the-session):
//   1. login: everything is discarded. With `login` set (telnet), a line ending in
//      "Username:"/"login:" is answered with the user, "Password:" with the password.
//      Expect rules and the pager are answered.
//   2. the prompt is learned: when the last (unfinished) line matches `prompt`, a probe
//      (a bare newline) is sent; the device answers it with a line end and its prompt
//      again, so a completed line equal to the unfinished last line, while the probe is
//      pending, confirms that exact text as the prompt ("core-sw-1#").
//   3. enable (when configured): the enable command, its password, and the prompt is
//      learned again; a prompt that still matches `when_prompt` fails the session.
//   4. each setup step, then each command: send it + newline; drop the echoed command line
//      (everything up to the first '\n'); pass each further line to the sink with "\r\n"
//      turned into "\n" (setup output is dropped); pagers and expect rules are answered.
//      The command ends when the last line equals the learned prompt and a probe confirms
//      it (a completed line equal to the prompt followed by the prompt again). Completed
//      lines equal to the prompt are held back and emitted when anything else follows.
//   5. done after the last command's prompt.
// A device that never answers a probe: the quiet period (quiet()) confirms the prompt
// instead, and probes stop for the rest of the session (the documented fallback).
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

struct Expect {
    Pattern pattern;
    std::string answer;
};

struct Enable {
    std::string command;
    Pattern password_prompt;
    std::optional<Pattern> when_prompt;  // run only when the learned prompt matches it
    std::optional<std::string> secret;   // credentials.enable; absent: an empty line
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
    std::vector<std::string> setup = {};  // run before `commands`, output discarded
    std::vector<Expect> expect = {};
    std::optional<Enable> enable = {};  // run after login, when it applies (contract §2)
    bool strip_ansi = false;
    // Confirm prompts with a probe newline; false: only the quiet period does (as before
    // issue 13; the tests of the fallback use it).
    bool probe = true;
};

// Removes VT100/ANSI escape sequences from a byte stream: CSI (ESC [ ... final byte), OSC
// (ESC ] ... BEL or ESC \), and ESC + intermediates + one byte. The state is a few
// integers whatever arrives; an over-long sequence is given up and its bytes pass.
class AnsiFilter {
public:
    void filter(std::string_view in, std::string& out);

private:
    enum class State { text, esc, csi, osc, osc_esc };
    void byte(char c, std::string& out);
    State state_ = State::text;
    std::size_t length_ = 0;
};

class CliSession {
public:
    // Receives the output, in order, a line (or a piece of a very long line) at a time.
    // An error from it fails the session.
    using Sink = std::function<Status(std::string_view)>;

    static constexpr std::size_t k_max_answers = 1000;  // expect answers per session

    enum class Phase { before_prompt, enable, echo, output, done, failed };

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
    // The last line as failure texts show it: what a terminal shows of it, its last 80
    // bytes, quoted, with the password and the enable secret masked as "***".
    std::string shown_last_line() const;
    std::uint64_t output_bytes() const { return output_bytes_; }
    const Pattern& prompt() const { return options_.prompt; }
    // The exact prompt learned at login (after enable, the privileged one); "" before.
    const std::string& learned_prompt() const { return prompt_; }
    // Whether the device answered the probes (false once the quiet period had to decide).
    bool probing() const { return probing_; }

private:
    void process(std::string_view bytes);
    void byte(char c);
    void end_line();
    void after_chunk();
    bool answer_login();
    bool answer_pager_or_expect();
    void learn_prompt();
    void learned(std::string prompt);
    void check_command_end();
    void start_step(std::size_t step);
    void next_step();
    std::string_view step_text(std::size_t step) const;
    bool discarding() const { return step_ < options_.setup.size(); }
    // After a login probe that only the quiet period confirmed, the enable command's echo
    // has not come yet: until it does, a line end and the old prompt are the probe's late
    // answer, not the result of enable.
    bool waiting_for_enable_echo() const { return phase_ == Phase::enable && late_probe_; }
    void flush_held();
    void emit(std::string_view bytes);
    void send_probe();
    bool erase_byte(char c);  // true when c belonged to a pager's erase sequence

    SessionOptions options_;
    Sink sink_;
    Phase phase_ = Phase::before_prompt;
    Phase failed_in_ = Phase::before_prompt;  // the phase fail() ended, for messages
    std::string failure_;
    std::string send_;
    AnsiFilter ansi_;
    std::string filtered_;       // feed()'s bytes after the ANSI filter
    std::string line_;           // the current line, "\r\n" already folded
    bool cr_pending_ = false;    // a '\r' was the last byte: it may start "\r\n"
    bool line_flushed_ = false;  // part of the current line went to the sink already
    std::size_t step_ = 0;       // index into setup + commands
    bool password_sent_ = false;
    bool enable_password_sent_ = false;
    std::size_t answers_ = 0;
    std::uint64_t output_bytes_ = 0;
    std::uint64_t counted_bytes_ = 0;  // output_bytes_ plus what setup steps printed
    // Prompt learning and confirmation.
    std::string prompt_;
    bool probing_ = true;
    bool probe_pending_ = false;
    bool late_probe_ = false;  // a probe went unanswered: its answer may still come
    std::optional<std::string> last_completed_;  // while learning: the last line's visible text
    std::vector<std::string> held_;              // completed output lines equal to the prompt
    // Pager erase sequence: phase 0 none, 1 backspaces, 2 spaces, 3 backspaces.
    int erase_phase_ = 0;
    std::size_t erase_n_ = 0, erase_count_ = 0;
};

}  // namespace netkeep::worker
