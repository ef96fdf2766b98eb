#include "netkeep/regex.hpp"

#include <re2/re2.h>

#include <fmt/format.h>

namespace netkeep {

namespace {

// What an operator who wrote Perl or ECMAScript syntax should read next to RE2's message.
std::string_view hint(const re2::RE2& re) {
    const std::string& p = re.pattern();
    auto has = [&](std::string_view s) { return p.find(s) != std::string::npos; };
    switch (re.error_code()) {
        case re2::RE2::ErrorBadEscape:
            for (std::size_t i = 0; i + 1 < p.size(); ++i) {
                if (p[i] == '\\') {
                    if (p[i + 1] >= '1' && p[i + 1] <= '9')
                        return "back-references (\\1, \\2...) are not supported";
                    ++i;
                }
            }
            return {};
        case re2::RE2::ErrorBadPerlOp:
        case re2::RE2::ErrorMissingParen:
        case re2::RE2::ErrorBadNamedCapture:
            if (has("(?=") || has("(?!") || has("(?<=") || has("(?<!"))
                return "look-ahead and look-behind are not supported";
            if (has("(?>")) return "atomic groups are not supported";
            return {};
        case re2::RE2::ErrorRepeatOp:
            if (has("++") || has("*+") || has("?+") || has("}+"))
                return "possessive quantifiers are not supported";
            return {};
        case re2::RE2::ErrorRepeatSize:
            return "a counted repetition is at most {1000}";
        case re2::RE2::ErrorPatternTooLarge:
            return "the compiled expression exceeds the memory limit for one expression";
        default:
            return {};
    }
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern, std::size_t max_length) {
    if (pattern.size() > max_length)
        return Status::invalid_argument(fmt::format("longer than {} characters", max_length));
    re2::RE2::Options options;
    options.set_encoding(re2::RE2::Options::EncodingLatin1);
    options.set_max_mem(k_max_memory);
    options.set_log_errors(false);
    auto re =
        std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
    // The reverse program (used to find where an unanchored match starts) is compiled on
    // first use, and a failure there would make every search quietly find nothing:
    // compile it now and refuse the pattern instead.
    if (re->ok() && re->ReverseProgramSize() < 0)
        return Status::invalid_argument(
            "the compiled expression exceeds the memory limit for one expression");
    if (!re->ok()) {
        std::string message = re->error();
        if (auto h = hint(*re); !h.empty()) message = fmt::format("{} ({})", message, h);
        return Status::invalid_argument(std::move(message));
    }
    return Regex(std::move(re));
}

std::string Regex::quote(std::string_view text) {
    return re2::RE2::QuoteMeta(re2::StringPiece(text.data(), text.size()));
}

bool Regex::search(std::string_view text, std::size_t start,
                   std::span<std::string_view> groups) const {
    if (start > text.size()) return false;
    constexpr std::size_t k_stack = 10;
    re2::StringPiece stack[k_stack];
    std::unique_ptr<re2::StringPiece[]> heap;
    re2::StringPiece* found = stack;
    if (groups.size() > k_stack) {
        heap = std::make_unique<re2::StringPiece[]>(groups.size());
        found = heap.get();
    }
    if (!re_->Match(re2::StringPiece(text.data(), text.size()), start, text.size(),
                    re2::RE2::UNANCHORED, found, int(groups.size())))
        return false;
    for (std::size_t i = 0; i < groups.size(); ++i)
        groups[i] = std::string_view(found[i].data(), found[i].size());
    return true;
}

int Regex::group_count() const { return re_->NumberOfCapturingGroups(); }

int Regex::named_group(std::string_view name) const {
    const auto& groups = re_->NamedCapturingGroups();
    auto it = groups.find(std::string(name));
    return it == groups.end() ? -1 : it->second;
}

const std::string& Regex::pattern() const { return re_->pattern(); }

}  // namespace netkeep
