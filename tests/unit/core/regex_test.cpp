// netkeep's one regex engine (include/netkeep/regex.hpp): RE2 compiled one way for the
// inventory loader, the git writer and the worker.
#include <doctest/doctest.h>

#include <string>

#include "netkeep/regex.hpp"

using namespace netkeep;

TEST_CASE("search: groups, a start offset, ^ anchored at the text's start") {
    auto re = Regex::compile(R"((secret) ([0-9]+)(x)?)");
    REQUIRE(re.is_ok());
    CHECK(re->group_count() == 3);
    std::string_view g[4];
    std::string_view text = "a secret 5 b secret 7";
    REQUIRE(re->search(text, 0, g));
    CHECK(g[0] == "secret 5");
    CHECK(g[1] == "secret");
    CHECK(g[2] == "5");
    CHECK(g[3].data() == nullptr);  // did not take part
    REQUIRE(re->search(text, 10, g));
    CHECK(g[2] == "7");
    CHECK_FALSE(re->search(text, 20, g));
    CHECK_FALSE(re->search(text, text.size() + 1, g));

    auto start = Regex::compile("^b");
    REQUIRE(start.is_ok());
    CHECK_FALSE(start->search("ab", 1, {}));  // offset 1 is not the start of the text
    CHECK(start->search("b"));
}

TEST_CASE("many groups") {
    std::string pattern;
    for (int i = 0; i < 15; ++i) pattern += "(.)";
    auto re = Regex::compile(pattern);
    REQUIRE(re.is_ok());
    std::string_view g[16];
    REQUIRE(re->search("abcdefghijklmno", 0, g));
    CHECK(g[15] == "o");
}

TEST_CASE("bytes, not UTF-8; inline flags") {
    auto re = Regex::compile(R"(^k \S+ .$)");
    REQUIRE(re.is_ok());
    CHECK(re->search("k \xff\xfe \x80"));
    auto icase = Regex::compile("(?i)password:");
    REQUIRE(icase.is_ok());
    CHECK(icase->search("PassWord:"));
}

TEST_CASE("refused: too long, too large, what RE2 lacks") {
    CHECK(Regex::compile(std::string(Regex::k_max_length, 'a')).is_ok());
    auto long_one = Regex::compile(std::string(Regex::k_max_length + 1, 'a'));
    CHECK(long_one.status().code() == Status::Code::invalid_argument);
    std::string wide;
    for (int i = 0; i < 20; ++i) wide += R"(\w{1000})";
    auto large = Regex::compile(wide);
    REQUIRE_FALSE(large.is_ok());
    CHECK(large.status().message().find("memory limit") != std::string::npos);
    CHECK(Regex::compile(R"((a)\1)").status().message().find("back-references") !=
          std::string::npos);
    CHECK(Regex::compile("a(?!b)").status().message().find("look-ahead") != std::string::npos);
    CHECK(Regex::compile("a*+").status().message().find("possessive") != std::string::npos);
    CHECK(Regex::compile("(?>a)").status().message().find("atomic") != std::string::npos);
}

TEST_CASE("a deeply nested pattern compiles and searches without recursion") {
    // std::regex overflowed the stack on this (why the loader capped nesting at 16).
    std::string deep = std::string(400, '(') + "a" + std::string(400, ')');
    auto re = Regex::compile(deep);
    REQUIRE(re.is_ok());
    CHECK(re->search(std::string(100'000, 'b') + "a"));
}
