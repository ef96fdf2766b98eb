#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

#include "netkeep/logger.hpp"

using namespace netkeep;

namespace {
// What log_line writes to stderr while `body` runs.
template <class F>
std::string captured_stderr(F body) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(::fileno(file), STDERR_FILENO);
    body();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out;
    std::rewind(file);
    for (int c; (c = std::fgetc(file)) != EOF;) out.push_back(char(c));
    std::fclose(file);
    return out;
}
}  // namespace

TEST_CASE("log levels parse by name only") {
    CHECK(parse_log_level("debug") == LogLevel::debug);
    CHECK(parse_log_level("info") == LogLevel::info);
    CHECK(parse_log_level("warn") == LogLevel::warn);
    CHECK(parse_log_level("error") == LogLevel::error);
    CHECK_FALSE(parse_log_level("warning").has_value());
    CHECK_FALSE(parse_log_level("INFO").has_value());
    CHECK_FALSE(parse_log_level("").has_value());
}

TEST_CASE("lines below the threshold are not written; info is the default") {
    std::string out = captured_stderr([] {
        log_line(LogLevel::debug, "test.debug");
        log_line(LogLevel::info, "test.info");
    });
    CHECK(out.find("test.debug") == std::string::npos);
    CHECK(out.find(" info test.info") != std::string::npos);

    set_log_threshold(LogLevel::warn);
    out = captured_stderr([] {
        log_line(LogLevel::info, "test.info");
        log_line(LogLevel::warn, "test.warn", {{"k", "v"}});
        log_line(LogLevel::error, "test.error");
    });
    CHECK(out.find("test.info") == std::string::npos);
    CHECK(out.find(" warn test.warn k=v\n") != std::string::npos);
    CHECK(out.find(" error test.error\n") != std::string::npos);

    set_log_threshold(LogLevel::debug);
    out = captured_stderr([] { log_line(LogLevel::debug, "test.debug"); });
    CHECK(out.find(" debug test.debug") != std::string::npos);
    set_log_threshold(LogLevel::info);
}
