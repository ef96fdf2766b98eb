// Progress, the git writer's exactly-once state (git_writer_impl.hpp): the two moves
// that keep its invariants without the writer around them.
#include <doctest/doctest.h>

#include "gitwriter/git_writer_impl.hpp"

using namespace netkeep::gitwriter;

TEST_CASE("a batch that failed to publish rewinds to main and owes nothing past it") {
    Progress p;
    p.persisted = 10;
    p.published = 12;
    p.cursor = 15;
    for (std::uint64_t seq : {11, 12, 13, 15}) {
        p.records.emplace_back(seq, AppliedRecord{std::string(40, 'a'), "", "r1/show_run"});
        p.spool_to_remove.emplace_back(seq, "f" + std::to_string(seq));
    }
    CHECK_FALSE(p.settled());
    p.rewind_to_published();
    CHECK(p.cursor == 12);
    CHECK(p.persisted == 10);
    REQUIRE(p.records.size() == 2);
    CHECK(p.records.back().first == 12);
    REQUIRE(p.spool_to_remove.size() == 2);
    CHECK(p.spool_to_remove.back().second == "f12");
    CHECK(p.needs_recover);
    CHECK_FALSE(p.settled());
}

TEST_CASE("settled: published and persisted up to the cursor, nothing to recover") {
    Progress p;
    CHECK(p.settled());
    p.cursor = p.published = p.persisted = 7;
    CHECK(p.settled());
    p.persisted = 6;
    CHECK_FALSE(p.settled());
    p.persisted = 7;
    p.needs_recover = true;
    CHECK_FALSE(p.settled());
}
