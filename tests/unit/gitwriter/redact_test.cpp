// Redaction rules applied line by line (docs/jobs.md#redact).
#include <doctest/doctest.h>

#include "gitwriter/redact.hpp"

using namespace netkeep;
using namespace netkeep::gitwriter;

namespace {

Redactor compile(std::vector<Redaction> rules) {
    auto r = Redactor::compile(rules);
    REQUIRE(r.is_ok());
    return std::move(r.value());
}

std::string redact(const Redactor& r, std::string_view text) {
    auto out = r.redact_text(text);
    REQUIRE(out.is_ok());
    return out.value();
}

const std::vector<Redaction> k_docs_rules = {
    {R"(^(username \S+ (privilege \d+ )?(secret|password) \d+) \S+)", "$1 <removed>"},
    {R"(^(snmp-server community) \S+)", "$1 <removed>"},
    {R"((encrypted-password ")[^"]*)", "$1<removed>"},
};

}  // namespace

TEST_CASE("the examples of docs/jobs.md") {
    auto r = compile(k_docs_rules);
    CHECK(redact(r, "username admin privilege 15 secret 9 $9$Xy1abcDEF$QWERTY\n") ==
          "username admin privilege 15 secret 9 <removed>\n");
    CHECK(redact(r, "username ops password 7 0822455D0A16\n") ==
          "username ops password 7 <removed>\n");
    CHECK(redact(r, "snmp-server community s3cr3t RO 10\n") ==
          "snmp-server community <removed> RO 10\n");
    CHECK(
        redact(r,
               "set system login user backup authentication encrypted-password \"$6$abc$def\"\n") ==
        "set system login user backup authentication encrypted-password \"<removed>\"\n");
}

TEST_CASE("rules apply per line: ^ and $ anchor at each line, endings are kept") {
    auto r = compile({{"^secret (\\S+)$", "secret <removed>"}});
    CHECK(redact(r, "hostname r1\nsecret abc\nsecret def\r\nend") ==
          "hostname r1\nsecret <removed>\nsecret <removed>\r\nend");
    CHECK(redact(r, "secret abc") == "secret <removed>");    // last line without an ending
    CHECK(redact(r, "x secret abc\n") == "x secret abc\n");  // ^ is the line's start
    CHECK(redact(r, "") == "");
    CHECK(redact(r, "\n\n") == "\n\n");
}

TEST_CASE("every match in a line is replaced, rules in order, $& and $$ work") {
    auto r = compile({{"[0-9]", "#"}, {"#+", "[$&]"}, {"cost", "$$"}});
    CHECK(redact(r, "a1b22 cost\n") == "a[#]b[##] $\n");
}

TEST_CASE("no rules: the content is unchanged, bytes and all") {
    auto r = compile({});
    CHECK(r.empty());
    std::string binary("a\0b\r\n\xff\n", 7);
    CHECK(redact(r, binary) == binary);
}

TEST_CASE("a rule that does not compile is refused") {
    CHECK(!Redactor::compile({{"(unclosed", "x"}}).is_ok());
}

TEST_CASE("InventoryRules tracks each job's rules through InventoryApplied events") {
    InventoryApplied first;
    first.devices_json =
        R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": {"env": "PW"}}}]})";
    first.jobs_json = R"({"jobs": [
        {"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
         "redact": [{"regex": "^secret \\S+", "replace": "secret <removed>"}]},
        {"name": "plain", "schedule": {"interval": 3600}, "command": {"inline": ["show ver"]}}]})";
    InventoryRules rules;
    REQUIRE(rules.apply(1, first).is_ok());  // structural: the env secret is not resolved
    REQUIRE(rules.find("show_run") != nullptr);
    CHECK(*rules.find("show_run")->redact_line("secret x\n") == "secret <removed>\n");
    CHECK(rules.find("plain") == nullptr);
    CHECK(rules.find("unknown") == nullptr);

    // show_run leaves the inventory: a late completion for it is still redacted.
    InventoryApplied second = first;
    second.jobs_json = R"({"jobs": [
        {"name": "plain", "schedule": {"interval": 3600}, "command": {"inline": ["show ver"]},
         "redact": [{"regex": "v", "replace": "V"}]}]})";
    REQUIRE(rules.apply(2, second).is_ok());
    REQUIRE(rules.find("show_run") != nullptr);
    REQUIRE(rules.find("plain") != nullptr);
    CHECK(*rules.find("plain")->redact_line("ver\n") == "Ver\n");

    InventoryApplied broken = first;
    broken.jobs_json = "{";
    auto s = rules.apply(3, broken);
    CHECK(s.code() == Status::Code::corruption);
    CHECK(s.message().find("seq 3") != std::string::npos);
    CHECK(rules.find("plain") != nullptr);  // unchanged
}

TEST_CASE("InventoryRules keeps each device's group, also after the device leaves") {
    InventoryApplied first;
    first.devices_json = R"({"profiles": {"dal": {"group": "dallas"}}, "devices": [
        {"name": "r1", "profile": "dal", "credentials": {"user": "u"}},
        {"name": "r2", "group": "houston", "credentials": {"user": "u"}},
        {"name": "r3", "credentials": {"user": "u"}}]})";
    first.jobs_json = R"({"jobs": []})";
    InventoryRules rules;
    REQUIRE(rules.apply(1, first).is_ok());
    CHECK(rules.group_of("r1") == "dallas");
    CHECK(rules.group_of("r2") == "houston");
    CHECK(rules.group_of("r3").empty());

    InventoryApplied second = first;
    second.devices_json = R"({"devices": [{"name": "r1", "credentials": {"user": "u"}},
                                          {"name": "r3", "group": "austin", "credentials": {"user": "u"}}]})";
    REQUIRE(rules.apply(2, second).is_ok());
    CHECK(rules.group_of("r1").empty());         // still there, ungrouped now
    CHECK(rules.group_of("r2") == "houston");    // gone: keeps its last group
    CHECK(rules.group_of("r3") == "austin");
}
