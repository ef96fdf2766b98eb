// doctest's main, plus runtime skips (tests/support/skip.hpp): exit 77, meson's "skipped",
// when every test case that ran skipped itself.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "support/skip.hpp"

namespace netkeep::testing {
namespace {
int started = 0;
std::string current;

struct StartCounter : doctest::IReporter {
    explicit StartCounter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData& data) override {
        ++started;
        current = data.m_name;
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
}  // namespace

std::vector<SkipRecord>& skipped_tests() {
    static std::vector<SkipRecord> records;
    return records;
}

int started_tests() { return started; }

void skip_test(const std::string& reason) {
    MESSAGE("skipped: " << reason);
    skipped_tests().push_back({current, reason});
}

}  // namespace netkeep::testing

DOCTEST_REGISTER_LISTENER("start_counter", 1, netkeep::testing::StartCounter);

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int result = context.run();
    if (context.shouldExit()) return result;
    const auto& skipped = netkeep::testing::skipped_tests();
    for (const auto& s : skipped)
        std::printf("SKIPPED: %s: %s\n", s.test_case.c_str(), s.reason.c_str());
    if (result == 0 && !skipped.empty() && int(skipped.size()) >= netkeep::testing::started_tests())
        return 77;
    return result;
}
