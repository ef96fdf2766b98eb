#include "cli.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace netkeep::fake_device {
namespace {

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > start) words.push_back(line.substr(start, i - start));
    }
    return words;
}

// IOS accepts unambiguous abbreviations: "sh run", "term len 0".
bool abbreviates(std::string_view word, std::string_view keyword, std::size_t min_len) {
    return word.size() >= min_len && word.size() <= keyword.size() &&
           keyword.substr(0, word.size()) == word;
}

std::string show_version(std::string_view name) {
    std::string out =
        "Cisco IOS Software, netkeep fake device, Version 15.2(7)E7, RELEASE SOFTWARE (fc2)\n"
        "Technical Support: docs/fake-device.md\n\n";
    out += name;
    out += " uptime is 1 week, 2 days, 3 hours, 4 minutes\n";
    out += "System image file is \"flash:fake-device.bin\"\n\n";
    out += "cisco WS-C3850-48P (fake) processor with 786432K bytes of memory.\n";
    out += "Configuration register is 0x102\n";
    return out;
}

// What `show vtp status` and `show inventory` answer: the other commands of the usual
// IOS backup (Oxidized's model sends them), short and fixed, so that benchmarks time the
// commands a real job runs rather than the invalid-input path.
std::string show_vtp_status() {
    return "VTP Version capable             : 1 to 3\n"
           "VTP version running             : 2\n"
           "VTP Domain Name                 : NETKEEP\n"
           "VTP Operating Mode              : Transparent\n"
           "Number of existing VLANs        : 12\n";
}

std::string show_inventory(std::string_view name) {
    std::string out = "NAME: \"1\", DESCR: \"WS-C3850-48P (fake)\"\n";
    out += "PID: WS-C3850-48P      , VID: V07  , SN: FAKE";
    out += name;
    out += "\n\nNAME: \"Switch 1 - Power Supply A\", DESCR: \"Switch 1 - Power Supply A\"\n";
    out += "PID: PWR-C1-715WAC    , VID: V02  , SN: FAKEPSU1\n";
    return out;
}

constexpr std::size_t k_max_line = 4096;  // longer input lines are cut, as on a terminal

// The CSI codes of the ANSI personalities (procurve, aoscx, routeros): a scroll region and
// cursor position at login, cursor moves and line clears around prompts and output lines,
// as those boxes send them.
constexpr std::string_view k_ansi_setup = "\x1b[1;24r\x1b[24;1H";
constexpr std::string_view k_ansi_before_prompt = "\x1b[24;1H\x1b[K";
constexpr std::string_view k_ansi_after_prompt = "\x1b[?25h";
constexpr std::string_view k_ansi_line = "\x1b[K";
constexpr std::string_view k_ansi_pager_end = "\x1b[m";

std::string crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 16);
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

}  // namespace

Cli::Cli(std::string name, Config_source config, bool skip_lf)
    : name_(std::move(name)),
      fault_(fault_of(name_)),
      config_(std::move(config)),
      personality_(find_personality(name_)),
      after_cr_(skip_lf) {
    if (!personality_) return;
    const Personality& p = *personality_;
    prompt_ = privileged_prompt(p, name_);
    user_prompt_ = p.user_prompt.empty() ? prompt_ : expand(p.user_prompt, name_);
    privileged_ = p.user_prompt.empty();
    pager_ = std::string(p.pager);
    // Erased the IOS way (backspaces, spaces, backspaces), which clients already handle.
    pager_erase_ = std::string(pager_.size(), '\b') + std::string(pager_.size(), ' ') +
                   std::string(pager_.size(), '\b');
    if (pager_.empty() || !p.pager_on) page_lines_ = 0;
    if (!p.accept.empty()) mode_ = Mode::accept;
}

std::string Cli::greeting() const {
    if (!personality_) return "\r\nnetkeep fake device " + name_ + "\r\n\r\n" + prompt();
    const Personality& p = *personality_;
    std::string out;
    if (p.ansi) out += k_ansi_setup;
    out += crlf(expand(p.banner, name_));
    if (!p.accept.empty()) {
        out += p.accept;  // the prompt comes once it is answered (on_accept_char)
        return out;
    }
    put_prompt(out);
    return out;
}

void Cli::put_prompt(std::string& out) const {
    if (personality_ && personality_->ansi) {
        out += k_ansi_before_prompt;
        out += prompt();
        out += k_ansi_after_prompt;
        return;
    }
    out += prompt();
}

void Cli::feed(std::string_view input) {
    if (input_pos_ == input_.size()) {
        input_.clear();
        input_pos_ = 0;
    }
    input_.append(input);
}

bool Cli::take_input(char& c) {
    if (input_pos_ == input_.size()) return false;
    c = input_[input_pos_++];
    return true;
}

Step Cli::step(std::size_t max_bytes) {
    Step step;
    std::string& out = step.bytes;
    while (true) {
        char c = 0;
        switch (mode_) {
            case Mode::line:
                if (!take_input(c)) {
                    step.next = Next::read;
                    return step;
                }
                on_line_char(c, out);
                break;
            case Mode::more: {
                if (!take_input(c)) {
                    step.next = Next::read;
                    return step;
                }
                on_more_char(c, out);
                break;
            }
            case Mode::output:
                if (!emit_output(out, max_bytes, step.next)) return step;
                break;
            case Mode::accept:
            case Mode::password:
                if (!take_input(c)) {
                    step.next = Next::read;
                    return step;
                }
                if (mode_ == Mode::accept)
                    on_accept_char(c, out);
                else
                    on_password_char(c, out);
                break;
            case Mode::hanging:
                step.next = Next::hang;
                return step;
            case Mode::closed:
                step.next = Next::close;
                return step;
        }
    }
}

bool Cli::emit_output(std::string& out, std::size_t max_bytes, Next& next) {
    while (text_pos_ < text_.size()) {
        if (page_lines_ != 0 && lines_on_page_ == page_lines_) {
            out += pager_;
            if (personality_ && personality_->ansi) out += k_ansi_pager_end;
            mode_ = Mode::more;
            return true;
        }
        if (personality_ && personality_->ansi) out += k_ansi_line;
        auto nl = text_.find('\n', text_pos_);
        const std::size_t end = nl == std::string::npos ? text_.size() : nl;
        out.append(text_, text_pos_, end - text_pos_);
        if (nl != std::string::npos) out += "\r\n";
        text_pos_ = nl == std::string::npos ? text_.size() : nl + 1;
        ++lines_on_page_;
        if (drop_at_ != 0 && text_pos_ >= drop_at_) {
            mode_ = Mode::closed;
            next = Next::close;
            return false;
        }
        if (text_pos_ == text_.size()) break;
        if (slow_) {
            next = Next::pause;
            return false;
        }
        if (out.size() >= max_bytes) {
            next = Next::step;
            return false;
        }
    }
    text_.clear();
    text_pos_ = 0;
    put_prompt(out);
    mode_ = Mode::line;
    return true;
}

void Cli::on_more_char(char c, std::string& out) {
    const bool lf_of_crlf = after_cr_ && c == '\n';
    after_cr_ = c == '\r';
    if (lf_of_crlf || c == '\0') return;
    out += pager_erase_;
    if (c == 'q' || c == 'Q' || c == '\x03') {
        text_.clear();
        put_prompt(out);
        mode_ = Mode::line;
        return;
    }
    // ProCurve's "next line: Enter": one more line, then the pager again.
    const bool one_line =
        personality_ && personality_->pager_enter_line && (c == '\r' || c == '\n');
    lines_on_page_ = one_line ? page_lines_ - 1 : 0;
    mode_ = Mode::output;
}

void Cli::on_line_char(char c, std::string& out) {
    const bool lf_of_crlf = after_cr_ && c == '\n';
    after_cr_ = c == '\r';
    if (lf_of_crlf || c == '\0') return;

    const auto u = static_cast<unsigned char>(c);
    if (escape_ == Escape::esc) {  // ESC [ ... or ESC O x: cursor keys, ignored
        escape_ = (c == '[' || c == 'O') ? Escape::csi : Escape::none;
        return;
    }
    if (escape_ == Escape::csi) {
        if (u >= 0x40 && u <= 0x7e) escape_ = Escape::none;
        return;
    }
    switch (c) {
        case '\r':
        case '\n': {
            out += "\r\n";
            std::string line = std::move(line_);
            line_.clear();
            execute(line, out);
            return;
        }
        case '\b':
        case '\x7f':
            if (!line_.empty()) {
                line_.pop_back();
                out += "\b \b";
            }
            return;
        case '\x15':  // ^U: erase the line
            for (std::size_t i = 0; i < line_.size(); ++i) out += "\b \b";
            line_.clear();
            return;
        case '\x1b':
            escape_ = Escape::esc;
            return;
        default:
            break;
    }
    if (u < 0x20 || line_.size() >= k_max_line) return;  // other control keys do nothing
    line_ += c;
    out += c;
}

void Cli::execute(std::string_view line, std::string& out) {
    if (personality_) {
        execute_personality(line, out);
        return;
    }
    const auto words = split_words(line);
    if (words.empty()) {
        put_prompt(out);
        return;
    }
    const auto w = [&](std::size_t i) { return i < words.size() ? words[i] : std::string_view{}; };

    if (words.size() == 3 && abbreviates(w(0), "terminal", 3) && abbreviates(w(1), "width", 1)) {
        // Accepted and ignored: lines are never wrapped here.
        put_prompt(out);
        return;
    }
    if (words.size() == 3 && abbreviates(w(0), "show", 2) && abbreviates(w(1), "vtp", 3) &&
        abbreviates(w(2), "status", 1)) {
        start_output(show_vtp_status(), Fault::none, out);
        return;
    }
    if (words.size() == 3 && abbreviates(w(0), "terminal", 3) && abbreviates(w(1), "length", 1)) {
        std::size_t n = 0;
        auto [ptr, ec] = std::from_chars(w(2).data(), w(2).data() + w(2).size(), n);
        if (ec == std::errc{} && ptr == w(2).data() + w(2).size() && n <= 512) {
            page_lines_ = n;
            put_prompt(out);
            return;
        }
    } else if (words.size() == 2 && abbreviates(w(0), "show", 2)) {
        if (abbreviates(w(1), "running-config", 3)) {
            if (fault_ == Fault::hang) {
                mode_ = Mode::hanging;
                return;
            }
            start_output(config_(), fault_, out);
            return;
        }
        if (abbreviates(w(1), "version", 1)) {
            start_output(show_version(name_), Fault::none, out);
            return;
        }
        if (abbreviates(w(1), "inventory", 3)) {
            start_output(show_inventory(name_), Fault::none, out);
            return;
        }
    } else if (words.size() == 1 && (abbreviates(w(0), "exit", 3) || w(0) == "quit")) {
        mode_ = Mode::closed;
        return;
    }
    out += k_invalid_input;
    out += "\r\n";
    put_prompt(out);
}

void Cli::start_output(std::string text, Fault fault, std::string& out) {
    text_ = std::move(text);
    text_pos_ = 0;
    lines_on_page_ = 0;
    slow_ = fault == Fault::slow;
    drop_at_ = fault == Fault::drop ? std::max<std::size_t>(text_.size() / 2, 1) : 0;
    mode_ = Mode::output;
    if (text_.empty()) {
        put_prompt(out);
        mode_ = Mode::line;
    }
}

namespace {

bool exit_command(std::string_view command) {
    return command == "exit" || command == "quit" || command == "logout" || command == "/quit";
}

// The vendor's answer to an unknown command: {cmd} is the command's first word.
std::string unknown_command(const Personality& p, std::string_view command) {
    std::string line(p.error);
    const auto at = line.find("{cmd}");
    if (at != std::string::npos) line.replace(at, 5, command.substr(0, command.find(' ')));
    return line;
}

}  // namespace

void Cli::start_config(std::string& out) {
    if (fault_ == Fault::hang) {
        mode_ = Mode::hanging;
        return;
    }
    start_output(config_(), fault_, out);
}

void Cli::execute_personality(std::string_view line, std::string& out) {
    const Personality& p = *personality_;
    const std::string command = normalize_command(line);
    if (command.empty()) {
        put_prompt(out);
        return;
    }
    if (exit_command(command)) {
        mode_ = Mode::closed;
        return;
    }
    const Command* c = find_command(p, command);
    // Unprivileged, a real box refuses the config command as if it did not exist.
    if (c && c->action == Action::config && !privileged_) c = nullptr;
    if (!c) {
        out += unknown_command(p, command);
        out += "\r\n";
        put_prompt(out);
        return;
    }
    switch (c->action) {
        case Action::config:
            start_config(out);
            return;
        case Action::text:
            start_output(expand(c->output, name_), Fault::none, out);
            return;
        case Action::pager_off:
            page_lines_ = 0;
            break;
        case Action::noop:
            break;
        case Action::enable:
            // Already privileged (and the prompt would not change): nothing to ask.
            if (privileged_ && user_prompt_ != prompt_) break;
            out += "Password: ";
            password_.clear();
            mode_ = Mode::password;
            return;
    }
    put_prompt(out);
}

void Cli::on_password_char(char c, std::string& out) {
    const bool lf_of_crlf = after_cr_ && c == '\n';
    after_cr_ = c == '\r';
    if (lf_of_crlf || c == '\0') return;
    if (c != '\r' && c != '\n') {
        // Not echoed; bounded like a command line.
        if (password_.size() < k_max_line) password_ += c;
        return;
    }
    out += "\r\n";
    if (password_ == k_enable_secret) {
        privileged_ = true;
    } else {
        out += personality_->enable_error;
        out += "\r\n";
    }
    password_.clear();
    mode_ = Mode::line;
    put_prompt(out);
}

void Cli::on_accept_char(char c, std::string& out) {
    // The rest of a telnet login's \r\n (or \r\0) is not the key being asked for.
    const bool lf_of_crlf = after_cr_ && c == '\n';
    after_cr_ = false;
    if (lf_of_crlf || c == '\0') return;
    const char key = personality_->accept_key;
    if (key != 0 && c != key) return;  // FortiOS waits for exactly 'a'
    if (key != 0) out += c;            // ...and echoes it
    out += "\r\n";
    // The \n of a \r\n answer is the rest of this key, not an empty command line.
    after_cr_ = c == '\r';
    mode_ = Mode::line;
    put_prompt(out);
}

Cli::Exec_result Cli::exec(std::string_view line) {
    Exec_result result;
    const std::string command = normalize_command(line);
    const Command* c = personality_ ? find_command(*personality_, command) : nullptr;
    if (!c || c->action == Action::enable) {
        result.err = (personality_ ? unknown_command(*personality_, command)
                                   : std::string(k_invalid_input)) +
                     "\n";
        result.status = 1;
        return result;
    }
    if (c->action == Action::config) {
        if (fault_ == Fault::hang) {
            result.hang = true;
            return result;
        }
        result.out = config_();
    } else if (c->action == Action::text) {
        result.out = expand(c->output, name_);
    }
    return result;
}

}  // namespace netkeep::fake_device
