// Every built-in platform's redact and noise rules through the real engine (the inventory
// loader and the git writer's Redactor, RE2), against the fixtures beside this file (the
// realistic config and the short snippet cases):
// check_fixtures.py checks the same with Python's `re`; this proves RE2 and the streaming
// redactor agree with it. One test case per platform, so a failure names the platform.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/redact.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/platform.hpp"

using namespace netkeep;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string fixture(std::string_view platform, std::string_view file) {
    return read_text(fmt::format("{}/{}/{}", PLATFORM_FIXTURES, platform, file));
}

// What fake-device does to config.txt (and what expected.txt stands for).
std::string fill(std::string text, int gen, int run) {
    const std::map<std::string, std::string> values{{"{{gen}}", std::to_string(gen)},
                                                    {"{{run}}", std::to_string(run)},
                                                    {"{{prompt}}", "dev1#"}};
    for (const auto& [mark, value] : values)
        for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark, at)) {
            text.replace(at, mark.size(), value);
            at += value.size();
        }
    return text;
}

std::string masked(const gitwriter::Redactor& rules, std::string_view stored) {
    gitwriter::MaskedHash hash(rules);
    hash.feed(stored);
    return hash.finish();
}

// snippets.txt (format: tests/platforms/README.md): for each case, the lines git holds
// after the rules, each with whether an ignore rule matches it.
struct Snippet {
    int line = 0;  // where the case starts, for messages
    std::string input;
    std::vector<std::pair<std::string, bool>> want;
};

std::vector<Snippet> snippets(std::string_view platform) {
    std::vector<Snippet> out;
    Snippet current;
    std::istringstream in(fixture(platform, "snippets.txt"));
    int number = 0;
    auto close = [&] {
        if (current.line) out.push_back(std::move(current));
        current = Snippet{};
    };
    for (std::string line; std::getline(in, line);) {
        ++number;
        if (line.find_first_not_of(" \t") == std::string::npos) {
            close();
            continue;
        }
        if (line[0] == '#') continue;
        REQUIRE_MESSAGE((line[0] == '<' || line[0] == '>' || line[0] == '~'),
                        platform << "/snippets.txt:" << number);
        if (!current.line) current.line = number;
        const std::string text = line.size() > 2 ? line.substr(2) : "";
        if (line[0] == '<')
            current.input += text + "\n";
        else
            current.want.emplace_back(text, line[0] == '~');
    }
    close();
    return out;
}

void check_snippets(std::string_view platform, const gitwriter::Redactor& rules) {
    for (const Snippet& snippet : snippets(platform)) {
        INFO(platform << "/snippets.txt:" << snippet.line);
        std::vector<std::pair<std::string, bool>> got;
        std::istringstream stored(rules.redact_text(snippet.input));
        for (std::string line; std::getline(stored, line);)
            got.emplace_back(line, rules.ignored(line));
        CHECK(got == snippet.want);
    }
}

void check_platform(const BuiltinPlatform& p) {
    auto spec = parse_platform_definition(p.name, p.json);
    REQUIRE_MESSAGE(spec.is_ok(), spec.status().to_string());
    auto rules = gitwriter::Redactor::compile(spec->rules.redact, spec->rules.noise);
    REQUIRE_MESSAGE(rules.is_ok(), rules.status().to_string());

    const std::string config = fixture(p.name, "config.txt");
    const std::string first = rules->redact_text(fill(config, 0, 1));
    CHECK(first == fill(fixture(p.name, "expected.txt"), 0, 1));

    std::istringstream secrets(fixture(p.name, "secrets.txt"));
    for (std::string secret; std::getline(secrets, secret);) {
        if (secret.empty()) continue;
        INFO("secret: " << secret);
        CHECK(first.find(secret) == std::string::npos);
    }

    // A later run changes only noise lines: the stored text may differ (ignored lines are
    // kept), but never outside them, so the writer makes no commit.
    const std::string later = rules->redact_text(fill(config, 0, 2));
    CHECK(masked(*rules, later) == masked(*rules, first));
    // A real change (a new generation) is a commit.
    const std::string changed = rules->redact_text(fill(config, 1, 2));
    CHECK(masked(*rules, changed) != masked(*rules, first));

    check_snippets(p.name, *rules);
}

}  // namespace

TEST_CASE("every built-in platform has fixtures checked here") {
    CHECK(builtin_platforms().size() == 14);
}

TEST_CASE("platform rules on their fixtures (RE2, streaming redactor)") {
    for (const BuiltinPlatform& p : builtin_platforms()) {
        SUBCASE(std::string(p.name).c_str()) { check_platform(p); }
    }
}
