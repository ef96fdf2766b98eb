// The workers seen on /worker/next: newest poll first, updated in place, bounded.
#include <doctest/doctest.h>

#include <string>

#include <fmt/format.h>

#include "api/workers_seen.hpp"

using namespace netkeep::api;

TEST_CASE("workers seen: newest poll first, a poll updates the address and time") {
    WorkersSeen w;
    w.record("a", "10.0.0.1", 100);
    w.record("b", "10.0.0.2", 101);
    w.record("a", "10.0.0.9", 102);
    auto list = w.list();
    REQUIRE(list.size() == 2);
    CHECK(list[0].name == "a");
    CHECK(list[0].address == "10.0.0.9");
    CHECK(list[0].last_poll == 102);
    CHECK(list[1].name == "b");
}

TEST_CASE("workers seen: a flood of names keeps the newest k_max_workers") {
    WorkersSeen w;
    w.record("steady", "10.0.0.1", 1);
    for (int i = 0; i < 5000; ++i) {
        w.record(fmt::format("flood-{}", i), "10.6.6.6", 2 + i);
        // The steady worker polls every 500 flooders: never the oldest, never forgotten.
        if (i % 500 == 0) w.record("steady", "10.0.0.1", 2 + i);
    }
    CHECK(w.size() == WorkersSeen::k_max_workers);
    auto list = w.list();
    REQUIRE(list.size() == WorkersSeen::k_max_workers);
    CHECK(list.front().name == "flood-4999");
    bool steady = false;
    for (const auto& e : list) steady = steady || e.name == "steady";
    CHECK(steady);
    // The oldest poll goes first.
    WorkersSeen small(2);
    small.record("x", "", 1);
    small.record("y", "", 2);
    small.record("x", "", 3);
    small.record("z", "", 4);
    auto names = small.list();
    REQUIRE(names.size() == 2);
    CHECK(names[0].name == "z");
    CHECK(names[1].name == "x");
}
