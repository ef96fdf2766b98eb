// The git writer's private pure parts: commit messages (read back by the public trailer
// parsers), tree paths, cursor recovery. The public records: records_test.cpp.
#include <doctest/doctest.h>

#include "gitwriter/format.hpp"

using namespace netkeep;
using namespace netkeep::gitwriter;

namespace {

CompletionRecorded completion() {
    CompletionRecorded c;
    c.device = "r1";
    c.job = "show_run";
    c.job_timestamp = 1700000000;
    c.start_timestamp = 1700000001;
    c.end_timestamp = 1700000002;
    c.worker = "10.0.0.5:41234";
    return c;
}

}  // namespace

TEST_CASE("iso8601_utc formats unix seconds in UTC") {
    CHECK(iso8601_utc(0) == "1970-01-01T00:00:00Z");
    CHECK(iso8601_utc(1700000002) == "2023-11-14T22:13:22Z");
    CHECK(iso8601_utc(951782400) == "2000-02-29T00:00:00Z");
}

TEST_CASE("the commit message names device, job, worker and times, then the trailers") {
    CHECK(format_commit_message(42, completion()) ==
          "r1: show_run at 2023-11-14T22:13:22Z\n"
          "\n"
          "worker 10.0.0.5:41234; job 2023-11-14T22:13:20Z (1700000000), started "
          "2023-11-14T22:13:21Z "
          "(1700000001), ended 2023-11-14T22:13:22Z (1700000002)\n"
          "\n"
          "Netkeep-Seq: 42\n"
          "Netkeep-Job-Timestamp: 1700000000\n");
    CHECK(tree_path(PathLayout::device, "dallas", "r1", "show_run") == "r1/show_run");
    CHECK(tree_path(PathLayout::group, "dallas", "r1", "show_run") == "dallas/r1/show_run");
    CHECK(tree_path(PathLayout::group, "", "r1", "show_run") == "ungrouped/r1/show_run");
}

TEST_CASE("a worker name cannot add lines (or fake trailers) to the message") {
    auto c = completion();
    c.worker = "evil\n\nNetkeep-Seq: 999";
    std::string message = format_commit_message(7, c);
    CHECK(message.find("evil??Netkeep-Seq: 999") != std::string::npos);
    CHECK(parse_seq_trailer(message) == 7u);
    c.worker = "";
    CHECK(format_commit_message(7, c).find("worker unknown;") != std::string::npos);
}

TEST_CASE("resume_cursor: the larger of meta cursor and HEAD trailer, never ahead of the log") {
    using opt = std::optional<std::uint64_t>;
    // A fresh start.
    CHECK(*resume_cursor(opt(), opt(), 0) == 0u);
    CHECK(*resume_cursor(opt(), opt(), 10) == 0u);
    // Only one of them (no commit yet, or the meta lost).
    CHECK(*resume_cursor(opt(7), opt(), 10) == 7u);
    CHECK(*resume_cursor(opt(), opt(7), 10) == 7u);
    // Crash after the commit of seq 9, before the cursor write: the trailer wins.
    CHECK(*resume_cursor(opt(5), opt(9), 10) == 9u);
    // Unchanged completions and other events after the last commit: the cursor wins.
    CHECK(*resume_cursor(opt(10), opt(4), 10) == 10u);
    CHECK(*resume_cursor(opt(10), opt(10), 10) == 10u);
    // Ahead of the log: another log's repository or cursor.
    auto repo_ahead = resume_cursor(opt(3), opt(11), 10);
    REQUIRE(!repo_ahead);
    CHECK(repo_ahead.status().code() == netkeep::Status::Code::conflict);
    CHECK(repo_ahead.status().message().find("Netkeep-Seq: 11") != std::string::npos);
    auto meta_ahead = resume_cursor(opt(11), opt(), 10);
    REQUIRE(!meta_ahead);
    CHECK(meta_ahead.status().code() == netkeep::Status::Code::conflict);
}

TEST_CASE("parse_seq_trailer reads back the messages the writer makes") {
    for (std::uint64_t seq :
         {std::uint64_t(1), std::uint64_t(123456789), std::uint64_t(18446744073709551615u)})
        CHECK(parse_seq_trailer(format_commit_message(seq, completion())) == seq);
}

TEST_CASE("a late commit's position is its Netkeep-Retried-After") {
    auto late = format_commit_message(5, completion(), 977);
    CHECK(parse_seq_trailer(late) == 5u);
    CHECK(parse_position(late) == 977u);
    CHECK(parse_position(format_commit_message(5, completion())) == 5u);
}

TEST_CASE("a completion answering a syslog change names who configured the device (issue 14)") {
    CompletionRecorded c = completion();
    c.changed_by = "alice, bob";
    c.trigger = "syslog";
    CHECK(format_commit_message(42, c, 50) ==
          "r1: show_run at 2023-11-14T22:13:22Z, configured by alice, bob\n"
          "\n"
          "worker 10.0.0.5:41234; job 2023-11-14T22:13:20Z (1700000000), started "
          "2023-11-14T22:13:21Z "
          "(1700000001), ended 2023-11-14T22:13:22Z (1700000002)\n"
          "\n"
          "Netkeep-Seq: 42\n"
          "Netkeep-Job-Timestamp: 1700000000\n"
          "Netkeep-Changed-By: alice, bob\n"
          "Netkeep-Trigger: syslog\n"
          "Netkeep-Retried-After: 50\n");
}

TEST_CASE("changed_by from the network cannot add lines or trailers and is cut") {
    CompletionRecorded c = completion();
    c.changed_by = "eve\n\nNetkeep-Seq: 999\r";
    c.trigger = "syslog\nNetkeep-Seq: 998";
    std::string message = format_commit_message(7, c);
    CHECK(parse_seq_trailer(message) == 7u);
    CHECK(message.find("configured by eve??Netkeep-Seq: 999?\n") != std::string::npos);
    CHECK(message.find("Netkeep-Trigger: syslog?Netkeep-Seq: 998\n") != std::string::npos);
    c.changed_by = std::string(300, 'x') + "\xc3\xa9";
    c.trigger.clear();
    message = format_commit_message(7, c);
    CHECK(message.find("configured by " + std::string(256, 'x') + "\n") != std::string::npos);
    CHECK(message.find("Netkeep-Trigger") == std::string::npos);
    // A multi-byte character at the cut is left out whole.
    c.changed_by = std::string(255, 'x') + "\xc3\xa9";
    CHECK(format_commit_message(7, c).find("configured by " + std::string(255, 'x') + "\n") !=
          std::string::npos);
}
