#pragma once
// The command line of one fake device, as a pure state machine: bytes in (what the client
// typed), bytes out (echo, output, pager prompts) and what the caller must do next. No
// sockets, no clocks: the SSH and telnet servers drive it, the unit tests feed it strings.
// A device named "<platform>--<host>" gets that platform's personality (personality.hpp);
// any other name is the IOS-like device of before issue 13, byte for byte.
//
// Not thread-safe: one Cli belongs to one connection's thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "device.hpp"
#include "personality.hpp"

namespace netkeep::fake_device {

inline constexpr std::size_t k_page_lines = 24;
inline constexpr std::string_view k_more = " --More-- ";
// What IOS sends to wipe the pager prompt before the next page: 9 BS, 9 spaces, 9 BS.
inline constexpr std::string_view k_more_erase = "\b\b\b\b\b\b\b\b\b         \b\b\b\b\b\b\b\b\b";
inline constexpr std::chrono::milliseconds k_slow_line_interval{20};
inline constexpr std::string_view k_invalid_input = "% Invalid input detected at '^' marker.";

// What the caller does after writing Step::bytes.
enum class Next {
    read,   // wait for input, feed() it, then step() again
    step,   // step() again at once: more output is ready
    pause,  // wait k_slow_line_interval, then step() again
    close,  // close the connection (exit, quit, or the drop fault)
    hang,   // send nothing more and do not close; only the client or shutdown ends it
};

struct Step {
    std::string bytes;
    Next next = Next::read;
};

class Cli {
public:
    // The canonical config text (with "\n" line ends); called on every `show run`, so a new
    // generation shows up in the next one.
    using Config_source = std::function<std::string()>;

    // `skip_lf`: the input before this Cli ended with '\r' (a telnet login line), so a '\n'
    // at the very start belongs to that line ending.
    Cli(std::string name, Config_source config, bool skip_lf = false);

    // An SSH exec request's answer (personalities with `exec` only).
    struct Exec_result {
        std::string out;    // stdout, "\n" line ends (no PTY)
        std::string err;    // stderr
        int status = 0;     // the exit status
        bool hang = false;  // hang fault: send nothing, keep the channel open
    };
    // Runs one command the way the device's exec channel does: no prompt, no pager, no echo.
    Exec_result exec(std::string_view command);

    // The banner and the first prompt, sent right after login.
    std::string greeting() const;

    // Queues input; it is processed (and echoed) by step(), in order, once any output in
    // progress is done, as typeahead is on a real device.
    void feed(std::string_view input);

    // Processes queued input and produces output, at most about `max_bytes` of it when a
    // command's output is in progress.
    Step step(std::size_t max_bytes = 64 * 1024);

    // The prompt the device shows now (unprivileged until enable, where the platform has one).
    std::string prompt() const {
        return personality_ ? (privileged_ ? prompt_ : user_prompt_) : name_ + "#";
    }
    bool privileged() const { return privileged_; }
    std::size_t page_lines() const { return page_lines_; }

private:
    enum class Mode { line, output, more, accept, password, hanging, closed };
    enum class Escape { none, esc, csi };

    void on_line_char(char c, std::string& out);
    void on_more_char(char c, std::string& out);
    void execute(std::string_view line, std::string& out);
    void execute_personality(std::string_view line, std::string& out);
    void on_password_char(char c, std::string& out);
    void on_accept_char(char c, std::string& out);
    void put_prompt(std::string& out) const;
    void start_config(std::string& out);
    void start_output(std::string text, Fault fault, std::string& out);
    // Emits output lines into `out`; false when it stopped for the caller (pause/drop/limit).
    bool emit_output(std::string& out, std::size_t max_bytes, Next& next);
    bool take_input(char& c);

    std::string name_;
    Fault fault_;
    Config_source config_;

    // Personality state (personality_ null: the plain IOS-like device).
    const Personality* personality_ = nullptr;
    std::string prompt_;       // privileged
    std::string user_prompt_;  // before enable
    bool privileged_ = true;
    std::string pager_ = std::string(k_more);
    std::string pager_erase_ = std::string(k_more_erase);
    std::string password_;  // the enable password being typed

    std::string input_;
    std::size_t input_pos_ = 0;
    bool after_cr_ = false;  // the last input byte was '\r': a '\n' now is the same line end
    Escape escape_ = Escape::none;
    std::string line_;

    Mode mode_ = Mode::line;
    std::size_t page_lines_ = k_page_lines;  // 0: paging off

    // The command output in progress, with "\n" line ends (sent as "\r\n").
    std::string text_;
    std::size_t text_pos_ = 0;
    std::size_t lines_on_page_ = 0;
    bool slow_ = false;
    std::size_t drop_at_ = 0;  // drop fault: close once text_pos_ reaches it (0: never)
};

}  // namespace netkeep::fake_device
