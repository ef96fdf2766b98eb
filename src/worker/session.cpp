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

}  // namespace

CliSession::CliSession(SessionOptions options, Sink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {}

std::string_view CliSession::current_command() const {
    if ((phase_ == Phase::echo || phase_ == Phase::output || phase_ == Phase::failed) &&
        command_ < options_.commands.size())
        return options_.commands[command_];
    return {};
}

std::string CliSession::take_send() { return std::exchange(send_, {}); }

void CliSession::feed(std::string_view bytes) {
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
        if (phase_ == Phase::output) emit(std::string_view(line_).substr(0, cut));
        line_.erase(0, cut);
        line_flushed_ = true;
    }
}

void CliSession::end_line() {
    switch (phase_) {
        case Phase::echo:
            phase_ = Phase::output;
            break;
        case Phase::output:
            line_ += '\n';
            emit(line_);
            break;
        default:
            break;
    }
    line_.clear();
    line_flushed_ = false;
}

void CliSession::emit(std::string_view bytes) {
    if (finished() || bytes.empty()) return;
    if (bytes.size() > options_.max_output - output_bytes_) {
        fail(fmt::format("too large: more than {} bytes of output (--max-output) while running {}",
                         options_.max_output, json_quote(current_command())));
        return;
    }
    output_bytes_ += bytes.size();
    auto status = sink_(bytes);
    if (!status) fail("output error: " + status.message());
}

void CliSession::after_chunk() {
    if (finished() || cr_pending_ || erase_phase_ != 0) return;
    if (phase_ == Phase::before_prompt && options_.login) {
        const std::size_t cr = line_.rfind('\r');
        std::string_view visible =
            std::string_view(line_).substr(cr == std::string::npos ? 0 : cr + 1);
        if (line_matches(visible, user_prompt())) {
            if (password_sent_) {
                fail("auth failed: the device asked for the user name again after the password");
                return;
            }
            send_ += options_.login->user + options_.newline;
            line_.clear();
            return;
        }
        if (line_matches(visible, password_prompt())) {
            send_ += options_.login->pass + options_.newline;
            password_sent_ = true;
            line_.clear();
            return;
        }
    }
    if (phase_ == Phase::before_prompt || phase_ == Phase::output) {
        if (auto at = options_.pager.match_suffix(line_)) {
            line_.resize(*at);
            send_ += ' ';
            erase_phase_ = 1;
            erase_n_ = 0;
        }
    }
}

bool CliSession::wants_quiet() const {
    if (phase_ != Phase::before_prompt && phase_ != Phase::output) return false;
    if (cr_pending_ || erase_phase_ != 0 || line_flushed_) return false;
    return options_.prompt.matches(line_);
}

void CliSession::quiet() {
    if (!wants_quiet()) return;
    if (phase_ == Phase::before_prompt) {
        command_ = 0;
        start_command();
        return;
    }
    // phase_ == output: the last line is the prompt, not output.
    line_.clear();
    if (++command_ < options_.commands.size()) {
        start_command();
    } else {
        phase_ = Phase::done;
    }
}

void CliSession::start_command() {
    if (command_ >= options_.commands.size()) {
        phase_ = Phase::done;
        return;
    }
    send_ += options_.commands[command_] + options_.newline;
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
    fail(fmt::format("disconnected mid-output: {} while running {} after {} bytes of output", why,
                     json_quote(current_command()), output_bytes_));
}

void CliSession::fail(std::string failure) {
    if (finished()) return;
    phase_ = Phase::failed;
    failure_ = std::move(failure);
}

}  // namespace netkeep::worker
