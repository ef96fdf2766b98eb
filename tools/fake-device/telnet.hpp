#pragma once
// The pure halves of the telnet mode: the IAC filter and the login dialogue. The socket
// side is in telnet_server.cpp.

#include <functional>
#include <string>
#include <string_view>

namespace netkeep::fake_device {

inline constexpr unsigned char k_iac = 255;

// Sent on connect: IAC WILL ECHO, IAC WILL SGA, IAC DO NAWS (what IOS offers).
inline constexpr std::string_view k_telnet_offer = "\xff\xfb\x01\xff\xfb\x03\xff\xfd\x1f";

// Removes telnet commands (IAC x, IAC WILL/WONT/DO/DONT opt, IAC SB ... IAC SE) from the
// client's bytes; IAC IAC is a data byte 255. Sequences may be split across feed() calls.
class Telnet_filter {
public:
    std::string feed(std::string_view in);

private:
    enum class State { data, iac, option, sub, sub_iac };
    State state_ = State::data;
};

// Doubles every 255 byte of outgoing data (IAC IAC), as telnet requires.
std::string telnet_escape(std::string_view data);

// "Username: " / "Password: " with three tries, like IOS's `login local`.
class Telnet_login {
public:
    using Check = std::function<bool(const std::string& user, const std::string& password)>;

    enum class State { pending, done, failed };

    struct Progress {
        std::string bytes;  // to send
        State state = State::pending;
    };

    explicit Telnet_login(Check check) : check_(std::move(check)) {}

    // "\r\nUser Access Verification\r\n\r\nUsername: "
    static std::string greeting();

    // Consumes filtered input until the login is done; input after the password's line end
    // stays in rest().
    Progress feed(std::string_view input);

    const std::string& user() const { return user_; }
    std::string rest() const { return rest_; }
    bool ended_with_cr() const { return after_cr_; }

    static constexpr int k_max_failures = 3;

private:
    Check check_;
    bool asking_password_ = false;
    bool after_cr_ = false;
    int failures_ = 0;
    State state_ = State::pending;
    std::string line_;
    std::string user_;
    std::string rest_;
};

}  // namespace netkeep::fake_device
