#include "worker/telnet.hpp"

namespace netkeep::worker::telnet {

namespace {
void put(std::string& out, unsigned char command, unsigned char option) {
    out += char(k_iac);
    out += char(command);
    out += char(option);
}
}  // namespace

void Filter::negotiate(unsigned char command, unsigned char option, std::string& reply) {
    switch (command) {
        case k_will:
            if (option == k_opt_echo || option == k_opt_sga) {
                if (!remote_on_[option]) {
                    remote_on_[option] = true;
                    put(reply, k_do, option);
                }
            } else if (!refused_will_[option]) {
                refused_will_[option] = true;
                put(reply, k_dont, option);
            }
            break;
        case k_wont:
            if (remote_on_[option]) {  // the server turns off what we accepted: acknowledge
                remote_on_[option] = false;
                put(reply, k_dont, option);
            }
            break;
        case k_do:
            if (!refused_do_[option]) {
                refused_do_[option] = true;
                put(reply, k_wont, option);
            }
            break;
        case k_dont:
            break;  // we never enable an option of ours, so nothing to acknowledge
        default:
            break;
    }
}

void Filter::feed(std::string_view raw, std::string& data, std::string& reply) {
    for (char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        switch (state_) {
            case State::cr:
                state_ = State::data;
                if (c == 0) break;  // "\r\0": a bare carriage return
                [[fallthrough]];
            case State::data:
                if (c == k_iac) {
                    state_ = State::iac;
                } else {
                    data += ch;
                    if (c == '\r') state_ = State::cr;
                }
                break;
            case State::iac:
                if (c == k_iac) {
                    data += ch;
                    state_ = State::data;
                } else if (c == k_will || c == k_wont || c == k_do || c == k_dont) {
                    command_ = c;
                    state_ = State::option;
                } else if (c == k_sb) {
                    state_ = State::sb;
                } else {
                    state_ = State::data;  // NOP, GA, AYT...: nothing to do
                }
                break;
            case State::option:
                negotiate(command_, c, reply);
                state_ = State::data;
                break;
            case State::sb:
                if (c == k_iac) state_ = State::sb_iac;
                break;
            case State::sb_iac:
                state_ = c == k_se ? State::data : State::sb;
                break;
        }
    }
}

std::string Filter::escape(std::string_view data) {
    std::string out;
    out.reserve(data.size());
    for (char c : data) {
        out += c;
        if (static_cast<unsigned char>(c) == k_iac) out += c;
    }
    return out;
}

}  // namespace netkeep::worker::telnet
