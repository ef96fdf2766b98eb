#pragma once
// `netkeepctl state`: every task of a replayed projection, as a table or JSON. Pure
// (takes the Projection; the replay is the caller's).

#include <cstdint>
#include <string>

#include "netkeep/projection.hpp"

namespace netkeep::ctl {

// at_seq: the last event applied (p.last_seq()); at_time: that event's `at`, if any.
std::string format_state_text(const Projection& p, std::optional<unix_time> at_time);
std::string format_state_json(const Projection& p, std::optional<unix_time> at_time);

// The expanded tasks of an inventory, for `inventory check`.
std::string format_inventory_text(const Inventory& inventory, const std::string& dir);
std::string format_inventory_json(const Inventory& inventory, const std::string& dir);
std::string schedule_text(const Schedule& schedule);

}  // namespace netkeep::ctl
