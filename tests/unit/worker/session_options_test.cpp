// session_options(): each field resolved with the contract's precedence (§3):
// job > credentials > platform > built-in default; commands: job inline > platform set.
#include <doctest/doctest.h>

#include "worker/run.hpp"

using namespace netkeep;
using namespace netkeep::worker;

namespace {

Lease base() {
    Lease l;
    l.device = "r1";
    l.host = "r1";
    l.protocol = "ssh";
    l.credentials.user = "u";
    l.job = "j";
    return l;
}

PlatformLease ios() {
    PlatformLease p;
    p.name = "ios";
    p.prompt = PatternSpec{PatternSpec::Kind::regex, "[>#]$"};
    p.pager = PatternSpec{PatternSpec::Kind::ends_with, "-- more --"};
    p.expect = {{{PatternSpec::Kind::ends_with, "[confirm]"}, "\n"}};
    p.enable = EnableSpec{"enable", std::nullopt, PatternSpec{PatternSpec::Kind::regex, ">$"}};
    p.setup = {"terminal length 0", "terminal width 0"};
    p.commands = {"show running-config"};
    p.strip_ansi = true;
    return p;
}

}  // namespace

TEST_CASE("without a platform: inline commands and the defaults; no command is a bad job") {
    Lease l = base();
    l.commands = {"show run"};
    auto o = session_options(l);
    REQUIRE(o.is_ok());
    CHECK(o->commands == std::vector<std::string>{"show run"});
    CHECK(o->prompt.spec() == default_prompt());
    CHECK(o->pager.spec() == default_pager());
    CHECK(o->setup.empty());
    CHECK(o->expect.empty());
    CHECK_FALSE(o->enable);
    CHECK_FALSE(o->strip_ansi);
    CHECK(o->probe);

    l.commands.clear();
    CHECK(session_options(l).status().message() ==
          "bad job: the job runs the platform's command set \"config\" and the device has no "
          "platform");
}

TEST_CASE("the platform fills what the job leaves out") {
    Lease l = base();
    l.platform = ios();
    l.credentials.enable = "en";
    auto o = session_options(l);
    REQUIRE(o.is_ok());
    CHECK(o->commands == std::vector<std::string>{"show running-config"});
    CHECK(o->setup == std::vector<std::string>{"terminal length 0", "terminal width 0"});
    CHECK(o->prompt.spec() == PatternSpec{PatternSpec::Kind::regex, "[>#]$"});
    CHECK(o->pager.spec() == PatternSpec{PatternSpec::Kind::ends_with, "-- more --"});
    REQUIRE(o->expect.size() == 1);
    CHECK(o->expect[0].answer == "\n");
    REQUIRE(o->enable);
    CHECK(o->enable->command == "enable");
    CHECK(o->enable->secret == "en");
    CHECK(o->enable->password_prompt.matches("Password: "));
    CHECK(o->strip_ansi);
}

TEST_CASE("the job's fields win, [] included; the credentials' prompt beats the platform's") {
    Lease l = base();
    l.platform = ios();
    l.commands = {"show version"};
    l.setup = std::vector<std::string>{};
    l.expect = std::vector<ExpectRule>{};
    l.pager = PatternSpec{PatternSpec::Kind::ends_with, "MORE"};
    l.credentials.prompt = PatternSpec{PatternSpec::Kind::ends_with, "#"};
    auto o = session_options(l);
    REQUIRE(o.is_ok());
    CHECK(o->commands == std::vector<std::string>{"show version"});
    CHECK(o->setup.empty());
    CHECK(o->expect.empty());
    CHECK(o->pager.spec().text == "MORE");
    CHECK(o->prompt.spec() == PatternSpec{PatternSpec::Kind::ends_with, "#"});
    l.prompt = PatternSpec{PatternSpec::Kind::ends_with, "$"};
    CHECK(session_options(l)->prompt.spec().text == "$");

    l.expect = std::vector<ExpectRule>{{{PatternSpec::Kind::regex, "("}, "x"}};
    CHECK(session_options(l).status().message().starts_with("bad job: expect: regex \"(\""));
}

TEST_CASE("the enable secret never reaches a failure text") {
    Lease l = base();
    l.commands = {"show run"};
    l.protocol = "telnet";
    l.host = "en-s3cret-host";  // a failure that quotes the host, before any connection
    l.port = 23;
    l.credentials.enable = "s3cret";
    l.timeout = 5;
    RunOptions options;
    options.strict_host_keys = true;
    OutputBuffer out;
    auto failure = run_job(l, options, out, 0);
    REQUIRE(failure);
    CHECK(failure->starts_with("telnet refused: en-***-host:23 is a telnet device"));
    CHECK(failure->find("s3cret") == std::string::npos);
}
