#include "cli.hpp"
#include "text.hpp"

#include <doctest/doctest.h>

#include <string>

#include "config_gen.hpp"

using namespace netkeep::fake_device;

namespace {

using netkeep::fake_device::test::crlf;
using netkeep::fake_device::test::lf;
using netkeep::fake_device::test::numbered_lines;

// Runs the Cli until it wants input (or closes, hangs), collecting everything it sends.
struct Driver {
    Cli cli;
    Next last = Next::read;
    int pauses = 0;

    explicit Driver(std::string name, std::string config = numbered_lines(60))
        : cli(std::move(name), [config] { return config; }) {}

    std::string type(std::string_view input, std::size_t chunk = 64 * 1024) {
        cli.feed(input);
        std::string out;
        while (true) {
            Step step = cli.step(chunk);
            out += step.bytes;
            last = step.next;
            if (step.next == Next::pause) ++pauses;
            if (step.next != Next::step && step.next != Next::pause) return out;
        }
    }
};

}  // namespace

TEST_CASE("greeting is the banner then the prompt") {
    Driver d("r1");
    CHECK(d.cli.greeting() == "\r\nnetkeep fake device r1\r\n\r\nr1#");
}

TEST_CASE("input is echoed as it comes, and a line runs on \\r") {
    Driver d("r1");
    CHECK(d.type("sh") == "sh");
    CHECK(d.last == Next::read);
    CHECK(d.type("ow version") == "ow version");
    const std::string out = d.type("\r");
    CHECK(out.starts_with("\r\nCisco IOS Software"));
    CHECK(out.ends_with("Configuration register is 0x102\r\nr1#"));
}

TEST_CASE("\\r\\n ends one line, not two") {
    Driver d("r1");
    CHECK(d.type("\r\n") == "\r\nr1#");
    CHECK(d.type("\r") == "\r\nr1#");
    CHECK(d.type("\n") == "");  // the rest of the previous \r\n, split across reads
    CHECK(d.type("\n") == "\r\nr1#");
    CHECK(d.type("\r\n\r\n") == "\r\nr1#\r\nr1#");
}

TEST_CASE("backspace edits the line") {
    Driver d("r1");
    CHECK(d.type("shx\x7f") == "shx\b \b");
    CHECK(d.type("\b\bterm len 0\r") == "\b \b\b \bterm len 0\r\nr1#");
    CHECK(d.cli.page_lines() == 0);
}

TEST_CASE("unknown commands are refused IOS-style") {
    Driver d("r1");
    CHECK(d.type("configure terminal\r") ==
          "configure terminal\r\n% Invalid input detected at '^' marker.\r\nr1#");
    CHECK(d.type("show\r").ends_with("% Invalid input detected at '^' marker.\r\nr1#"));
    CHECK(d.type("terminal length x\r").ends_with("marker.\r\nr1#"));
}

TEST_CASE("paging: --More-- after 24 lines, a key for the next page, erased first") {
    Driver d("r1");
    std::string out = d.type("show run\r");
    CHECK(d.last == Next::read);
    REQUIRE(out.starts_with("show run\r\n"));
    out = out.substr(10);
    CHECK(out == crlf(numbered_lines(24)) + " --More-- ");

    out = d.type(" ");
    CHECK(out.starts_with(k_more_erase));
    CHECK(out.substr(k_more_erase.size()).starts_with("line 25\r\n"));
    CHECK(out.ends_with("line 48\r\n --More-- "));

    out = d.type("x");  // any key but q
    CHECK(out == std::string(k_more_erase) +
                     crlf(numbered_lines(60).substr(numbered_lines(48).size())) + "r1#");
    CHECK(d.last == Next::read);
}

TEST_CASE("paging: q at --More-- ends the output") {
    Driver d("r1");
    d.type("show run\r");
    CHECK(d.type("q") == std::string(k_more_erase) + "r1#");
    CHECK(d.type("\r") == "\r\nr1#");
}

TEST_CASE("paging: the \\n of a \\r\\n pressed at --More-- is not a second key") {
    Driver d("r1");
    d.type("show run\r");
    const std::string out = d.type("\r\n");
    CHECK(out.ends_with("line 48\r\n --More-- "));
}

TEST_CASE("paging: no --More-- when the output ends on a page boundary") {
    Driver d("r1", numbered_lines(24));
    CHECK(d.type("show run\r") == "show run\r\n" + crlf(numbered_lines(24)) + "r1#");
}

TEST_CASE("terminal length 0 turns paging off, and prints nothing") {
    Driver d("r1");
    CHECK(d.type("terminal length 0\r") == "terminal length 0\r\nr1#");
    CHECK(d.type("show running-config\r") ==
          "show running-config\r\n" + crlf(numbered_lines(60)) + "r1#");
}

TEST_CASE("long output comes in chunks, never bigger than asked by more than a line") {
    Driver d("r1", numbered_lines(5000));
    d.type("terminal length 0\r");
    d.cli.feed("show run\r");
    std::string all;
    int steps = 0;
    while (true) {
        Step step = d.cli.step(1000);
        CHECK(step.bytes.size() < 1000 + 20);
        all += step.bytes;
        ++steps;
        if (step.next == Next::read) break;
        REQUIRE(step.next == Next::step);
    }
    CHECK(steps > 10);
    CHECK(all == "show run\r\n" + crlf(numbered_lines(5000)) + "r1#");
}

TEST_CASE("typeahead during output is processed after it") {
    Driver d("r1");
    d.type("term len 0\r");
    CHECK(d.type("show run\rshow ver\r").ends_with("0x102\r\nr1#"));
}

TEST_CASE("exit and quit close") {
    Driver d("r1");
    CHECK(d.type("exit\r") == "exit\r\n");
    CHECK(d.last == Next::close);
    Driver q("r1");
    q.type("quit\r");
    CHECK(q.last == Next::close);
}

TEST_CASE("the config is fetched on every show run") {
    int generation = 0;
    Cli cli("r1", [&] { return "gen " + std::to_string(generation) + "\n"; });
    cli.feed("show run\r");
    CHECK(cli.step().bytes == "show run\r\ngen 0\r\nr1#");
    generation = 1;
    cli.feed("show run\r");
    CHECK(cli.step().bytes == "show run\r\ngen 1\r\nr1#");
}

TEST_CASE("fault slow: one line per step, with a pause between") {
    Driver d("slow-r1", numbered_lines(10));
    d.type("term len 0\r");
    const std::string out = d.type("show run\r");
    CHECK(out == "show run\r\n" + crlf(numbered_lines(10)) + "slow-r1#");
    CHECK(d.pauses == 9);
}

TEST_CASE("fault hang: show run sends nothing and never returns") {
    Driver d("hang-r1");
    CHECK(d.type("show run\r") == "show run\r\n");
    CHECK(d.last == Next::hang);
    CHECK(d.type("\r") == "");
    CHECK(d.last == Next::hang);
}

TEST_CASE("fault drop: closes after about half of the output") {
    const std::string config = numbered_lines(100);
    Driver d("drop-r1", config);
    d.type("term len 0\r");
    const std::string out = d.type("show run\r");
    CHECK(d.last == Next::close);
    const auto body = lf(out.substr(std::string("show run\r\n").size()));
    CHECK(config.starts_with(body));
    CHECK(body.size() >= config.size() / 2);
    CHECK(body.size() < config.size() / 2 + 20);
}

TEST_CASE("show version is not affected by the fault modes") {
    Driver d("hang-r1");
    CHECK(d.type("show version\r").ends_with("hang-r1#"));
    CHECK(d.last == Next::read);
}

TEST_CASE("skip_lf: a telnet login's \\r\\n split across reads") {
    Cli cli(
        "r1", [] { return std::string(); }, true);
    cli.feed("\n");
    CHECK(cli.step().bytes == "");
    cli.feed("\n");
    CHECK(cli.step().bytes == "\r\nr1#");
}

TEST_CASE("show run after terminal length 0 is the canonical config with \\r\\n") {
    const std::string config = generate_config("core-sw-1", 3, 10000);
    Driver d("core-sw-1", config);
    d.type("terminal length 0\r\n");
    const std::string out = d.type("show run\r\n");
    const std::string echo = "show run\r\n";
    REQUIRE(out.starts_with(echo));
    REQUIRE(out.ends_with("\r\ncore-sw-1#"));
    // What the worker keeps: after the echoed command, up to the prompt, \r\n -> \n.
    CHECK(lf(out.substr(echo.size(), out.size() - echo.size() - 10)) == config);
}

TEST_CASE("paged show run, with the pager removed, is the config too") {
    const std::string config = generate_config("promptline-r2", 0, 8000);
    Driver d("promptline-r2", config);
    std::string out = d.type("show run\r");
    while (out.ends_with(k_more)) {
        out.resize(out.size() - k_more.size());
        const std::string next = d.type(" ");
        REQUIRE(next.starts_with(k_more_erase));
        out += next.substr(k_more_erase.size());
    }
    CHECK(lf(out) == "show run\n" + config + "promptline-r2#");
}

TEST_CASE("the rest of the usual IOS backup: terminal width, show vtp status, show inventory") {
    Driver d("r1");
    CHECK(d.type("terminal length 0\r").ends_with("r1#"));
    const std::string width = d.type("term width 0\r");
    CHECK(width.ends_with("r1#"));
    CHECK(width.find("Invalid input") == std::string::npos);
    const std::string vtp = d.type("show vtp status\r");
    CHECK(vtp.find("VTP Operating Mode") != std::string::npos);
    CHECK(vtp.ends_with("r1#"));
    const std::string inventory = d.type("sh inventory\r");
    CHECK(inventory.find("SN: FAKEr1") != std::string::npos);
    CHECK(inventory.ends_with("r1#"));
    CHECK(d.type("show vtp\r").find("Invalid input") != std::string::npos);
}
