#include "api/access.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace netkeep::api {

bool role_allows(Role role, Access access) {
    switch (access) {
        case Access::open:
            return true;
        case Access::worker:
            return role == Role::worker;
        case Access::read:
            return role == Role::read || role == Role::admin;
        case Access::admin:
            return role == Role::admin;
    }
    return false;
}

bool tags_cover(const TokenEntry& token, std::span<const std::string> device_tags) {
    if (token.all_tags()) return true;
    return std::any_of(device_tags.begin(), device_tags.end(),
                       [&](const std::string& t) { return token.has_tag(t); });
}

std::optional<std::string> completion_refusal(const TaskState& t,
                                              std::span<const std::string> device_tags,
                                              const Caller& caller, bool repeat) {
    if (!caller.authenticated()) return std::nullopt;
    if (repeat) {
        if (t.last_completion && t.last_completion->worker == caller.name) return std::nullopt;
        return fmt::format("the completion of {}/{} was recorded by another worker", t.device,
                           t.job);
    }
    if (t.lease) {
        if (!t.lease->holder.empty() && t.lease->holder == caller.name) return std::nullopt;
        if (t.lease->holder.empty() && tags_cover(*caller.token, device_tags)) return std::nullopt;
        return fmt::format("the occurrence of {}/{} is leased to another worker until {}", t.device,
                           t.job, t.lease->deadline);
    }
    if (!t.newest_holder.empty() && t.newest_holder == caller.name) return std::nullopt;
    if (tags_cover(*caller.token, device_tags)) return std::nullopt;
    return fmt::format("device {} carries none of this token's tags", t.device);
}

}  // namespace netkeep::api
