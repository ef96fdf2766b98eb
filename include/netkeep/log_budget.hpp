#pragma once
// Rate limit for log lines a client can trigger at will (refused requests, failed TLS
// handshakes): a flood writes a few lines a second, not one line each.
//
// Threads: none of its own; one budget belongs to one thread (the HTTP thread for the
// server's and the API's budgets).

#include <cstdint>
#include <utility>

namespace netkeep {

// At most `per_second` lines a second for one kind of event; the rest are counted, and
// the next line admitted carries that count (`suppressed=N`, from take_suppressed()), so
// every event is either logged or counted in a later line.
class LogBudget {
public:
    explicit LogBudget(unsigned per_second = 5) : per_second_(per_second) {}

    // `now`: unix seconds. True: write the line (with take_suppressed()); false: counted.
    bool admit(std::int64_t now) {
        if (now != second_) {
            second_ = now;
            used_ = 0;
        }
        if (used_ < per_second_) {
            ++used_;
            return true;
        }
        ++suppressed_;
        return false;
    }
    std::uint64_t take_suppressed() { return std::exchange(suppressed_, 0); }

private:
    unsigned per_second_;
    std::int64_t second_ = 0;
    unsigned used_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace netkeep
