// The worker's view of the server's clock (docs/worker.md#clock-skew): offsets from
// X-Netkeep-Server-Time, when skew is logged, and the job budget in server time.
#include <doctest/doctest.h>

#include "worker/server_clock.hpp"

using namespace netkeep::worker;
using std::chrono::milliseconds;

TEST_CASE("parse_server_time: decimal unix milliseconds only") {
    CHECK(parse_server_time("1795910377123") == 1795910377123);
    CHECK(parse_server_time("0") == 0);
    for (const char* bad : {"", "-5", "17959e3", " 1", "1 ", "0x10", "253402300800001",
                            "9999999999999999999", "Thu, 01 Jan 1970 00:00:00 GMT"})
        CHECK_MESSAGE(!parse_server_time(bad), bad);
}

TEST_CASE("the offset is the server's time minus the midpoint of the round trip") {
    ServerClock clock;
    CHECK(clock.offset_ms() == 0);
    CHECK(clock.now_ms(1000) == 1000);
    // Sent at 10,000, answered at 10,200 (local); the server said 10,100: in step.
    CHECK(clock.observe(10'100, 10'000, 10'200) == ServerClock::Report::none);
    CHECK(clock.offset_ms() == 0);
    // The worker's clock is 1 h behind: the server says 3,600,000 ms more.
    CHECK(clock.observe(3'610'100, 10'000, 10'200) == ServerClock::Report::skewed);
    CHECK(clock.offset_ms() == 3'600'000);
    CHECK(clock.now_ms(20'000) == 3'620'000);
    // Ahead instead: a negative offset.
    ServerClock ahead;
    CHECK(ahead.observe(1'000'000, 1'005'000, 1'005'000) == ServerClock::Report::skewed);
    CHECK(ahead.offset_ms() == -5000);
}

TEST_CASE("skew is logged once, again only when it moves, and once when it is gone") {
    ServerClock clock;
    // Within 2 s: nothing, however often.
    CHECK(clock.observe(2000, 0, 0) == ServerClock::Report::none);
    CHECK(clock.observe(-2000, 0, 0) == ServerClock::Report::none);
    // Beyond: one report, then silence at every poll while it stays about the same.
    CHECK(clock.observe(2001, 0, 0) == ServerClock::Report::skewed);
    for (int i = 0; i < 100; ++i)
        CHECK(clock.observe(2001 + i * 10, 0, 0) == ServerClock::Report::none);
    // It moved by more than 2 s since the report: reported again.
    CHECK(clock.observe(6000, 0, 0) == ServerClock::Report::skewed);
    CHECK(clock.observe(7000, 0, 0) == ServerClock::Report::none);
    // Back in step: one line, then nothing.
    CHECK(clock.observe(100, 0, 0) == ServerClock::Report::in_step);
    CHECK(clock.observe(100, 0, 0) == ServerClock::Report::none);
    // The last answer wins: the offset follows a stepped clock at once.
    CHECK(clock.observe(-9000, 0, 0) == ServerClock::Report::skewed);
    CHECK(clock.offset_ms() == -9000);
}

TEST_CASE("now_seconds rounds down, also before 1970") {
    ServerClock clock;
    const std::int64_t local = ServerClock::local_ms();
    (void)clock.observe(local + 10'000, local, local);
    CHECK(clock.now_seconds() >= (local + 10'000) / 1000);
    CHECK(clock.now_seconds() <= (ServerClock::local_ms() + 10'000) / 1000);
}

TEST_CASE("job budget: the timeout, ending 0.5 s before the lease in server time, at least 1 s") {
    // Lease expires at server time 1,000 s; the server's clock says 700 s: 299.5 s left.
    CHECK(job_budget(600, 1000, 700'000) == milliseconds(299'500));
    CHECK(job_budget(60, 1000, 700'000) == milliseconds(60'000));
    CHECK(job_budget(60, 1000, 999'900) == milliseconds(1000));  // at least 1 s
    CHECK(job_budget(60, 1000, 2'000'000) == milliseconds(1000));
    // A worker whose own clock is an hour ahead: with the server's time the budget is
    // right; with its own clock the lease would look expired (the bug this prevents).
    ServerClock clock;
    const std::int64_t local = 5'000'000'000;  // ms
    (void)clock.observe(local - 3'600'000, local, local);
    const std::int64_t expires = (local - 3'600'000) / 1000 + 300;
    CHECK(job_budget(600, expires, clock.now_ms(local)) == milliseconds(299'500));
    CHECK(job_budget(600, expires, local) == milliseconds(1000));
}
