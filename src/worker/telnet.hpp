#pragma once
// The telnet protocol layer (RFC 854/855), pure: separates data from commands in what a
// server sends and answers option negotiation politely.
//
// Negotiation: the worker wants nothing. A server's DO x is answered WONT x; its WILL x is
// answered DONT x, except WILL ECHO and WILL SUPPRESS-GO-AHEAD, which are accepted (DO):
// the server echoing and not sending go-aheads is what a CLI over telnet looks like. Each
// request is answered once per state change, so two polite peers never loop.
// Subnegotiations (SB ... SE) are dropped; IAC IAC is a data byte 0xFF; "\r\0" is a bare
// "\r". State carries across feed() calls, so a sequence may be split anywhere.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep::worker::telnet {

inline constexpr unsigned char k_iac = 255, k_dont = 254, k_do = 253, k_wont = 252, k_will = 251,
                               k_sb = 250, k_se = 240;
inline constexpr unsigned char k_opt_echo = 1, k_opt_sga = 3;

class Filter {
public:
    // Appends the data bytes of `raw` to `data` and the answers to send to `reply`.
    void feed(std::string_view raw, std::string& data, std::string& reply);

    // Data to send, with each 0xFF doubled.
    static std::string escape(std::string_view data);

private:
    void negotiate(unsigned char command, unsigned char option, std::string& reply);

    enum class State { data, cr, iac, option, sb, sb_iac };
    State state_ = State::data;
    unsigned char command_ = 0;
    std::array<bool, 256> remote_on_{};  // we said DO to the server's WILL
    std::array<bool, 256> refused_will_{};
    std::array<bool, 256> refused_do_{};
};

}  // namespace netkeep::worker::telnet
