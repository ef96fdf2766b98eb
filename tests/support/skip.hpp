#pragma once
// A test case that cannot run here (a tool not installed, no root) says so with
// skip_test(reason) and returns. The test binary's main (tests/unit/main.cpp) then exits
// 77 when every test case it ran skipped, which meson reports as SKIP, never as a pass;
// a binary where some ran and some skipped passes and lists what skipped.

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace netkeep::testing {

struct SkipRecord {
    std::string test_case;
    std::string reason;
};

// The test cases that skipped in this process, in order.
std::vector<SkipRecord>& skipped_tests();
// The number of test cases started in this process.
int started_tests();

// Marks the running test case as skipped (the caller returns right after).
void skip_test(const std::string& reason);

}  // namespace netkeep::testing
