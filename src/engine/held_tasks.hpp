#pragma once
// Reservations held across an append (see Projection::reserve). Used by the front ends in src/api
// around each append.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/projection.hpp"

namespace netkeep::engine {

// The reservations taken for one append, released however the handler leaves it (an
// answer, an error or an exception). If an inventory was applied meanwhile, task ids
// changed: the tasks are found again by name, and the token makes sure only these
// reservations are released, never another request's.
class held_tasks {
public:
    explicit held_tasks(Projection& p) : projection_(p), generation_(p.inventory_generation()) {}
    held_tasks(const held_tasks&) = delete;
    held_tasks& operator=(const held_tasks&) = delete;

    ~held_tasks() {
        const bool renumbered = projection_.inventory_generation() != generation_;
        for (const held& h : held_) {
            std::optional<task_id> id = h.id;
            if (renumbered) id = projection_.find(h.device, h.job);
            if (id) projection_.release(*id, h.token);
        }
    }

    void hold(task_id id) {
        if (auto token = projection_.reserve(id)) {
            const TaskState& t = projection_.task(id);
            held_.push_back({id, token, std::string(t.device), std::string(t.job)});
        }
    }

private:
    struct held {
        task_id id;
        std::uint64_t token;
        std::string device;
        std::string job;
    };
    Projection& projection_;
    std::uint64_t generation_;
    std::vector<held> held_;
};

}  // namespace netkeep::engine
