// The sparse device x job table of InventoryIndex: task(device, job) against a dense
// reference on random inventories (many devices, few jobs each, some pairs absent).
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "netkeep/projection.hpp"

using namespace netkeep;

namespace {

Inventory inventory(std::uint32_t devices, std::uint32_t jobs, const std::vector<TaskSpec>& tasks) {
    Inventory inv;
    inv.devices.resize(devices);
    for (std::uint32_t d = 0; d < devices; ++d) inv.devices[d].name = fmt::format("d{}", d);
    inv.jobs.resize(jobs);
    for (std::uint32_t j = 0; j < jobs; ++j) inv.jobs[j].name = fmt::format("j{}", j);
    inv.tasks = tasks;
    return inv;
}

}  // namespace

TEST_CASE("the task table finds each pair's task and nothing else") {
    // Job-major, as the inventory lists tasks; device 1 has no tasks, job 2 none on device 0.
    auto index = InventoryIndex::build(inventory(3, 3, {{0, 0}, {2, 0}, {0, 1}, {2, 1}, {2, 2}}));
    CHECK(index->task(0, 0) == 0);
    CHECK(index->task(2, 0) == 1);
    CHECK(index->task(0, 1) == 2);
    CHECK(index->task(2, 1) == 3);
    CHECK(index->task(2, 2) == 4);
    CHECK(index->task(0, 2) == InventoryIndex::k_no_task);
    CHECK(index->task(1, 0) == InventoryIndex::k_no_task);
    CHECK(index->task(3, 0) == InventoryIndex::k_no_task);  // past the devices
    CHECK(index->task(0, 7) == InventoryIndex::k_no_task);  // past the jobs
    auto empty = InventoryIndex::build(Inventory{});
    CHECK(empty->task(0, 0) == InventoryIndex::k_no_task);
}

TEST_CASE("a device with many jobs (the binary search) and a pair listed twice") {
    std::vector<TaskSpec> tasks;
    for (std::uint32_t j = 0; j < 40; j += 2) tasks.push_back({1, j});
    tasks.push_back({1, 4});  // twice: the later task wins, as in the dense table
    auto index = InventoryIndex::build(inventory(2, 40, tasks));
    for (std::uint32_t j = 0; j < 40; ++j) {
        task_id want = j % 2 ? InventoryIndex::k_no_task : j / 2;
        if (j == 4) want = 20;
        CHECK(index->task(1, j) == want);
        CHECK(index->task(0, j) == InventoryIndex::k_no_task);
    }
}

TEST_CASE("property: the sparse table answers as a dense one on random inventories") {
    std::mt19937 rng(16);
    for (int round = 0; round < 200; ++round) {
        const std::uint32_t devices = 1 + rng() % 60, jobs = 1 + rng() % 25;
        const double density = (rng() % 100) / 100.0;
        std::vector<TaskSpec> tasks;
        for (std::uint32_t j = 0; j < jobs; ++j)  // job-major
            for (std::uint32_t d = 0; d < devices; ++d)
                if ((rng() % 1000) / 1000.0 < density) tasks.push_back({d, j});
        std::shuffle(tasks.begin(), tasks.end(), rng);  // any order, not only the inventory's
        std::vector<task_id> dense(std::size_t(devices) * jobs, InventoryIndex::k_no_task);
        for (task_id id = 0; id < tasks.size(); ++id)
            dense[std::size_t(tasks[id].device) * jobs + tasks[id].job] = id;
        auto index = InventoryIndex::build(inventory(devices, jobs, tasks));
        for (std::uint32_t d = 0; d < devices; ++d)
            for (std::uint32_t j = 0; j < jobs; ++j)
                REQUIRE(index->task(d, j) == dense[std::size_t(d) * jobs + j]);
    }
}
