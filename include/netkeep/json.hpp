#pragma once
// JSON string output shared by every part that writes JSON (responses, expansions).
//
// Escaping contract (RFC 8259 section 7):
//   - '"' and '\' are escaped; \b \f \n \r \t use their short forms;
//   - every other byte below 0x20 becomes \u00XX (lower-case hex);
//   - well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) is copied
//     unchanged, DEL (0x7F) included;
//   - each byte that does not start a well-formed UTF-8 sequence becomes \ufffd, so the
//     output is always valid UTF-8 and valid JSON even when the input (a client's
//     parameter echoed in an error message) is not.

#include <string>
#include <string_view>

namespace netkeep {

// Appends the escaped form of `in` (without quotes) to `out`.
void json_escape_to(std::string& out, std::string_view in);
std::string json_escape(std::string_view in);
// "\"" + json_escape(in) + "\""
std::string json_quote(std::string_view in);

// A `key=value` line's value (the logger, netkeepctl's event lines): as is when it is not
// empty and has no space, control or non-ASCII byte, '"', '=' or backslash; else
// json_quote(value), so that a line splits unambiguously.
std::string key_value_quote(std::string_view value);

}  // namespace netkeep
