#include "netkeep/events.hpp"

#include <array>
#include <utility>

namespace netkeep {

namespace {
constexpr std::array<std::pair<EventType, std::string_view>, 6> k_type_names{{
    {EventType::inventory_applied, "InventoryApplied"},
    {EventType::lease_granted, "LeaseGranted"},
    {EventType::lease_expired, "LeaseExpired"},
    {EventType::completion_recorded, "CompletionRecorded"},
    {EventType::occurrence_closed, "OccurrenceClosed"},
    {EventType::run_requested, "RunRequested"},
}};
}  // namespace

EventType type_of(const Event& event) {
    struct visitor {
        EventType operator()(const InventoryApplied&) const { return EventType::inventory_applied; }
        EventType operator()(const LeaseGranted&) const { return EventType::lease_granted; }
        EventType operator()(const LeaseExpired&) const { return EventType::lease_expired; }
        EventType operator()(const CompletionRecorded&) const {
            return EventType::completion_recorded;
        }
        EventType operator()(const OccurrenceClosed&) const { return EventType::occurrence_closed; }
        EventType operator()(const RunRequested&) const { return EventType::run_requested; }
    };
    return std::visit(visitor{}, event);
}

std::string_view event_type_name(EventType type) {
    for (const auto& [t, name] : k_type_names)
        if (t == type) return name;
    return "Unknown";
}

std::optional<EventType> event_type_from_name(std::string_view name) {
    for (const auto& [t, n] : k_type_names)
        if (n == name) return t;
    return std::nullopt;
}

std::string_view close_reason_name(CloseReason reason) {
    switch (reason) {
        case CloseReason::succeeded:
            return "succeeded";
        case CloseReason::failed:
            return "failed";
        case CloseReason::removed:
            return "removed";
    }
    return "unknown";
}

}  // namespace netkeep
