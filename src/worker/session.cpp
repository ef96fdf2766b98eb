#include "worker/session.hpp"

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::worker {

namespace {

// A line longer than this is passed on in pieces, keeping its last k_line_keep bytes (a
// prompt is never that long, so nothing that could be one is lost).
constexpr std::size_t k_line_cap = 64 * 1024;
constexpr std::size_t k_line_keep = 4 * 1024;

// Login prompts of telnet servers and terminal servers (matched on the last line).
const Regex& user_prompt() {
    static const Regex re = Regex::compile(R"((?i)(?:user ?name|login)\s*:\s*$)").value();
    return re;
}
const Regex& password_prompt() {
    static const Regex re = Regex::compile(R"((?i)password\s*:\s*$)").value();
    return re;
}

bool line_matches(std::string_view line, const Regex& re) {
    if (line.size() > Pattern::k_max_line) return false;
    return re.search(line);
}

// What a terminal shows of a line: the text after its last '\r'.
std::string_view visible(std::string_view line) {
    const std::size_t cr = line.rfind('\r');
    return cr == std::string_view::npos ? line : line.substr(cr + 1);
}

// Escape sequences longer than these are not escape sequences: their bytes pass.
constexpr std::size_t k_max_csi = 64;
constexpr std::size_t k_max_osc = 4096;
// Consecutive output lines equal to the prompt kept back; older ones go to the sink (one
// is enough to recognise a probe's answer).
constexpr std::size_t k_max_held = 16;

}  // namespace

void AnsiFilter::filter(std::string_view in, std::string& out) {
    for (char c : in) byte(c, out);
}

void AnsiFilter::byte(char c, std::string& out) {
    const auto u = static_cast<unsigned char>(c);
    switch (state_) {
        case State::text:
            if (c == '\x1b') {
                state_ = State::esc;
                length_ = 1;
            } else {
                out += c;
            }
            return;
        case State::esc:
            ++length_;
            if (c == '\r' || c == '\n') {
                // A line end never belongs to a sequence: the escape was a stray byte.
                state_ = State::text;
                out += c;
            } else if (c == '[') {
                state_ = State::csi;
            } else if (c == ']') {
                state_ = State::osc;
            } else if (u >= 0x20 && u <= 0x2f && length_ < k_max_csi) {
                // intermediate bytes (ESC ( B): the sequence goes on
            } else {
                state_ = State::text;
            }
            return;
        case State::csi:
            if (u >= 0x40 && u <= 0x7e) {
                state_ = State::text;
            } else if (u < 0x20 || u > 0x7e || ++length_ > k_max_csi) {
                // Not a CSI after all (a line end inside it): the byte is text.
                state_ = State::text;
                byte(c, out);
            }
            return;
        case State::osc:
            if (c == '\r' || c == '\n') {
                // An OSC (a window title) never spans lines: the line end is text.
                state_ = State::text;
                out += c;
            } else if (c == '\a' || ++length_ > k_max_osc) {
                state_ = State::text;
            } else if (c == '\x1b') {
                state_ = State::osc_esc;
            }
            return;
        case State::osc_esc:
            state_ = State::text;
            if (c != '\\') {  // ESC ends the OSC and starts another sequence
                state_ = State::esc;
                length_ = 1;
                byte(c, out);
            }
            return;
    }
}

CliSession::CliSession(SessionOptions options, Sink sink)
    : options_(std::move(options)), sink_(std::move(sink)), probing_(options_.probe) {}

std::string_view CliSession::step_text(std::size_t step) const {
    if (step < options_.setup.size()) return options_.setup[step];
    step -= options_.setup.size();
    if (step < options_.commands.size()) return options_.commands[step];
    return {};
}

std::string_view CliSession::current_command() const {
    const Phase p = phase_ == Phase::failed ? failed_in_ : phase_;
    if (p == Phase::enable) return options_.enable->command;
    if (p == Phase::echo || p == Phase::output) return step_text(step_);
    return {};
}

std::string CliSession::take_send() { return std::exchange(send_, {}); }

void CliSession::feed(std::string_view bytes) {
    if (options_.strip_ansi) {
        filtered_.clear();
        ansi_.filter(bytes, filtered_);
        process(filtered_);
        return;
    }
    process(bytes);
}

void CliSession::process(std::string_view bytes) {
    for (char c : bytes) {
        if (finished()) return;
        byte(c);
    }
    after_chunk();
}

bool CliSession::erase_byte(char c) {
    switch (erase_phase_) {
        case 1:
            if (c == '\b') {
                ++erase_n_;
                return true;
            }
            if (erase_n_ == 0) {  // the device erases nothing: back to normal
                erase_phase_ = 0;
                return false;
            }
            erase_phase_ = 2;
            erase_count_ = 0;
            [[fallthrough]];
        case 2:
            if (c == ' ' && erase_count_ < erase_n_) {
                if (++erase_count_ == erase_n_) {
                    erase_phase_ = 3;
                    erase_count_ = 0;
                }
                return true;
            }
            if (c != '\b') {
                erase_phase_ = 0;
                return false;
            }
            erase_phase_ = 3;
            erase_count_ = 0;
            [[fallthrough]];
        case 3:
            if (c == '\b' && erase_count_ < erase_n_) {
                if (++erase_count_ == erase_n_) erase_phase_ = 0;
                return true;
            }
            erase_phase_ = 0;
            return false;
        default:
            return false;
    }
}

void CliSession::byte(char c) {
    if (erase_phase_ != 0 && erase_byte(c)) return;
    if (cr_pending_) {
        cr_pending_ = false;
        if (c == '\n') {
            end_line();
            return;
        }
        line_ += '\r';
    }
    if (c == '\r') {
        cr_pending_ = true;
        return;
    }
    if (c == '\n') {
        end_line();
        return;
    }
    line_ += c;
    if (line_.size() > k_line_cap) {
        const std::size_t cut = line_.size() - k_line_keep;
        if (phase_ == Phase::output) {
            flush_held();
            emit(std::string_view(line_).substr(0, cut));
        }
        line_.erase(0, cut);
        line_flushed_ = true;
    }
}

void CliSession::end_line() {
    const std::string_view v = visible(line_);
    switch (phase_) {
        case Phase::before_prompt:
        case Phase::enable:
            // After an unanswered login probe the device may still answer it (a line end
            // and the old prompt) before echoing the enable command: not a prompt to learn.
            if (late_probe_) {
                if (!line_flushed_ && (v.empty() || v == prompt_)) break;
                late_probe_ = false;
            }
            if (v.size() <= Pattern::k_max_line) {
                last_completed_ = std::string(v);
            } else {
                last_completed_.reset();
            }
            break;
        case Phase::echo:
            // After an unanswered probe the device may still answer it (a line end and the
            // prompt) before echoing the command: those lines are not output.
            if (late_probe_ && !line_flushed_ && (v.empty() || v == prompt_)) break;
            late_probe_ = false;
            phase_ = Phase::output;
            break;
        case Phase::output:
            if (!line_flushed_ && v == prompt_) {
                // Perhaps the prompt before a probe's answer: decided by what follows.
                if (held_.size() == k_max_held) {
                    emit(held_.front());
                    held_.erase(held_.begin());
                }
                held_.push_back(line_ + '\n');
                break;
            }
            flush_held();
            line_ += '\n';
            emit(line_);
            break;
        default:
            break;
    }
    line_.clear();
    line_flushed_ = false;
}

void CliSession::flush_held() {
    for (const auto& line : held_) emit(line);
    held_.clear();
}

void CliSession::emit(std::string_view bytes) {
    if (finished() || bytes.empty()) return;
    // A setup step's output is not stored but counts against --max-output all the same: a
    // device that streams without end during one fails as early as during a command.
    if (bytes.size() > options_.max_output - counted_bytes_) {
        fail(fmt::format("too large: more than {} bytes of output (--max-output) while running {}",
                         options_.max_output, json_quote(current_command())));
        return;
    }
    counted_bytes_ += bytes.size();
    if (discarding()) return;
    output_bytes_ += bytes.size();
    auto status = sink_(bytes);
    if (!status) fail("output error: " + status.message());
}

// The last line for a failure text: the password and the enable secret masked in the raw
// line, before it is cut to its last 80 bytes and quoted, so neither an escaped form nor a
// piece of a secret at the cut can reach a failure text (and from there the log).
std::string CliSession::shown_last_line() const {
    std::string line(visible(line_));
    for (const std::optional<std::string>& secret :
         {options_.login ? std::optional<std::string>(options_.login->pass) : std::nullopt,
          options_.enable ? options_.enable->secret : std::nullopt}) {
        if (!secret || secret->empty()) continue;
        for (auto at = line.find(*secret); at != std::string::npos; at = line.find(*secret, at + 3))
            line.replace(at, secret->size(), "***");
    }
    std::string_view shown = line;
    if (shown.size() > 80) shown = shown.substr(shown.size() - 80);
    return json_quote(shown);
}

void CliSession::send_probe() {
    if (!probing_ || probe_pending_) return;
    send_ += options_.newline;
    probe_pending_ = true;
}

bool CliSession::answer_login() {
    const std::string_view v = visible(line_);
    if (line_matches(v, user_prompt())) {
        if (password_sent_) {
            fail("auth failed: the device asked for the user name again after the password");
            return true;
        }
        send_ += options_.login->user + options_.newline;
        line_.clear();
        return true;
    }
    if (line_matches(v, password_prompt())) {
        send_ += options_.login->pass + options_.newline;
        password_sent_ = true;
        line_.clear();
        return true;
    }
    return false;
}

// The pager, then the expect rules, on the unfinished last line. True when one answered.
bool CliSession::answer_pager_or_expect() {
    if (auto at = options_.pager.match_suffix(line_)) {
        line_.resize(*at);
        send_ += ' ';
        erase_phase_ = 1;
        erase_n_ = 0;
        return true;
    }
    // Expect rules answer login extras (banners, disclaimers, "press any key"): only before
    // the prompt and during enable. During a command the unfinished last line is output,
    // cut wherever a read ended, and answering it would cut text out of the config and
    // type into the device.
    if (phase_ == Phase::output) return false;
    for (const auto& rule : options_.expect) {
        auto at = rule.pattern.match_suffix(line_);
        if (!at) continue;
        if (++answers_ > k_max_answers) {
            fail(
                fmt::format("too many prompts answered: more than {} answers to expect rules in "
                            "one session; last line: {}",
                            k_max_answers, shown_last_line()));
            return true;
        }
        line_.resize(*at);
        send_ += rule.answer;
        return true;
    }
    return false;
}

void CliSession::after_chunk() {
    if (finished() || cr_pending_ || erase_phase_ != 0) return;
    if (phase_ == Phase::before_prompt && options_.login && answer_login()) return;
    if (phase_ == Phase::echo) return;
    if (answer_pager_or_expect()) return;
    if (phase_ == Phase::output) {
        check_command_end();
    } else {
        learn_prompt();
    }
}

// Login and enable: a last line matching the prompt pattern is probed, and learned once
// the device repeats it on the next line.
void CliSession::learn_prompt() {
    if (line_flushed_ || waiting_for_enable_echo()) return;
    if (phase_ == Phase::enable) {
        if (options_.enable->password_prompt.matches(line_)) {
            if (enable_password_sent_) {
                fail(
                    fmt::format("enable failed: the device asked for the password again after "
                                "{} (wrong enable secret?)",
                                json_quote(options_.enable->command)));
                return;
            }
            send_ += options_.enable->secret.value_or("") + options_.newline;
            enable_password_sent_ = true;
            line_.clear();
            return;
        }
    }
    if (!options_.prompt.matches(line_)) return;
    const std::string_view v = visible(line_);
    if (probe_pending_ && last_completed_ && *last_completed_ == v) {
        probe_pending_ = false;
        learned(std::string(v));
        return;
    }
    send_probe();
}

void CliSession::learned(std::string prompt) {
    prompt_ = std::move(prompt);
    line_.clear();
    last_completed_.reset();
    if (phase_ == Phase::before_prompt && options_.enable) {
        const Enable& e = *options_.enable;
        const bool wanted = e.when_prompt ? e.when_prompt->matches(prompt_) : e.secret.has_value();
        if (wanted) {
            send_ += e.command + options_.newline;
            phase_ = Phase::enable;
            return;
        }
    } else if (phase_ == Phase::enable && options_.enable->when_prompt &&
               options_.enable->when_prompt->matches(prompt_)) {
        fail(fmt::format("enable failed: the prompt is still {} after {}", json_quote(prompt_),
                         json_quote(options_.enable->command)));
        return;
    }
    start_step(0);
}

// During a command: the last line equal to the prompt is probed; the command ends once a
// held prompt line is followed by the prompt again, with the probe pending.
void CliSession::check_command_end() {
    if (line_flushed_ || visible(line_) != prompt_) return;
    if (probe_pending_ && !held_.empty()) {
        probe_pending_ = false;
        held_.pop_back();  // the prompt the probe's line end completed
        flush_held();
        if (finished()) return;
        next_step();
        return;
    }
    send_probe();
}

bool CliSession::wants_quiet() const {
    if (phase_ != Phase::before_prompt && phase_ != Phase::enable && phase_ != Phase::output)
        return false;
    if (cr_pending_ || erase_phase_ != 0 || line_flushed_ || waiting_for_enable_echo())
        return false;
    // During a command also a line that only matches the pattern: a command that changed
    // the prompt (FortiOS "config global") ends after the quiet period, as before probes.
    if (phase_ == Phase::output && visible(line_) == prompt_) return true;
    return options_.prompt.matches(line_);
}

// The fallback: silence confirms the prompt. A device that did not answer a probe is not
// probed again.
void CliSession::quiet() {
    if (!wants_quiet()) return;
    if (probe_pending_) {
        late_probe_ = true;
        probe_pending_ = false;
        probing_ = false;
    }
    if (phase_ != Phase::output) {
        learned(std::string(visible(line_)));
        return;
    }
    // The last line is the prompt (perhaps a new one), not output; the held ones were.
    prompt_ = std::string(visible(line_));
    flush_held();
    if (finished()) return;
    next_step();
}

void CliSession::next_step() {
    line_.clear();
    start_step(step_ + 1);
}

void CliSession::start_step(std::size_t step) {
    step_ = step;
    held_.clear();
    if (step_ >= options_.setup.size() + options_.commands.size()) {
        phase_ = Phase::done;
        return;
    }
    send_ += std::string(step_text(step_)) + options_.newline;
    phase_ = Phase::echo;
    line_.clear();
    line_flushed_ = false;
}

void CliSession::eof(std::string_view detail) {
    if (finished()) return;
    const std::string why =
        detail.empty() ? std::string("the device closed the connection") : std::string(detail);
    if (phase_ == Phase::before_prompt) {
        if (password_sent_) {
            fail(fmt::format("auth failed: {} after the password", why));
        } else {
            fail(fmt::format("prompt not seen: {} before a prompt matching {}", why,
                             options_.prompt.describe()));
        }
        return;
    }
    if (phase_ == Phase::enable) {
        fail(fmt::format("enable failed: {} after {}", why, json_quote(options_.enable->command)));
        return;
    }
    fail(fmt::format("disconnected mid-output: {} while running {} after {} bytes of output", why,
                     json_quote(current_command()), output_bytes_));
}

void CliSession::fail(std::string failure) {
    if (finished()) return;
    failed_in_ = phase_;
    phase_ = Phase::failed;
    failure_ = std::move(failure);
}

}  // namespace netkeep::worker
