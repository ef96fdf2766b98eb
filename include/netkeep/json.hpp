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

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace netkeep {

// The JSON pointer (RFC 6901) of a value being read, as a chain of stack frames that is
// only turned into text for an error message ("/devices/12/name"): building it for every
// field of a 100,000-device inventory would cost more than parsing it. A key points into
// the parsed document, which outlives the frames.
struct json_path {
    const json_path* parent = nullptr;
    std::string_view key;  // an object member; unused when index is set
    std::optional<std::size_t> index;

    std::string str() const;  // "" for the root
};
inline json_path child(const json_path& parent, std::string_view key) {
    return {&parent, key, std::nullopt};
}
inline json_path child(const json_path& parent, std::size_t index) { return {&parent, {}, index}; }

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
