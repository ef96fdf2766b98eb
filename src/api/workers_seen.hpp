#pragma once
// The workers seen on GET /worker/next since netkeepd started, for GET /api/v1/status:
// each name's address and last poll. Bounded: at most k_max_workers names, the one whose
// last poll is oldest forgotten first, so a flood of made-up worker names costs a fixed
// amount of memory. Not durable: a restart starts empty.
//
// Threads: the io thread (WorkerApi records, OperatorApi lists).

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/events.hpp"

namespace netkeep::api {

struct WorkerSeen {
    std::string name;
    std::string address;
    unix_time last_poll = 0;
};

class WorkersSeen {
public:
    static constexpr std::size_t k_max_workers = 1000;

    explicit WorkersSeen(std::size_t max = k_max_workers) : max_(max) {}

    // A poll by `name` from `address` at `now`.
    void record(std::string_view name, std::string_view address, unix_time now);
    // Newest poll first.
    std::vector<WorkerSeen> list() const;
    std::size_t size() const { return by_name_.size(); }

private:
    std::size_t max_;
    std::list<WorkerSeen> recent_;  // newest poll first
    std::unordered_map<std::string_view, std::list<WorkerSeen>::iterator>
        by_name_;  // views of recent_
};

}  // namespace netkeep::api
