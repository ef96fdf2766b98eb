#pragma once
// The web UI's login sessions (docs/security.md#web-ui-sessions). A browser trades an
// operator token (read or admin) for a session id in an HttpOnly, SameSite=Strict cookie,
// so no script ever holds the token. Sessions live in memory only (a restart logs
// everyone out) and hold neither the session id nor the token in clear: the store is
// keyed by the id's SHA-256 and keeps the token's SHA-256, looked up again in the token
// file on every request so that revoking the token (and a reload) ends its sessions.
//
// Each session also has a CSRF token, which the page reads from GET /ui/session and sends
// back in X-CSRF-Token on every POST; a POST that a cookie authenticates without it is
// refused (api/gate.cpp).
//
// Pure apart from the random numbers: the clock is passed in. Threads: the io thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "netkeep/auth.hpp"
#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::api {

inline constexpr std::string_view k_session_cookie = "nk_session";
inline constexpr std::string_view k_csrf_header = "X-CSRF-Token";

struct Session {
    std::string token_name;  // for log lines; the role is the token's, read again each time
    std::array<std::uint8_t, 32> token_sha256{};
    std::string csrf;
    unix_time created = 0;
    unix_time last_used = 0;
};

struct SessionLimits {
    unix_time idle = 8 * 3600;       // unused this long: ended (a working day)
    unix_time lifetime = 24 * 3600;  // ended this long after login, however busy
    std::size_t max_sessions = 10'000;
};

class SessionStore {
public:
    explicit SessionStore(SessionLimits limits = {}) : limits_(limits) {}

    struct Issued {
        std::string id;  // the cookie's value; only its hash is kept
        std::string csrf;
    };
    // A new session for `token`. When the store is full, expired sessions go first, then
    // the least recently used one. unavailable when the system's RNG fails.
    Result<Issued> create(const TokenEntry& token, unix_time now);

    // The live session with this id (its last use set to `now`), or nullptr when unknown
    // or expired (then forgotten).
    Session* find(std::string_view id, unix_time now);
    void remove(std::string_view id);
    std::size_t size() const { return sessions_.size(); }
    const SessionLimits& limits() const { return limits_; }

private:
    bool expired(const Session& s, unix_time now) const;
    void make_room(unix_time now);

    SessionLimits limits_;
    // Key: the raw 32 bytes of SHA-256(id).
    std::unordered_map<std::string, Session> sessions_;
};

// Whether `presented` is the session's CSRF token, in constant time.
bool csrf_matches(const Session& session, std::string_view presented);

}  // namespace netkeep::api
