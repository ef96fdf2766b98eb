// A job's "redact" and "noise" forms (docs/jobs.md#redact, #noise): what the loader
// accepts, what it refuses and with which message.
#include <doctest/doctest.h>

#include <string>

#include "netkeep/inventory.hpp"

using namespace netkeep;

namespace {

const char* k_devices =
    R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}}]})";

// jobs.json with one job whose extra fields are `fields` (JSON members, no braces).
Result<Inventory> load(const std::string& fields) {
    std::string jobs = R"({"jobs": [{"name": "j", "schedule": {"interval": 3600},
        "command": {"inline": ["show run"]})" +
                       (fields.empty() ? "" : ", " + fields) + "}]}";
    return parse_inventory({k_devices, jobs},
                           InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
}

std::string error_of(const std::string& fields) {
    auto inv = load(fields);
    REQUIRE_FALSE(inv.is_ok());
    return inv.status().message();
}

}  // namespace

TEST_CASE("absent redact and noise: nullopt (the platform's apply); [] is present and empty") {
    auto inv = load("");
    REQUIRE(inv.is_ok());
    CHECK_FALSE(inv->jobs[0].redact.has_value());
    CHECK_FALSE(inv->jobs[0].noise.has_value());
    inv = load(R"("redact": [], "noise": [])");
    REQUIRE(inv.is_ok());
    REQUIRE(inv->jobs[0].redact.has_value());
    CHECK(inv->jobs[0].redact->empty());
    REQUIRE(inv->jobs[0].noise.has_value());
    CHECK(inv->jobs[0].noise->empty());
}

TEST_CASE("the three redact forms and the noise actions load in order") {
    auto inv = load(R"("redact": [
        {"regex": "^(secret) \\S+", "replace": "$1 <removed>"},
        {"delete_line": "^enable password"},
        {"block": {"begin": "^-----BEGIN", "end": "^-----END"}, "replace": "<key removed>"}],
      "noise": [{"regex": "^! Last", "action": "drop"}, {"regex": "^ntp", "action": "ignore"}])");
    REQUIRE(inv.is_ok());
    const auto& r = *inv->jobs[0].redact;
    REQUIRE(r.size() == 3);
    CHECK(r[0] == Redaction{"^(secret) \\S+", "$1 <removed>"});
    CHECK(r[1] == Redaction{"^enable password", "", Redaction::Kind::delete_line});
    CHECK(r[2] == Redaction{"^-----BEGIN", "<key removed>", Redaction::Kind::block, "^-----END"});
    const auto& n = *inv->jobs[0].noise;
    REQUIRE(n.size() == 2);
    CHECK(n[0] == NoiseRule{NoiseRule::Action::drop, "^! Last"});
    CHECK(n[1] == NoiseRule{NoiseRule::Action::ignore, "^ntp"});
    // A job's own rules are what content_rules gives its tasks (no platform here).
    CHECK(content_rules(*inv, inv->tasks[0]) == ContentRules{r, n});
}

TEST_CASE("bad redact rules are refused with the path") {
    CHECK(error_of(R"("redact": {})").starts_with("jobs.json: /jobs/0/redact: must be an array"));
    CHECK(error_of(R"("redact": [{"replace": "x"}])") ==
          "jobs.json: /jobs/0/redact/0: must have exactly one of 'regex', 'delete_line' or "
          "'block'");
    CHECK(error_of(R"("redact": [{"regex": "a", "delete_line": "b", "replace": "x"}])") ==
          "jobs.json: /jobs/0/redact/0: must have exactly one of 'regex', 'delete_line' or "
          "'block'");
    CHECK(error_of(R"("redact": [{"regex": "a"}])") ==
          "jobs.json: /jobs/0/redact/0: missing field 'replace'");
    CHECK(error_of(R"("redact": [{"delete_line": "a", "replace": "x"}])") ==
          "jobs.json: /jobs/0/redact/0: 'delete_line' takes no other field");
    CHECK(error_of(R"("redact": [{"delete_line": "(a"}])")
              .starts_with("jobs.json: /jobs/0/redact/0/delete_line: not a valid regular "
                           "expression"));
    CHECK(error_of(R"("redact": [{"delete_line": 5}])")
              .starts_with("jobs.json: /jobs/0/redact/0/delete_line: "));
    CHECK(error_of(R"("redact": [{"block": {"begin": "a"}, "replace": ""}])") ==
          "jobs.json: /jobs/0/redact/0/block: missing field 'end'");
    CHECK(error_of(R"("redact": [{"block": {"begin": "a", "end": "b"}}])") ==
          "jobs.json: /jobs/0/redact/0: missing field 'replace'");
    CHECK(error_of(R"j("redact": [{"block": {"begin": "a", "end": "(?=b)"}, "replace": ""}])j")
              .starts_with("jobs.json: /jobs/0/redact/0/block/end: not a valid regular "
                           "expression"));
    CHECK(error_of(R"("redact": [{"block": {"begin": "a", "end": "b", "x": 1}, "replace": ""}])") ==
          "jobs.json: /jobs/0/redact/0/block/x: unknown field 'x'");
    CHECK(
        error_of(R"("redact": [{"block": {"begin": "a", "end": "b"}, "replace": "two\nlines"}])") ==
        "jobs.json: /jobs/0/redact/0/replace: must be one line (no line break)");
    CHECK(error_of(R"("redact": [{"regex": "a", "replace": "x", "other": 1}])") ==
          "jobs.json: /jobs/0/redact/0/other: unknown field 'other'");
}

TEST_CASE("bad noise rules are refused with the path") {
    CHECK(error_of(R"("noise": "drop")").starts_with("jobs.json: /jobs/0/noise: must be an array"));
    CHECK(error_of(R"("noise": [{"regex": "a"}])") ==
          "jobs.json: /jobs/0/noise/0: missing field 'action'");
    CHECK(error_of(R"("noise": [{"action": "drop"}])") ==
          "jobs.json: /jobs/0/noise/0: missing field 'regex'");
    CHECK(error_of(R"("noise": [{"regex": "a", "action": "hide"}])") ==
          "jobs.json: /jobs/0/noise/0/action: must be \"drop\" or \"ignore\"");
    CHECK(error_of(R"("noise": [{"regex": "a\\1", "action": "drop"}])")
              .starts_with("jobs.json: /jobs/0/noise/0/regex: not a valid regular expression"));
}

TEST_CASE("rule lists are bounded: at most 256 rules each") {
    std::string many;
    for (int i = 0; i < 257; ++i) many += std::string(i ? "," : "") + R"({"delete_line": "a"})";
    CHECK(error_of(R"("redact": [)" + many + "]") ==
          "jobs.json: /jobs/0/redact: at most 256 rules");
    std::string noise;
    for (int i = 0; i < 257; ++i)
        noise += std::string(i ? "," : "") + R"({"regex": "a", "action": "ignore"})";
    CHECK(error_of(R"("noise": [)" + noise + "]") == "jobs.json: /jobs/0/noise: at most 256 rules");
    many.resize(many.rfind(','));  // 256 is fine
    CHECK(load(R"("redact": [)" + many + "]").is_ok());
}
