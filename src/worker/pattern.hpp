#pragma once
// How the worker recognises a prompt (or a pager prompt) at the end of what a device sent:
// the inventory's {"ends_with": TEXT} or {"regex": RE} (docs/devices.md#prompts).
//
// Both are matched against the last line received (the text after the last '\n'; of that,
// only what follows its last '\r', which is what a terminal would show). A regex must match
// a suffix of that line: it is compiled as (?:RE)$, so "[>#] ?" and "^\S+#$" both work.
// RE2 syntax (include/netkeep/regex.hpp), checked the same way at inventory load.
// Lines longer than k_max_line never match: prompts are short, and this bounds the work
// per read on pathological output.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "netkeep/regex.hpp"
#include "netkeep/status.hpp"

namespace netkeep::worker {

struct PatternSpec {
    enum class Kind { ends_with, regex };
    Kind kind = Kind::ends_with;
    std::string text;
    friend bool operator==(const PatternSpec&, const PatternSpec&) = default;
};

class Pattern {
public:
    static constexpr std::size_t k_max_line = 1024;

    // invalid_argument when the regex does not compile or the text is empty.
    static Result<Pattern> compile(const PatternSpec& spec);

    // Where a match of the visible part of `line` begins (it always ends at the end), or
    // nullopt. The offset is into `line`.
    std::optional<std::size_t> match_suffix(std::string_view line) const;
    bool matches(std::string_view line) const { return match_suffix(line).has_value(); }

    // {"ends_with": "#"} as JSON, for messages.
    std::string describe() const;
    const PatternSpec& spec() const { return spec_; }

private:
    explicit Pattern(PatternSpec spec) : spec_(std::move(spec)) {}
    PatternSpec spec_;
    std::optional<Regex> regex_;  // copies share the compiled program
};

// The defaults when neither the job nor the credentials name one (docs/worker.md).
PatternSpec default_prompt();  // regex "[>#$%] ?"
PatternSpec default_pager();   // ends_with " --More-- "

}  // namespace netkeep::worker
