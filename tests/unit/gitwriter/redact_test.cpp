// Redaction rules applied line by line (docs/jobs.md#redact).
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include <fmt/format.h>

#include "gitwriter/redact.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using namespace netkeep::gitwriter;

namespace {

Redactor compile(std::vector<Redaction> rules) {
    auto r = Redactor::compile(rules);
    REQUIRE(r.is_ok());
    return std::move(r.value());
}

std::string redact(const Redactor& r, std::string_view text) { return r.redact_text(text); }

std::string line_of(const Redactor& r, std::string_view line) {
    std::string out;
    CHECK(r.redact_line(line, out));
    return out;
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
    // What RE2 does not have (the inventory loader refuses these first).
    auto backref = Redactor::compile({{"(a)\\1", "x"}});
    REQUIRE(!backref.is_ok());
    CHECK(backref.status().message().find("back-references") != std::string::npos);
    CHECK(!Redactor::compile({{"a(?=b)", "x"}}).is_ok());
}

TEST_CASE("RE2 syntax: inline flags, bytes that are not UTF-8") {
    auto r = compile({{"(?i)^(SNMP-server community) \\S+", "$1 <removed>"}});
    CHECK(redact(r, "snmp-server community s3cr3t RO\n") == "snmp-server community <removed> RO\n");
    // Device output is bytes: \S and . match any byte, as they did with std::regex.
    auto bytes = compile({{"(key) \\S+", "$1 <removed>"}, {"x.y", "<xy>"}});
    CHECK(redact(bytes,
                 "key \xff\xfe\x80"
                 "abc end\nx\xe9y\n") == "key <removed> end\n<xy>\n");
}

// The expected strings are what libstdc++'s std::regex_replace gave for the same rules
// (netkeep's engine before RE2): existing inventories keep their meaning.
TEST_CASE("the replacement syntax is the one docs/jobs.md has always described") {
    auto r = compile({{"(a)(b)?", "[$1|$2|$3|$0|$$|$x|$]"}});
    // $2 did not take part: empty; $3 does not exist: nothing; $0 is the whole match.
    CHECK(redact(r, "a") == "[a|||a|$|$x|$]");
    auto two = compile({{"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "$11$10-$1"}});
    CHECK(redact(two, "abcdefghijk") == "kj-a");
    auto only_one = compile({{"(a)", "<$10>"}});  // two digits read, no group 10: nothing
    CHECK(redact(only_one, "a") == "<>");
    auto around = compile({{"b", "[$`|$']"}});
    CHECK(redact(around, "abcbd") == "a[a|cbd]c[c|d]d");
}

TEST_CASE("empty matches advance one byte, never loop (as std::regex_replace)") {
    CHECK(redact(compile({{"x*", "-"}}), "abc\n") == "-a-b-c-\n");
    CHECK(redact(compile({{"x*", "-"}}), "xxa\n") == "--a-\n");
    CHECK(redact(compile({{"x*", "[$`]"}}), "abc\n") == "[]a[a]b[b]c[c]\n");
    CHECK(redact(compile({{"^", ">"}}), "ab\n\ncd") == ">ab\n>\n>cd");
    CHECK(redact(compile({{"$", "<"}}), "ab\r\n") == "ab<\r\n");
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
    REQUIRE(rules.find("r1", "show_run") != nullptr);
    CHECK(line_of(*rules.find("r1", "show_run"), "secret x\n") == "secret <removed>\n");
    CHECK(rules.find("r1", "plain") == nullptr);
    CHECK(rules.find("r1", "unknown") == nullptr);

    // show_run leaves the inventory: a late completion for it is still redacted.
    InventoryApplied second = first;
    second.jobs_json = R"({"jobs": [
        {"name": "plain", "schedule": {"interval": 3600}, "command": {"inline": ["show ver"]},
         "redact": [{"regex": "v", "replace": "V"}]}]})";
    REQUIRE(rules.apply(2, second).is_ok());
    REQUIRE(rules.find("r1", "show_run") != nullptr);
    REQUIRE(rules.find("r1", "plain") != nullptr);
    CHECK(line_of(*rules.find("r1", "plain"), "ver\n") == "Ver\n");

    InventoryApplied broken = first;
    broken.jobs_json = "{";
    auto s = rules.apply(3, broken);
    CHECK(s.code() == Status::Code::corruption);
    CHECK(s.message().find("seq 3") != std::string::npos);
    CHECK(rules.find("r1", "plain") != nullptr);  // unchanged
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
    CHECK(rules.group_of("r1").empty());       // still there, ungrouped now
    CHECK(rules.group_of("r2") == "houston");  // gone: keeps its last group
    CHECK(rules.group_of("r3") == "austin");
}

// ---- hostile input (issue 11): long lines, big content ----

namespace {

const std::vector<Redaction> k_secret_rule = {{R"((secret [0-9]+) \S+)", "$1 <removed>"}};

std::string streamed(const Redactor& r, std::string_view text, std::mt19937& rng,
                     std::uint64_t* skipped) {
    std::string out;
    RedactStream stream(r, [&](std::string_view bytes) {
        out.append(bytes);
        return Status::ok();
    });
    std::uniform_int_distribution<std::size_t> size(0, 3 * Redactor::k_max_line);
    while (!text.empty()) {
        std::size_t n = std::min(text.size(), size(rng) % 7 == 0 ? 1 : size(rng));
        REQUIRE(stream.feed(text.substr(0, n)).is_ok());
        text.remove_prefix(n);
    }
    REQUIRE(stream.finish().is_ok());
    CHECK(stream.bytes_out() == out.size());
    *skipped = stream.lines_skipped();
    return out;
}

}  // namespace

TEST_CASE("a line longer than k_max_line is kept as it is and counted; the others are redacted") {
    auto r = compile(k_secret_rule);
    const std::size_t max = Redactor::k_max_line;
    // The issue's line: 1 MB, "username admin secret 5 AAAA...".
    std::string huge = "username admin secret 5 " + std::string(1'000'000, 'A');
    std::string text = "username a secret 5 abc\n" + huge + "\r\nusername b secret 7 def\n" + huge;
    std::uint64_t skipped = 0;
    std::string out = r.redact_text(text, &skipped);
    CHECK(skipped == 2);
    CHECK(out ==
          "username a secret 5 <removed>\n" + huge + "\r\nusername b secret 7 <removed>\n" + huge);

    // At the limit (without the ending) a line is redacted; one byte more and it is not.
    std::string at_limit = "secret 1 x" + std::string(max - 10, 'y');
    REQUIRE(at_limit.size() == max);
    for (std::string ending : {"", "\n", "\r\n"}) {
        CAPTURE(ending.size());
        CHECK(r.redact_text(at_limit + ending, &skipped) == "secret 1 <removed>" + ending);
        CHECK(skipped == 0);
        CHECK(r.redact_text(at_limit + "y" + ending, &skipped) == at_limit + "y" + ending);
        CHECK(skipped == 1);
        std::string out_line;
        CHECK_FALSE(r.redact_line(at_limit + "y" + ending, out_line));
        CHECK(out_line == at_limit + "y" + ending);
    }
}

TEST_CASE("RedactStream: any split of the input gives the same output") {
    auto r = compile(k_secret_rule);
    const std::size_t max = Redactor::k_max_line;
    std::string text;
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::size_t> len(0, 2 * max);
    for (int i = 0; i < 60; ++i) {
        std::size_t n = i % 3 == 0 ? len(rng) : len(rng) % 100;
        if (i % 5 == 0) n = max - 9 + std::size_t(i % 3);  // around the limit
        text += "secret 9 " + std::string(n, char('a' + i % 26));
        text += i % 2 ? "\r\n" : "\n";
    }
    text += "secret 1 tail-without-ending";
    std::uint64_t whole_skipped = 0;
    const std::string whole = r.redact_text(text, &whole_skipped);
    CHECK(whole_skipped > 0);
    for (int round = 0; round < 5; ++round) {
        std::uint64_t skipped = 0;
        CHECK(streamed(r, text, rng, &skipped) == whole);
        CHECK(skipped == whole_skipped);
    }
}

TEST_CASE("redaction is linear: big content and lines full of matches finish in seconds") {
    auto r = compile(k_secret_rule);
    using clock = std::chrono::steady_clock;
    // 32 MiB of config lines, one in four with a secret (the issue asks for 100 MB in
    // seconds; this is a third of it, with a bound that leaves room for sanitizers).
    std::string lines;
    for (int i = 0; lines.size() < (32u << 20); ++i)
        lines +=
            i % 4 == 0
                ? fmt::format(" username u{} secret 5 $9$abcdefghijklmnopqrstuv\n", i)
                : fmt::format(" interface GigabitEthernet1/0/{}\n  description port {}\n", i, i);
    auto start = clock::now();
    std::uint64_t skipped = 0;
    std::string out = r.redact_text(lines, &skipped);
    auto seconds = std::chrono::duration<double>(clock::now() - start).count();
    MESSAGE("32 MiB in " << seconds << " s");
    CHECK(skipped == 0);
    CHECK(out.find("$9$") == std::string::npos);
    CHECK(seconds < 30);

    // One line at the limit holding nothing but matches: thousands of searches, each
    // starting where the last match ended.
    std::string dense;
    while (dense.size() + 12 <= Redactor::k_max_line) dense += "secret 1 ab ";
    start = clock::now();
    for (int i = 0; i < 20; ++i) out = r.redact_text(dense + "\n", &skipped);
    seconds = std::chrono::duration<double>(clock::now() - start).count();
    MESSAGE("20 dense 64 KiB lines in " << seconds << " s");
    CHECK(out.find("ab") == std::string::npos);
    CHECK(seconds < 10);
}

TEST_CASE("redact_file: streams a file, counts skipped lines, checks the size") {
    auto r = compile(k_secret_rule);
    auto dir = netkeep::testing::TempDir::create();
    REQUIRE(dir.is_ok());
    const std::string in = (*dir / "in").string();
    const std::string out_path = (*dir / "out").string();
    std::string content = "secret 5 abc\n" + std::string(300'000, 'x') + "\nsecret 6 def";
    {
        std::FILE* f = std::fopen(in.c_str(), "wb");
        REQUIRE(f);
        std::fwrite(content.data(), 1, content.size(), f);
        std::fclose(f);
    }
    std::string seen;
    auto done = redact_file(r, in, content.size(), out_path,
                            [&](std::string_view piece) { seen.append(piece); });
    REQUIRE(done.is_ok());
    CHECK(seen == content);
    CHECK(done->lines_skipped == 1);
    const std::string expected =
        "secret 5 <removed>\n" + std::string(300'000, 'x') + "\nsecret 6 <removed>";
    CHECK(done->bytes_out == expected.size());
    CHECK(
        redact_file(r, in, content.size() + 1, out_path, [](std::string_view) {}).status().code() ==
        Status::Code::corruption);
    CHECK(redact_file(r, (*dir / "missing").string(), 1, out_path, [](std::string_view) {})
              .status()
              .code() == Status::Code::not_found);
}
