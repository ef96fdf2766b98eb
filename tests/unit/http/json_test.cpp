#include <doctest/doctest.h>

#include <cstdio>
#include <string>

// The escaping lives in core (netkeep/json.hpp); these cases pin the contract every JSON
// error body of the HTTP layer relies on.
#include "netkeep/json.hpp"

using namespace netkeep;

TEST_CASE("json: every single byte 0x00-0xFF") {
    for (int b = 0; b < 256; ++b) {
        CAPTURE(b);
        std::string in(1, static_cast<char>(b));
        std::string out = json_escape(in);
        switch (b) {
            case '"':
                CHECK(out == "\\\"");
                break;
            case '\\':
                CHECK(out == "\\\\");
                break;
            case '\b':
                CHECK(out == "\\b");
                break;
            case '\f':
                CHECK(out == "\\f");
                break;
            case '\n':
                CHECK(out == "\\n");
                break;
            case '\r':
                CHECK(out == "\\r");
                break;
            case '\t':
                CHECK(out == "\\t");
                break;
            default:
                if (b < 0x20) {
                    char expected[8];
                    std::snprintf(expected, sizeof expected, "\\u%04x", b);
                    CHECK(out == expected);
                } else if (b < 0x80) {
                    CHECK(out == in);  // printable ASCII and DEL pass unchanged
                } else {
                    CHECK(out == "\\ufffd");  // a lone byte >= 0x80 is never well-formed UTF-8
                }
        }
    }
}

TEST_CASE("json: UTF-8 passes, ill-formed bytes become U+FFFD") {
    CHECK(json_escape("caf\xc3\xa9") == "caf\xc3\xa9");                        // U+00E9
    CHECK(json_escape("\xe2\x82\xac") == "\xe2\x82\xac");                      // U+20AC
    CHECK(json_escape("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");              // U+1F600
    CHECK(json_escape("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");              // U+10FFFF
    CHECK(json_escape("\xef\xbf\xbf") == "\xef\xbf\xbf");                      // U+FFFF
    CHECK(json_escape("\xc0\x80") == "\\ufffd\\ufffd");                        // overlong NUL
    CHECK(json_escape("\xe0\x80\xaf") == "\\ufffd\\ufffd\\ufffd");             // overlong '/'
    CHECK(json_escape("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");             // surrogate
    CHECK(json_escape("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
    CHECK(json_escape("\xe2\x82") == "\\ufffd\\ufffd");                        // truncated
    CHECK(json_escape("\xe2\x82x") == "\\ufffd\\ufffdx");
    CHECK(json_escape("a\xffz") == "a\\ufffdz");
}

TEST_CASE("json: quote") {
    CHECK(json_quote("") == "\"\"");
    CHECK(json_quote("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"");
    CHECK(json_quote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
    CHECK(json_quote("</script>") == "\"</script>\"");
}

TEST_CASE("key=value quoting: plain tokens as they are, anything that could split a line quoted") {
    CHECK(key_value_quote("plain") == "plain");
    CHECK(key_value_quote("r1/show_run:2") == "r1/show_run:2");
    CHECK(key_value_quote("") == "\"\"");
    CHECK(key_value_quote("a=b") == "\"a=b\"");
    CHECK(key_value_quote("two words") == "\"two words\"");
    CHECK(key_value_quote("line\nbreak") == "\"line\\nbreak\"");
    CHECK(key_value_quote("back\\slash") == "\"back\\\\slash\"");
    CHECK(key_value_quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}
