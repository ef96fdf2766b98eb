#pragma once
// Who may do what: the roles each route needs and the rules that bind a completion to
// the lease it answers. Pure: the gate (api/gate.hpp) resolves the caller from the
// Authorization header (netkeep/auth.hpp) and asks these functions; tests call them.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "netkeep/auth.hpp"
#include "netkeep/projection.hpp"

namespace netkeep::api {

// What a route needs. `open` routes (/healthz) are served to anyone.
enum class Access { open, worker, read, admin };

// The authenticated client of one request. Without --auth every client is anonymous and
// may do everything (netkeepd then listens on loopback only).
struct Caller {
    std::optional<TokenEntry> token;  // copied: a reload may replace the token set mid-request
    std::string name;                 // the token's name, else X-Netkeep-Worker or the address

    bool authenticated() const { return token.has_value(); }
};

// read routes are open to read and admin tokens; worker and admin routes only to their role.
bool role_allows(Role role, Access access);

// Whether a worker token may see and lease a device with these tags.
bool tags_cover(const TokenEntry& token, std::span<const std::string> device_tags);

// Who may complete task `t`'s open occurrence (device tags `device_tags`): anyone without
// --auth; else the holder of its newest lease, and once no lease runs, also any worker
// token whose tags cover the device. A re-post of the last recorded completion
// (`repeat`) only by the token that recorded it. nullopt: allowed; else why not (403).
std::optional<std::string> completion_refusal(const TaskState& t,
                                              std::span<const std::string> device_tags,
                                              const Caller& caller, bool repeat);

}  // namespace netkeep::api
