#include "telnet.hpp"

namespace netkeep::fake_device {
namespace {

constexpr unsigned char k_se = 240;
constexpr unsigned char k_sb = 250;
constexpr unsigned char k_will = 251;
constexpr unsigned char k_dont = 254;

}  // namespace

std::string Telnet_filter::feed(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        switch (state_) {
            case State::data:
                if (c == k_iac)
                    state_ = State::iac;
                else
                    out += ch;
                break;
            case State::iac:
                if (c == k_iac) {
                    out += ch;
                    state_ = State::data;
                } else if (c >= k_will && c <= k_dont) {
                    state_ = State::option;
                } else if (c == k_sb) {
                    state_ = State::sub;
                } else {
                    state_ = State::data;  // NOP, GA, AYT, ...: two bytes
                }
                break;
            case State::option:
                state_ = State::data;
                break;
            case State::sub:
                if (c == k_iac) state_ = State::sub_iac;
                break;
            case State::sub_iac:
                state_ = c == k_se ? State::data : State::sub;
                break;
        }
    }
    return out;
}

std::string telnet_escape(std::string_view data) {
    std::string out;
    out.reserve(data.size());
    for (char ch : data) {
        out += ch;
        if (static_cast<unsigned char>(ch) == k_iac) out += ch;
    }
    return out;
}

std::string Telnet_login::greeting() { return "\r\nUser Access Verification\r\n\r\nUsername: "; }

Telnet_login::Progress Telnet_login::feed(std::string_view input) {
    Progress progress;
    std::string& out = progress.bytes;
    for (std::size_t i = 0; i < input.size() && state_ == State::pending; ++i) {
        const char c = input[i];
        const bool lf_of_crlf = after_cr_ && c == '\n';
        after_cr_ = c == '\r';
        if (lf_of_crlf || c == '\0') continue;
        if (c == '\r' || c == '\n') {
            if (!asking_password_) {
                out += "\r\n";
                if (line_.empty()) {
                    out += "Username: ";
                    continue;
                }
                user_ = std::move(line_);
                line_.clear();
                asking_password_ = true;
                out += "Password: ";
                continue;
            }
            std::string password = std::move(line_);
            line_.clear();
            asking_password_ = false;
            if (check_(user_, password)) {
                state_ = State::done;
                rest_.assign(input.substr(i + 1));
                break;
            }
            user_.clear();
            if (++failures_ >= k_max_failures) {
                out += "\r\n% Authentication failed\r\n";
                state_ = State::failed;
                break;
            }
            out += "\r\n% Authentication failed\r\n\r\nUsername: ";
            continue;
        }
        if (c == '\b' || c == '\x7f') {
            if (!line_.empty()) {
                line_.pop_back();
                if (!asking_password_) out += "\b \b";
            }
            continue;
        }
        if (static_cast<unsigned char>(c) < 0x20 || line_.size() >= 256) continue;
        line_ += c;
        if (!asking_password_) out += c;  // the password is not echoed
    }
    progress.state = state_;
    return progress;
}

}  // namespace netkeep::fake_device
