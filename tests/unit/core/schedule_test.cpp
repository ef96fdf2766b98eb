#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <ostream>  // doctest prints std::bitset through operator<<
#include <string>

#include "netkeep/schedule.hpp"

using netkeep::CronSchedule;
using netkeep::IntervalSchedule;
using netkeep::k_no_slot;
using netkeep::next_slot;
using netkeep::parse_cron;
using netkeep::Status;
using netkeep::unix_time;

namespace {

// Expected times below were computed with `date -u -d '<time> UTC' +%s`, not with the
// code under test; the comment next to each number is the time it stands for.
struct CronCase {
    const char* expression;
    unix_time from;
    unix_time expected;
    const char* why;
};

constexpr std::array k_cron_cases{
    // Steps, and "strictly after": a slot equal to t is not returned.
    CronCase{"*/15 * * * *", 1735689600 /* 2025-01-01 00:00:00 */, 1735690500 /* 00:15:00 */,
             "step, from a slot"},
    CronCase{"*/15 * * * *", 1735690499 /* 00:14:59 */, 1735690500 /* 00:15:00 */,
             "step, one second before"},
    CronCase{"*/15 * * * *", 1735690500 /* 00:15:00 */, 1735691400 /* 00:30:00 */,
             "strictly after"},
    CronCase{"1-30/7 * * * *", 1749032940 /* 2025-06-04 10:29 */, 1749034860 /* 11:01 */,
             "range with step: 1,8,15,22,29"},
    CronCase{"5/10 * * * *", 1749034500 /* 2025-06-04 10:55 */, 1749035100 /* 11:05 */,
             "value with step runs to max: 5,15,..,55"},
    CronCase{"0,30 8,17 * * *", 1749025800 /* 2025-06-04 08:30 */, 1749056400 /* 17:00 */, "lists"},
    // Month ends: the 31st skips months that have no 31st.
    CronCase{"0 0 31 * *", 1738281600 /* 2025-01-31 */, 1743379200 /* 2025-03-31 */,
             "31st skips February"},
    CronCase{"0 0 31 * *", 1743379200 /* 2025-03-31 */, 1748649600 /* 2025-05-31 */,
             "31st skips April"},
    CronCase{"0 0 31 * *", 1753920000 /* 2025-07-31 */, 1756598400 /* 2025-08-31 */,
             "July and August both have 31"},
    // Leap years.
    CronCase{"0 0 29 2 *", 1735689600 /* 2025-01-01 */, 1835395200 /* 2028-02-29 */,
             "Feb 29 waits for the next leap year"},
    CronCase{"0 0 29 2 *", 3981398400 /* 2096-03-01 */, 4233686400 /* 2104-02-29 */,
             "2100 is not a leap year"},
    CronCase{"0 0 29 2 *", -315619200 /* 1960-01-01 */, -310521600 /* 1960-02-29 */, "before 1970"},
    CronCase{"0 0 * 2 *", 1740787140 /* 2025-02-28 23:59 */, 1769904000 /* 2026-02-01 */,
             "month field skips to next year"},
    // Year rollover.
    CronCase{"0 0 1 1 *", 1767225599 /* 2025-12-31 23:59:59 */, 1767225600 /* 2026-01-01 */,
             "new year"},
    CronCase{"59 23 31 12 *", 1767225540 /* 2025-12-31 23:59 */, 1798761540 /* 2026-12-31 23:59 */,
             "last minute of the year"},
    // Sunday is 0 and 7.
    CronCase{"0 12 * * 0", 1748995200 /* Wed 2025-06-04 */, 1749384000 /* Sun 06-08 12:00 */,
             "Sunday as 0"},
    CronCase{"0 12 * * 7", 1748995200 /* Wed 2025-06-04 */, 1749384000 /* Sun 06-08 12:00 */,
             "Sunday as 7"},
    CronCase{"0 12 * * 5-7", 1748995200 /* Wed 2025-06-04 */, 1749211200 /* Fri 06-06 12:00 */,
             "range through 7"},
    // Day-of-month / day-of-week: OR when both are restricted, AND when one starts with '*'.
    CronCase{"0 0 13 * 5", 1752192000 /* Fri 2025-07-11 */, 1752364800 /* Sun 2025-07-13 */,
             "13th OR Friday: the 13th comes first"},
    CronCase{"0 0 13 * 5", 1748995200 /* Wed 2025-06-04 */, 1749168000 /* Fri 2025-06-06 */,
             "13th OR Friday: a Friday comes first"},
    CronCase{"0 0 * * 5", 1752192000 /* Fri 2025-07-11 */, 1752796800 /* Fri 2025-07-18 */,
             "star day-of-month: Fridays only"},
    CronCase{"0 0 1 * 5", 1735689600 /* Wed 2025-01-01 */, 1735862400 /* Fri 2025-01-03 */,
             "1st OR Friday"},
    CronCase{"0 0 */10 * 5", 1735689600 /* Wed 2025-01-01 */, 1738281600 /* Fri 2025-01-31 */,
             "'*/10' counts as star (Vixie): day 1,11,21,31 AND Friday"},
    CronCase{"0 0 30 2 1", 1748995200 /* 2025-06-04 */, 1769990400 /* Mon 2026-02-02 */,
             "no Feb 30, but OR with Mondays in February"},
    // Names, case-insensitive, also in ranges.
    CronCase{"0 9 * jan-mar mon-fri", 1743411600 /* Mon 2025-03-31 09:00 */,
             1767258000 /* Thu 2026-01-01 09:00 */, "month and day name ranges"},
    CronCase{"0 0 * * SAT,sun", 1748995200 /* Wed 2025-06-04 */, 1749254400 /* Sat 06-07 */,
             "upper-case day names"},
    CronCase{"0 0 1 Jul *", 1748995200 /* 2025-06-04 */, 1751328000 /* 2025-07-01 */,
             "mixed-case month name"},
    // Macros.
    CronCase{"@hourly", 1749033000 /* 2025-06-04 10:30 */, 1749034800 /* 11:00 */, "@hourly"},
    CronCase{"@daily", 1749033000 /* 2025-06-04 10:30 */, 1749081600 /* 06-05 00:00 */, "@daily"},
    CronCase{"@midnight", 1749033000 /* 2025-06-04 10:30 */, 1749081600 /* 06-05 00:00 */,
             "@midnight"},
    CronCase{"@weekly", 1749033000 /* Wed 2025-06-04 10:30 */, 1749340800 /* Sun 06-08 */,
             "@weekly"},
    CronCase{"@monthly", 1749033000 /* 2025-06-04 10:30 */, 1751328000 /* 07-01 */, "@monthly"},
    CronCase{"@yearly", 1749033000 /* 2025-06-04 10:30 */, 1767225600 /* 2026-01-01 */, "@yearly"},
    CronCase{"@annually", 1749033000 /* 2025-06-04 10:30 */, 1767225600 /* 2026-01-01 */,
             "@annually"},
    // Before 1970: floor, not truncation, toward the previous minute.
    CronCase{"* * * * *", -1 /* 1969-12-31 23:59:59 */, 0, "negative t"},
    CronCase{"* * * * *", -61, -60, "negative t, whole minutes"},
};

netkeep::Schedule cron(const char* expression) {
    auto parsed = parse_cron(expression);
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());
    return *parsed;
}

}  // namespace

TEST_CASE("cron next_slot matches a table of reference times") {
    for (const CronCase& c : k_cron_cases) {
        CAPTURE(c.expression);
        CAPTURE(c.why);
        CAPTURE(c.from);
        CHECK(next_slot(cron(c.expression), "any/job", c.from) == c.expected);
    }
}

TEST_CASE("cron next_slot agrees with a minute-by-minute search") {
    // The fast path skips months, days and hours; cron_matches looks at one minute only.
    // They must agree wherever the brute force is affordable (slots within a year or so).
    constexpr std::array k_expressions{
        "* * * * *",          "*/7 3-5 * * *",  "59 23 * * *",  "0 0 1,15 * *",
        "30 6 * * mon-fri",   "0 0 13 * 5",     "0 0 */10 * 5", "5/20 */5 * * 0",
        "0 12 31 * *",        "15 1 28-31 * *", "0 0 * * 7",    "0 0 1 * 7",
        "*/13 22-23 * * sat", "0 0 * 2,3 *",    "0 4 8-14 * 1", "0 0 29 * *",
    };
    constexpr std::array<unix_time, 6> k_starts{
        1735689600,  // 2025-01-01 00:00:00
        1738281599,  // 2025-01-30 23:59:59
        1740700800,  // 2025-02-28 00:00:00
        1835395170,  // 2028-02-28 23:59:30
        1767225599,  // 2025-12-31 23:59:59
        -315619200,  // 1960-01-01
    };
    for (const std::string expression : k_expressions) {
        const auto parsed = parse_cron(expression);
        REQUIRE(parsed.is_ok());
        for (unix_time start : k_starts) {
            CAPTURE(expression);
            CAPTURE(start);
            // The first whole minute after start, rounding down for negative start too.
            unix_time expected = start - ((start % 60) + 60) % 60 + 60;
            // Bounded, so a broken cron_matches fails the test instead of hanging it.
            const unix_time give_up = start + 400LL * 86400;
            while (expected < give_up && !netkeep::cron_matches(*parsed, expected)) expected += 60;
            REQUIRE(expected < give_up);
            CHECK(next_slot(*parsed, "", start) == expected);
        }
    }
}

TEST_CASE("cron names, numbers and @macros are equivalent where they should be") {
    auto same_sets = [](const char* a, const char* b) {
        const auto x = parse_cron(a);
        const auto y = parse_cron(b);
        REQUIRE(x.is_ok());
        REQUIRE(y.is_ok());
        CHECK(x->minutes == y->minutes);
        CHECK(x->hours == y->hours);
        CHECK(x->days_of_month == y->days_of_month);
        CHECK(x->months == y->months);
        CHECK(x->days_of_week == y->days_of_week);
        CHECK(x->dom_restricted == y->dom_restricted);
        CHECK(x->dow_restricted == y->dow_restricted);
    };
    same_sets("0 0 * * 0", "0 0 * * 7");
    same_sets("0 0 * * sun", "0 0 * * 7");
    same_sets("0 0 * jan-dec sun-sat", "0 0 * 1-12 0-6");
    same_sets("0 0 * JAN,Feb,mAr * ", "0 0 * 1,2,3 *");
    same_sets("5/10 * * * *", "5-59/10 * * * *");
    same_sets("@hourly", "0 * * * *");
    same_sets("@daily", "0 0 * * *");
    same_sets("@midnight", "0 0 * * *");
    same_sets("@weekly", "0 0 * * 0");
    same_sets("@monthly", "0 0 1 * *");
    same_sets("@yearly", "0 0 1 1 *");
    same_sets("@annually", "0 0 1 1 *");
    same_sets("  0\t0  *  * *  ", "0 0 * * *");

    const auto p = parse_cron("1-30/7 * * * *");
    REQUIRE(p.is_ok());
    CHECK(p->minutes.count() == 5);
    for (int m : {1, 8, 15, 22, 29}) CHECK(p->minutes[static_cast<std::size_t>(m)]);
    CHECK(p->expression == "1-30/7 * * * *");
}

TEST_CASE("cron day fields follow Vixie's star rule") {
    const auto both = parse_cron("0 0 13 * 5");
    REQUIRE(both.is_ok());
    CHECK(both->dom_restricted);
    CHECK(both->dow_restricted);

    const auto star_dom = parse_cron("0 0 * * 5");
    REQUIRE(star_dom.is_ok());
    CHECK_FALSE(star_dom->dom_restricted);
    CHECK(star_dom->dow_restricted);

    const auto star_step = parse_cron("0 0 */2 * 1-5");
    REQUIRE(star_step.is_ok());
    CHECK_FALSE(star_step->dom_restricted);  // starts with '*', so AND as in Vixie
}

TEST_CASE("parse_cron rejects bad expressions and says which field and what text") {
    struct Bad {
        const char* expression;
        const char* message_contains;
    };
    constexpr std::array k_bad{
        // field count
        Bad{"", "expected 5 fields"},
        Bad{"   ", "got 0"},
        Bad{"0 0 * *", "got 4"},
        Bad{"0 0 * * * *", "got 6"},
        // out of range
        Bad{"60 * * * *", "minute field \"60\": 60 is out of range 0-59"},
        Bad{"* 24 * * *", "hour field \"24\": 24 is out of range 0-23"},
        Bad{"* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31"},
        Bad{"* * 32 * *", "day-of-month field \"32\""},
        Bad{"* * * 13 *", "month field \"13\": 13 is out of range 1-12"},
        Bad{"* * * 0 *", "month field \"0\""},
        Bad{"* * * * 8", "day-of-week field \"8\": 8 is out of range 0-7"},
        Bad{"1-99999999999999999999 * * * *", "out of range 0-59"},
        Bad{"0 0-30 * * *", "hour field \"0-30\": 30 is out of range"},
        // reversed ranges
        Bad{"30-10 * * * *", "minute field \"30-10\": range 30-10 is reversed"},
        Bad{"* * * * fri-mon", "day-of-week field \"fri-mon\": range 5-1 is reversed"},
        Bad{"* * * dec-jan *", "month field \"dec-jan\": range 12-1 is reversed"},
        // steps
        Bad{"*/0 * * * *", "minute field \"*/0\": step must be at least 1"},
        Bad{"* 1-5/0 * * *", "hour field \"1-5/0\": step must be at least 1"},
        Bad{"*/60 * * * *", "step 60 is out of range 1-59"},
        Bad{"*/ * * * *", "missing step"},
        Bad{"*/jan * * * *", "unknown name \"jan\""},
        // names
        Bad{"* * * foo *", "month field \"foo\": unknown name \"foo\""},
        Bad{"* * * * monday", "day-of-week field \"monday\": unknown name \"monday\""},
        Bad{"* * * mon *", "month field \"mon\": unknown name \"mon\""},
        Bad{"* * * * jan", "day-of-week field \"jan\": unknown name \"jan\""},
        Bad{"jan * * * *", "minute field \"jan\": unknown name"},
        Bad{"* * * * mon-xyz", "unknown name \"xyz\""},
        // empty list items
        Bad{"1,,2 * * * *", "minute field \"1,,2\": empty list item"},
        Bad{",1 * * * *", "empty list item"},
        Bad{"* * * * 1,", "day-of-week field \"1,\": empty list item"},
        // garbage
        Bad{"1x * * * *", "minute field \"1x\": unexpected \"x\""},
        Bad{"-5 * * * *", "minute field \"-5\": unexpected \"-\""},
        Bad{"1- * * * *", "missing range end"},
        Bad{"** * * * *", "unexpected \"*\""},
        Bad{"1-2-3 * * * *", "unexpected \"-3\""},
        Bad{"*-5 * * * *", "unexpected \"-5\""},
        Bad{"? * * * *", "unexpected \"?\""},
        Bad{"1/2/3 * * * *", "unexpected \"/3\""},
        // macros
        Bad{"@reboot", "unknown macro"},
        Bad{"@daily 0", "unknown macro"},
        Bad{"@", "unknown macro"},
        // never fires
        Bad{"0 0 30 2 *", "can never fire"},
        Bad{"0 0 31 2,4,6,9,11 *", "can never fire"},
    };
    for (const Bad& b : k_bad) {
        CAPTURE(b.expression);
        const auto r = parse_cron(b.expression);
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().code() == Status::Code::invalid_argument);
        const std::string& msg = r.status().message();
        CAPTURE(msg);
        CHECK(msg.find(b.message_contains) != std::string::npos);
        // The whole expression is quoted too, so a log line identifies the inventory entry.
        CHECK(msg.find(std::string("cron expression \"")) == 0);
    }
}

TEST_CASE("expressions that fire rarely, or only through the OR rule, are accepted") {
    CHECK(parse_cron("0 0 29 2 *").is_ok());
    // Both day fields restricted: OR, so weekdays in February make it fire.
    CHECK(parse_cron("0 0 30,31 feb 1-5").is_ok());
    CHECK(parse_cron("0 0 29-31 2 *").is_ok());
    CHECK(parse_cron("0 0 */30 2 *").is_ok());  // day 1 (and 31): fires on Feb 1
}

TEST_CASE("next_slot gives up on a hand-built cron that cannot fire, and past the end of time") {
    CronSchedule impossible;  // nothing allowed at all
    CHECK(next_slot(impossible, "", 0) == k_no_slot);

    // Feb 30 only, built by hand (parse_cron refuses it): the search stops after 401 years.
    auto feb30 = parse_cron("0 0 * 2 *");
    REQUIRE(feb30.is_ok());
    feb30->days_of_month.reset();
    feb30->days_of_month.set(30);
    feb30->dom_restricted = true;
    CHECK(next_slot(*feb30, "", 1735689600) == k_no_slot);

    constexpr unix_time k_max = std::numeric_limits<unix_time>::max();
    constexpr unix_time k_min = std::numeric_limits<unix_time>::min();
    // k_max - 7 is second 0 of the last minute that starts within unix_time.
    CHECK(next_slot(cron("* * * * *"), "", k_max - 10) == k_max - 7);
    CHECK(next_slot(cron("* * * * *"), "", k_max - 7) == k_no_slot);
    CHECK(next_slot(cron("0 0 1 1 *"), "", k_max - 86400LL * 20) ==
          k_no_slot);  // k_max is in December
    CHECK(next_slot(cron("* * * * *"), "", k_min) == (k_min / 60) * 60);
}

TEST_CASE("interval phase is FNV-1a 64 of the task key modulo the interval") {
    // Reference values from an independent FNV-1a implementation (Python); "a" is the
    // published FNV-1a 64 test vector 0xaf63dc4c8601ec8c = 12638187200555641996.
    CHECK(netkeep::interval_phase("device-1/show_run", 3600) == 917);
    CHECK(netkeep::interval_phase("device-1/show_run", 86400) == 33317);
    CHECK(netkeep::interval_phase("core-sw-01/running-config", 3600) == 2126);
    CHECK(netkeep::interval_phase("a", 3600) == 1996);
    CHECK(netkeep::interval_phase("", 3600) == 437);
    // Must not divide by zero on a bad interval; treated as 1.
    CHECK(netkeep::interval_phase("a", 0) == 0);
    CHECK(netkeep::interval_phase("a", -5) == 0);
    CHECK(netkeep::interval_phase("a", 1) == 0);
}

TEST_CASE("10,000 tasks on one interval spread across it") {
    constexpr std::int64_t k_interval = 3600;
    constexpr int k_tasks = 10000;
    constexpr int k_buckets = 60;  // one per minute
    std::array<int, k_buckets> buckets{};
    for (int i = 0; i < k_tasks; ++i) {
        const std::string key = "device-" + std::to_string(i) + "/show_run";
        const std::int64_t phase = netkeep::interval_phase(key, k_interval);
        REQUIRE(phase >= 0);
        REQUIRE(phase < k_interval);
        ++buckets[static_cast<std::size_t>(phase / 60)];
    }
    const int expected = k_tasks / k_buckets;  // 166
    for (int count : buckets) {
        CHECK(count <= 3 * expected);
        CHECK(count > 0);
    }
}

TEST_CASE("interval next_slot is strictly after t and aligned to the task's phase") {
    const netkeep::Schedule hourly = IntervalSchedule{3600};
    const char* key = "device-1/show_run";  // phase 917
    // 2025-06-04 10:30:30 -> 11:00:00 + 917 s (computed by hand, see phase test above).
    CHECK(next_slot(hourly, key, 1749033030) == 1749035717);
    // Exactly on a slot: the next one, a whole interval later.
    CHECK(next_slot(hourly, key, 1749035717) == 1749035717 + 3600);
    CHECK(next_slot(hourly, key, 1749035716) == 1749035717);
    CHECK(next_slot(hourly, key, 917) == 917 + 3600);
    CHECK(next_slot(hourly, key, 0) == 917);
    CHECK(next_slot(hourly, key, -1) == 917);
    CHECK(next_slot(hourly, key, -3600) == 917 - 3600);

    for (unix_time t = 1749033030 - 7300; t < 1749033030 + 7300; t += 37) {
        const unix_time s = next_slot(hourly, key, t);
        CHECK(s > t);
        CHECK(s - t <= 3600);
        CHECK((s - 917) % 3600 == 0);
    }

    // Bad intervals do not divide by zero: every second is a slot.
    CHECK(next_slot(IntervalSchedule{0}, key, 10) == 11);
    CHECK(next_slot(IntervalSchedule{-5}, key, 10) == 11);

    // No slot left before the end of unix_time.
    constexpr unix_time k_max = std::numeric_limits<unix_time>::max();
    CHECK(next_slot(hourly, key, k_max - 1) == k_no_slot);
    CHECK(next_slot(hourly, key, k_max) == k_no_slot);
    const unix_time low = next_slot(hourly, key, std::numeric_limits<unix_time>::min());
    CHECK(low > std::numeric_limits<unix_time>::min());
}
