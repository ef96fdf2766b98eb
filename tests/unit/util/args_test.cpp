// The shared command-line scanner (src/util/args.hpp): the spellings it accepts, and the
// argv an attacker or a typo produces.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "util/args.hpp"

using namespace netkeep;
using namespace netkeep::args;

namespace {

constexpr Option k_table[] = {
    {"listen", Kind::value, "HOST:PORT", "where to listen"},
    {"tag", Kind::repeated, "TAG", "a tag; repeatable"},
    {"follow", Kind::flag, "", "keep reading\nuntil interrupted"},
    {"verbose", Kind::flag, "", "say more", 'v'},
    {"output", Kind::value, "FILE", "", 'o'},
};

Result<Parsed> scan(std::vector<std::string_view> args) { return parse(k_table, args); }

std::string error_of(std::vector<std::string_view> args) {
    auto r = scan(std::move(args));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Status::Code::invalid_argument);
    return r.status().message();
}

struct Settings {
    std::string listen;
    std::vector<std::string> tags;
    bool follow = false;
};

constexpr Rule<Settings> k_rules[] = {
    {{"listen", Kind::value, "HOST:PORT", ""},
     [](Settings& s, std::string_view v) -> Status {
         if (v.find(':') == std::string_view::npos)
             return Status::invalid_argument("--listen: expected HOST:PORT, got " + quoted(v));
         s.listen = std::string(v);
         return Status::ok();
     }},
    {{"tag", Kind::repeated, "TAG", ""},
     [](Settings& s, std::string_view v) {
         s.tags.emplace_back(v);
         return Status::ok();
     }},
    {{"follow", Kind::flag, "", ""},
     [](Settings& s, std::string_view) {
         s.follow = true;
         return Status::ok();
     }},
};

}  // namespace

TEST_CASE("--opt value and --opt=value are the same; flags, repeats and positionals keep order") {
    auto r = scan({"--listen", "h:1", "a", "--tag=x", "--follow", "--tag", "y", "b", "-v"});
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    CHECK_FALSE(r->help);
    CHECK(r->value("listen") == "h:1");
    CHECK(r->values("tag") == std::vector<std::string_view>{"x", "y"});
    CHECK(r->has("follow"));
    CHECK(r->has("verbose"));
    CHECK_FALSE(r->has("output"));
    CHECK_FALSE(r->value("output"));
    CHECK(r->positional == std::vector<std::string_view>{"a", "b"});
    REQUIRE(r->options.size() == 5);
    CHECK(r->options[0].index == 0);
    CHECK(r->options[3].value == "y");

    auto same = scan({"--listen=h:1"});
    REQUIRE(same.is_ok());
    CHECK(same->value("listen") == "h:1");
    // A value may hold '=' and start with '-' when written after '='.
    CHECK(scan({"--listen=--a=b"})->value("listen") == "--a=b");
    CHECK(scan({"-o", "f"})->value("output") == "f");
}

TEST_CASE("-- ends the options; - and negative numbers are arguments") {
    auto r = scan({"--follow", "--", "--listen", "-v", "--"});
    REQUIRE(r.is_ok());
    CHECK(r->positional == std::vector<std::string_view>{"--listen", "-v", "--"});
    CHECK_FALSE(r->has("listen"));
    auto dash = scan({"-", "-1", "--listen", "-5"});
    REQUIRE_MESSAGE(dash.is_ok(), dash.status().message());
    CHECK(dash->positional == std::vector<std::string_view>{"-", "-1"});
    CHECK(dash->value("listen") == "-5");
}

TEST_CASE("-h and --help win over what follows, not over an error before them") {
    for (auto args : std::vector<std::vector<std::string_view>>{
             {"--help"}, {"-h"}, {"--follow", "--help", "--bogus"}, {"a", "-h", "--listen"}}) {
        auto r = scan(args);
        REQUIRE(r.is_ok());
        CHECK(r->help);
    }
    CHECK(error_of({"--bogus", "--help"}) == "unknown option '--bogus'");
    CHECK(error_of({"--help=yes"}) == "--help takes no value");
}

TEST_CASE("attack: an unknown option is named, long or short, with or without a value") {
    CHECK(error_of({"--bogus"}) == "unknown option '--bogus'");
    CHECK(error_of({"--bogus=secret"}) == "unknown option '--bogus'");
    CHECK(error_of({"-x"}) == "unknown option '-x'");
    // No abbreviations (getopt_long would take --fol for --follow) and no bundling.
    CHECK(error_of({"--fol"}) == "unknown option '--fol'");
    CHECK(error_of({"-vo"}) == "unknown option '-vo'");
    CHECK(error_of({"---listen"}) == "unknown option '---listen'");
    CHECK(error_of({"--=x"}) == "unknown option '--'");
}

TEST_CASE("attack: a missing or empty value, or a value that looks like an option") {
    CHECK(error_of({"--listen"}) == "--listen needs a value (HOST:PORT)");
    CHECK(error_of({"-o"}) == "--output needs a value (FILE)");
    CHECK(error_of({"--listen", ""}) == "--listen needs a value (HOST:PORT), got an empty one");
    CHECK(error_of({"--listen="}) == "--listen needs a value (HOST:PORT), got an empty one");
    const std::string swallowed = error_of({"--listen", "--follow"});
    CHECK(swallowed.starts_with("--listen needs a value (HOST:PORT), got the option '--follow'"));
    CHECK(swallowed.find("--listen=VALUE") != std::string::npos);
    CHECK(error_of({"--tag", "-v"}).starts_with("--tag needs a value (TAG), got the option '-v'"));
    CHECK(error_of({"--tag", "--"}).starts_with("--tag needs a value (TAG), got the option '--'"));
    CHECK(error_of({"--follow=yes"}) == "--follow takes no value");
    CHECK(error_of({"--follow="}) == "--follow takes no value");
}

TEST_CASE("attack: a non-repeatable option given twice is refused, not silently overridden") {
    CHECK(error_of({"--listen", "a:1", "--listen=b:2"}) == "--listen may be given only once");
    CHECK(error_of({"--follow", "--follow"}) == "--follow may be given only once");
    CHECK(error_of({"-v", "--verbose"}) == "--verbose may be given only once");
    CHECK(scan({"--tag", "a", "--tag", "a"})->values("tag").size() == 2);
}

TEST_CASE("attack: a very long or binary argument is quoted short and escaped") {
    const std::string huge = "--" + std::string(1 << 20, 'A');
    const std::string message = error_of({huge});
    CHECK(message.size() < 200);
    CHECK(message.find("(1048578 bytes)") != std::string::npos);
    const std::string long_value(200000, '-');
    const std::string swallowed = error_of({"--listen", long_value});
    CHECK(swallowed.size() < 300);
    // Terminal escapes and newlines never reach stderr raw.
    const std::string escape = error_of({"--\x1b[2J\n"});
    CHECK(escape == "unknown option '--\\x1b[2J\\x0a'");
    CHECK(quoted("a'b\\") == "'a'b\\x5c'");
    // A long value that is fine is kept whole.
    const std::string path(100000, 'p');
    auto r = scan({"--output", path});
    REQUIRE(r.is_ok());
    CHECK(r->value("output")->size() == path.size());
}

TEST_CASE("parse_into applies each rule in order and stops at the first error") {
    Settings s;
    std::vector<std::string_view> args{"--tag", "a", "--listen=h:1", "--follow", "--tag", "b"};
    auto r = parse_into<Settings>(k_rules, args, s);
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    CHECK(s.listen == "h:1");
    CHECK(s.tags == std::vector<std::string>{"a", "b"});
    CHECK(s.follow);

    Settings bad;
    std::vector<std::string_view> wrong{"--tag", "a", "--listen", "nope", "--follow"};
    auto e = parse_into<Settings>(k_rules, wrong, bad);
    REQUIRE_FALSE(e.is_ok());
    CHECK(e.status().message() == "--listen: expected HOST:PORT, got 'nope'");
    CHECK_FALSE(bad.follow);

    Settings untouched;
    std::vector<std::string_view> help{"--tag", "a", "--help"};
    auto h = parse_into<Settings>(k_rules, help, untouched);
    REQUIRE(h.is_ok());
    CHECK(h->help);
    CHECK(untouched.tags.empty());
}

TEST_CASE("--help is generated from the table, one aligned column") {
    const std::string text = help_text(k_table);
    CHECK(text ==
          "  --listen HOST:PORT  where to listen\n"
          "  --tag TAG           a tag; repeatable\n"
          "  --follow            keep reading\n"
          "                      until interrupted\n"
          "  -v, --verbose       say more\n"
          "  -o, --output FILE\n"
          "  -h, --help          show this help and exit\n");
    CHECK(help_text(k_table, false).find("--help") == std::string::npos);
    const Option wide[] = {{"a-very-long-option-name", Kind::value, "VALUE", "help"},
                           {"x", Kind::flag, "", "short"}};
    const std::string column(32, ' ');
    CHECK(help_text(wide, false) == "  --a-very-long-option-name VALUE\n" + column + "help\n" +
                                        "  --x" + column.substr(5) + "short\n");
}

TEST_CASE("views: argv without the program name, or a vector of strings") {
    char p[] = "prog", a[] = "--tag", b[] = "x";
    char* argv[] = {p, a, b, nullptr};
    CHECK(views(3, argv) == std::vector<std::string_view>{"--tag", "x"});
    std::vector<std::string> strings{"--follow"};
    CHECK(views(strings) == std::vector<std::string_view>{"--follow"});
}
