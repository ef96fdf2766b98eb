#pragma once
// netkeep's one regular-expression engine: RE2 (linear time in the text, no recursion, a
// bounded memory budget per expression), for inventory validation, redaction rules and
// the worker's prompt and pager patterns. docs/jobs.md#regular-expressions describes the
// syntax operators write.
//
// Every expression is compiled the same way, so what the inventory loader accepts is
// exactly what the git writer and the worker run:
// - bytes, not UTF-8 (RE2's Latin-1 mode): device output is not always valid UTF-8, and
//   `.`, `\S` and classes match any byte, as std::regex did before;
// - `^` and `$` are the start and end of the text searched (a line, for netkeep's uses);
//   `(?i)`, `(?m)`, `(?s)` switch flags inside the pattern;
// - at most k_max_memory bytes for the compiled program and its DFA caches: a pattern
//   whose program does not fit is refused, a cache that fills is flushed (RE2 then falls
//   back to its NFA, slower but still linear);
// - RE2 logs nothing; errors come back as Status.
//
// No RE2 type appears here (only src/core/regex.cpp includes <re2/re2.h>).
//
// Threads: a compiled Regex is immutable and may be searched from any number of threads
// at once (RE2 guards its caches); copies share the compiled program.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace re2 {
class RE2;
}

namespace netkeep {

class Regex {
public:
    // Patterns longer than this are refused: prompts and redaction rules are short, and
    // the bound keeps a load's work small whatever an inventory holds.
    static constexpr std::size_t k_max_length = 1024;
    // RE2's max_mem for one expression (its default is 8 MiB): thousands of jobs each
    // with a few rules stay within tens of MiB even when every DFA cache fills.
    static constexpr std::int64_t k_max_memory = 1 << 20;

    // invalid_argument with RE2's message (plus a hint for the Perl/ECMAScript features
    // RE2 lacks: back-references, look-around, possessive quantifiers). `max_length` is
    // for callers that wrap an operator's pattern (the worker's "(?:RE)$"): the limit
    // applies to what the operator wrote.
    static Result<Regex> compile(std::string_view pattern, std::size_t max_length = k_max_length);

    // `text` with every character that has a meaning in a pattern escaped (RE2's QuoteMeta,
    // byte-wise as the Latin-1 compile): compile(quote(t)) matches exactly the bytes of t.
    static std::string quote(std::string_view text);

    // The leftmost-first match that starts at or after `start` (`^` still means offset 0 of
    // `text`, which is the context before `start`). On a match, groups[0] is the whole match
    // and groups[i] the i-th capture group (data() == nullptr when it did not take part), for
    // as many entries as `groups` has (an empty span: only whether there is a match).
    bool search(std::string_view text, std::size_t start, std::span<std::string_view> groups) const;
    bool search(std::string_view text) const { return search(text, 0, {}); }

    // Number of capture groups (without the whole match).
    int group_count() const;
    // The index of the capture group named `name` ((?P<name>...)), or -1 (issue 14: a
    // syslog pattern's user).
    int named_group(std::string_view name) const;
    const std::string& pattern() const;

private:
    explicit Regex(std::shared_ptr<const re2::RE2> re) : re_(std::move(re)) {}
    std::shared_ptr<const re2::RE2> re_;
};

}  // namespace netkeep
