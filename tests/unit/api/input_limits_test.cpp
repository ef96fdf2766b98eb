#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "api/input_limits.hpp"

using namespace netkeep;
using namespace netkeep::api;

TEST_CASE("a failure text up to 4 KiB is kept as sent") {
    const std::string at_limit(k_max_failure_bytes, 'x');
    CHECK(bounded_failure(at_limit) == at_limit);
    CHECK(bounded_failure("") == "");
    CHECK_FALSE(failure_too_long(at_limit));
}

TEST_CASE("a longer failure text is cut to 4 KiB with a marker naming its size") {
    const std::string sent(64 * 1024, 'x');
    REQUIRE(failure_too_long(sent));
    const std::string kept = bounded_failure(sent);
    CHECK(kept.size() <= k_max_failure_bytes);
    CHECK(kept.ends_with(" [truncated: 65536 bytes sent]"));
    CHECK(kept.starts_with(std::string(4000, 'x')));
}

TEST_CASE("the cut never splits a UTF-8 sequence, wherever it falls") {
    // "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes), each shifted across the cut point.
    for (std::string ch :
         {std::string("\xc3\xa9"), std::string("\xe2\x82\xac"), std::string("\xf0\x9f\x98\x80")}) {
        for (std::size_t shift = 0; shift < 4; ++shift) {
            std::string sent(shift, 'a');
            while (sent.size() < 2 * k_max_failure_bytes) sent += ch;
            const std::string kept = bounded_failure(sent);
            const std::string body = kept.substr(0, kept.find(" [truncated: "));
            CAPTURE(shift);
            CAPTURE(ch.size());
            REQUIRE(kept.size() <= k_max_failure_bytes);
            // What is kept is whole characters: the part after the 'a's is a multiple of ch.
            REQUIRE((body.size() - shift) % ch.size() == 0);
            CHECK(body.size() + ch.size() >
                  k_max_failure_bytes - 40);  // backed up at most one character
        }
    }
}

TEST_CASE("completion timestamps: job <= start <= end <= now + 300 s, none negative") {
    const unix_time now = 1'800'000'000;
    const unix_time job = now - 60;
    CHECK_FALSE(check_completion_times(job, job, job, now));
    CHECK_FALSE(check_completion_times(job, job + 1, now + k_max_clock_ahead, now));

    auto refused = [&](unix_time j, unix_time s, unix_time e) -> std::string {
        auto r = check_completion_times(j, s, e, now);
        REQUIRE(r);
        CHECK_FALSE(r->message.empty());
        return r->field;
    };
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    constexpr auto min = std::numeric_limits<std::int64_t>::min();
    CHECK(refused(job, job, now + k_max_clock_ahead + 1) == "end_timestamp");  // the future
    CHECK(refused(job, job, max) == "end_timestamp");                          // INT64_MAX
    CHECK(refused(max, max, max) == "end_timestamp");
    CHECK(refused(job, -1, job) == "start_timestamp");  // negative
    CHECK(refused(job, job, -1) == "end_timestamp");
    CHECK(refused(-1, 0, 0) == "job_timestamp");
    CHECK(refused(min, min, min) == "job_timestamp");
    CHECK(refused(job, job - 1, job) == "start_timestamp");     // started before it was due
    CHECK(refused(job, job + 10, job + 9) == "end_timestamp");  // ended before it started
}

TEST_CASE("worker names: at most 128 bytes, no control characters") {
    CHECK_FALSE(worker_name_problem("worker-dc1"));
    CHECK_FALSE(worker_name_problem(std::string(k_max_worker_name_bytes, 'w')));
    CHECK(worker_name_problem(std::string(k_max_worker_name_bytes + 1, 'w')));
    CHECK(
        worker_name_problem("a\x01"
                            "b"));
    CHECK(worker_name_problem(std::string("a\0b", 3)));
}
