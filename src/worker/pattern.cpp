#include "worker/pattern.hpp"

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::worker {

Result<Pattern> Pattern::compile(const PatternSpec& spec) {
    if (spec.text.empty()) return Status::invalid_argument("empty prompt pattern");
    Pattern p(spec);
    if (spec.kind == PatternSpec::Kind::regex) {
        // The wrapper's 5 characters do not count against the operator's 1,024.
        auto regex = Regex::compile("(?:" + spec.text + ")$", Regex::k_max_length + 5);
        if (!regex)
            return Status::invalid_argument(fmt::format(
                "regex {} does not compile: {}", json_quote(spec.text), regex.status().message()));
        p.regex_ = std::move(*regex);
    }
    return p;
}

std::optional<std::size_t> Pattern::match_suffix(std::string_view line) const {
    const std::size_t cr = line.rfind('\r');
    const std::size_t begin = cr == std::string_view::npos ? 0 : cr + 1;
    std::string_view visible = line.substr(begin);
    if (visible.size() > k_max_line) return std::nullopt;
    if (spec_.kind == PatternSpec::Kind::ends_with) {
        if (!visible.ends_with(spec_.text)) return std::nullopt;
        return line.size() - spec_.text.size();
    }
    std::string_view match;
    if (!regex_->search(visible, 0, std::span(&match, 1))) return std::nullopt;
    return begin + std::size_t(match.data() - visible.data());
}

std::string Pattern::describe() const {
    return fmt::format("{{\"{}\": {}}}",
                       spec_.kind == PatternSpec::Kind::regex ? "regex" : "ends_with",
                       json_quote(spec_.text));
}

PatternSpec default_prompt() { return {PatternSpec::Kind::regex, "[>#$%] ?"}; }
PatternSpec default_pager() { return {PatternSpec::Kind::ends_with, " --More-- "}; }

}  // namespace netkeep::worker
