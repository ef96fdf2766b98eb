// The git writer's public records (netkeep/git_records.hpp): what netkeepctl reads.
// Included alone, first: the public header stands on its own.
#include "netkeep/git_records.hpp"

#include <doctest/doctest.h>

using namespace netkeep;
using namespace netkeep::gitwriter;

TEST_CASE("the meta keys are the ones on disk (docs/git.md)") {
    CHECK(k_cursor_key == "gitwriter.cursor");
    CHECK(k_inventory_key == "gitwriter.inventory_seq");
    CHECK(k_applied_prefix == "gitwriter.applied.");
    CHECK(k_quarantine_prefix == "gitwriter.quarantine.");
    CHECK(k_seq_trailer == "Netkeep-Seq");
    CHECK(k_job_timestamp_trailer == "Netkeep-Job-Timestamp");
    CHECK(k_retried_after_trailer == "Netkeep-Retried-After");
}

TEST_CASE("parse_seq_trailer reads only the last paragraph") {
    CHECK(parse_seq_trailer("subject\n\nbody\n\nNetkeep-Seq: 5\n") == 5u);
    CHECK(parse_seq_trailer("subject\n\nbody\n\nNetkeep-Seq: 5") == 5u);
    CHECK(parse_seq_trailer("subject\r\n\r\nNetkeep-Seq: 5\r\n") ==
          std::nullopt);  // not git's paragraphs
    CHECK(parse_seq_trailer("subject\n\nOther: x\nNetkeep-Seq: 5\nSigned-off-by: a\n") == 5u);
    CHECK(parse_seq_trailer("Netkeep-Seq: 5\n") == std::nullopt);  // a subject is not a trailer
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: 5\n\nbody after\n") == std::nullopt);
    CHECK(parse_seq_trailer("") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: \n") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: 12x\n") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: -1\n") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: 99999999999999999999\n") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seqx: 5\n") == std::nullopt);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: 5\nNetkeep-Seq: 5\n") == 5u);
    CHECK(parse_seq_trailer("subject\n\nNetkeep-Seq: 5\nNetkeep-Seq: 6\n") ==
          std::nullopt);  // hand-edited
}

TEST_CASE("parse_u64 takes a decimal and nothing else") {
    CHECK(parse_u64("0") == 0u);
    CHECK(parse_u64("42") == 42u);
    CHECK(parse_u64("") == std::nullopt);
    CHECK(parse_u64(" 42") == std::nullopt);
    CHECK(parse_u64("42 ") == std::nullopt);
    CHECK(parse_u64("+4") == std::nullopt);
}

TEST_CASE("applied records round-trip and sort in log order") {
    AppliedRecord committed{std::string(40, 'a'), std::string(40, 'b'), "dallas/r1/show_run"};
    AppliedRecord unchanged{std::string(40, 'c'), "", "r1/show_run"};
    CHECK(format_applied_record(unchanged) == std::string(40, 'c') + " - r1/show_run");
    CHECK(parse_applied_record(format_applied_record(committed)) == committed);
    CHECK(parse_applied_record(format_applied_record(unchanged)) == unchanged);
    CHECK_FALSE(parse_applied_record("abc - r1/x").has_value());
    CHECK_FALSE(parse_applied_record(std::string(40, 'a') + " -").has_value());
    CHECK(applied_key(42) == "gitwriter.applied.00000000000000000042");
    CHECK(applied_key(9) < applied_key(10));
}

TEST_CASE("quarantine records round-trip; positions prefer Netkeep-Retried-After") {
    QuarantineRecord r{QuarantineState::retrying,        3, 1700000000, 42, 977,
                       "seq 5: opening x: No such\nfile"};
    auto text = format_quarantine_record(r);
    CHECK(text == "retrying 3 1700000000 42 977 seq 5: opening x: No such file");
    auto back = parse_quarantine_record(text);
    REQUIRE(back);
    r.detail = "seq 5: opening x: No such file";
    CHECK(*back == r);
    CHECK(parse_quarantine_record("quarantined 3 1 0 0 ")->detail.empty());
    CHECK_FALSE(parse_quarantine_record("bogus 3 1 0 0 x"));
    CHECK_FALSE(parse_quarantine_record("quarantined x 1 0 0 x"));
    CHECK_FALSE(parse_quarantine_record("quarantined 3 1 0"));
    CHECK(quarantine_key(7) == "gitwriter.quarantine.00000000000000000007");

    CHECK(parse_position("subject\n\nNetkeep-Seq: 5\nNetkeep-Retried-After: 977\n") == 977u);
    CHECK(parse_position("subject\n\nNetkeep-Seq: 5\n") == 5u);
    CHECK(parse_position("subject\n\nbody\n") == std::nullopt);
    CHECK(parse_position("subject\n\nNetkeep-Retried-After: 9\n") ==
          std::nullopt);  // no seq: not netkeep's
}
