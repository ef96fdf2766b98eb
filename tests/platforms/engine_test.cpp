// Every built-in platform's redact and noise rules through the real engine (the inventory
// loader and the git writer's Redactor, RE2), against the fixtures beside this file:
// check_fixtures.py checks the same with Python's `re`; this proves RE2 and the streaming
// redactor agree with it. One test case per platform, so a failure names the platform.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>

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
