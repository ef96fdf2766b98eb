#include <doctest/doctest.h>

#include <cstdio>

#include "util/run_program.hpp"

using namespace netkeep;

TEST_CASE(
    "run_program: ok on exit 0; an exit code, a signal or a missing program is an io_error naming "
    "it") {
    CHECK(run_program({"/bin/sh", "-c", "exit 0"}).is_ok());

    Status s = run_program({"/bin/sh", "-c", "exit 3"});
    CHECK(s.code() == Status::Code::io_error);
    CHECK(s.message() == "/bin/sh exited with 3");

    s = run_program({"/bin/sh", "-c", "kill -TERM $$"});
    CHECK(s.message() == "/bin/sh killed by signal 15");

    s = run_program({"/nonexistent/git", "gc"});
    CHECK(s.code() == Status::Code::io_error);
    CHECK(s.message().starts_with("starting /nonexistent/git: "));

    CHECK(run_program({}).code() == Status::Code::invalid_argument);
}

TEST_CASE("run_program closes the caller's descriptors in the child unless asked not to") {
    // Descriptor 3+ open here; the child checks whether one of them is still open.
    const char* probe =
        "for fd in /proc/self/fd/*; do n=${fd##*/}; [ \"$n\" -gt 2 ] && "
        "[ \"$(readlink $fd)\" = /dev/null ] && exit 1; done; exit 0";
    std::FILE* held = std::fopen("/dev/null", "r");
    REQUIRE(held != nullptr);
    CHECK(run_program({"/bin/sh", "-c", probe}).is_ok());
    CHECK_FALSE(
        run_program({"/bin/sh", "-c", probe}, {.close_other_fds = false, .discard_stdout = false})
            .is_ok());
    std::fclose(held);
}
