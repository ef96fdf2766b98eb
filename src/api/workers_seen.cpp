// The workers seen on GET /worker/next (api/workers_seen.hpp).

#include "api/workers_seen.hpp"

namespace netkeep::api {

void WorkersSeen::record(std::string_view name, std::string_view address, unix_time now) {
    if (auto it = by_name_.find(name); it != by_name_.end()) {
        // Moved, not copied: the map's key stays a view of the same string.
        recent_.splice(recent_.begin(), recent_, it->second);
        it->second->address = address;
        it->second->last_poll = now;
        return;
    }
    recent_.push_front(WorkerSeen{std::string(name), std::string(address), now});
    by_name_.emplace(recent_.front().name, recent_.begin());
    if (recent_.size() > max_) {
        by_name_.erase(recent_.back().name);
        recent_.pop_back();
    }
}

std::vector<WorkerSeen> WorkersSeen::list() const { return {recent_.begin(), recent_.end()}; }

}  // namespace netkeep::api
