#pragma once
// Waiting on a condition instead of sleeping a fixed time: a test that sleeps "long
// enough" is slow on a fast machine and wrong on a loaded one. wait_until returns as soon
// as the condition holds, so its timeout can be generous at no cost to a passing test.
//
// "Nothing happened" is not a condition to wait for: first wait for something that proves
// the time has passed or the loop ran (a counter, a marker event's sequence number), then
// check the absence.

#include <chrono>
#include <thread>

namespace netkeep::testing {

// Generous: only a failing test waits this long.
inline constexpr std::chrono::milliseconds k_wait_timeout{std::chrono::seconds(10)};

// Polls pred (every `poll`) until it holds: true, or false once `timeout` has passed
// (pred is asked one last time then).
template <typename Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout = k_wait_timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= until) return static_cast<bool>(pred());
        std::this_thread::sleep_for(poll);
    }
    return true;
}

}  // namespace netkeep::testing
