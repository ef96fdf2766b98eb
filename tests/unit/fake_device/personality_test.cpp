// The fake device's platform personalities (issue 13 contract §6-§8): for every platform,
// the prompt, banner and press-a-key answer, the pager and its off command, enable, unknown
// commands, the exec channel, and the config's placeholders. Pure: the Cli is driven with
// strings, as in cli_test.cpp.
#include <doctest/doctest.h>

#include <string>

#include "cli.hpp"
#include "device.hpp"
#include "fixtures.hpp"
#include "personality.hpp"
#include "text.hpp"

using namespace netkeep::fake_device;

namespace {

using netkeep::fake_device::test::crlf;
using netkeep::fake_device::test::numbered_lines;
using netkeep::fake_device::test::strip_ansi;

struct Driver {
    Cli cli;
    Next last = Next::read;

    explicit Driver(std::string name, std::string config = numbered_lines(60))
        : cli(std::move(name), [config] { return config; }) {}

    // What the device sends for `input`, ANSI codes removed.
    std::string type(std::string_view input) {
        cli.feed(input);
        std::string out;
        while (true) {
            Step step = cli.step();
            out += step.bytes;
            last = step.next;
            if (step.next != Next::step && step.next != Next::pause) return strip_ansi(out);
        }
    }

    // Past the press-a-key prompt and enable, where the platform has them.
    void log_in(const Personality& p) {
        if (!p.accept.empty()) type(p.accept_key ? std::string(1, p.accept_key) : " ");
        if (!p.user_prompt.empty()) {
            for (const auto& c : p.commands)
                if (c.action == Action::enable) type(std::string(c.text) + "\r");
            type(std::string(k_enable_secret) + "\r");
        }
    }
};

std::string_view command_of(const Personality& p, Action action) {
    for (const auto& c : p.commands)
        if (c.action == action) return c.text;
    return {};
}

std::string device_of(const Personality& p) { return std::string(p.platform) + "--dev-1"; }

}  // namespace

TEST_CASE("names: <platform>-- selects a personality; others stay the plain device") {
    CHECK(personalities().size() == 14);
    REQUIRE(find_personality("junos--fw1") != nullptr);
    CHECK(find_personality("junos--fw1")->platform == "junos");
    CHECK(find_personality("asa--edge-1")->platform == "asa");
    CHECK(find_personality("r1") == nullptr);
    CHECK(find_personality("junos-fw1") == nullptr);
    CHECK(find_personality("cisco--r1") == nullptr);
    CHECK(host_name("junos--fw1") == "fw1");
    CHECK(host_name("asa--edge--1") == "edge--1");
    CHECK(host_name("nope--r1") == "nope--r1");
    CHECK(host_name("r1") == "r1");
    // Fault modes work behind the prefix, and the prefix alone names none.
    CHECK(fault_of("junos--hang-1") == Fault::hang);
    CHECK(fault_of("ios--badpass") == Fault::badpass);
    CHECK(fault_of("ios--r1") == Fault::none);
    CHECK(fault_of("hang-r1") == Fault::hang);
}

TEST_CASE("prompts are the contract's §7 forms") {
    const auto prompt_of = [](std::string_view device) {
        return privileged_prompt(*find_personality(device), device);
    };
    CHECK(prompt_of("ios--sw1") == "sw1#");
    CHECK(prompt_of("nxos--n1") == "n1#");
    CHECK(prompt_of("iosxr--pe1") == "RP/0/RSP0/CPU0:pe1#");
    CHECK(prompt_of("asa--fw") == "fw#");
    CHECK(prompt_of("junos--fw1") == "junos--fw1@fw1> ");
    CHECK(prompt_of("eos--leaf1") == "leaf1#");
    CHECK(prompt_of("fortios--fgt") == "fgt # ");
    CHECK(prompt_of("panos--pa") == "panos--pa@pa> ");
    CHECK(prompt_of("routeros--mt") == "[routeros--mt@mt] > ");
    CHECK(prompt_of("procurve--sw") == "sw# ");
    CHECK(prompt_of("aoscx--sw") == "sw# ");
    CHECK(prompt_of("vrp--ne") == "<ne>");
    CHECK(prompt_of("comware--h3c") == "<h3c>");
    CHECK(prompt_of("os10--s1") == "s1# ");
}

TEST_CASE("every personality: banner, then its (unprivileged) prompt or press-a-key prompt") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        const std::string device = device_of(p);
        Driver d(device);
        const std::string greeting = strip_ansi(d.cli.greeting());
        const std::string first_prompt =
            p.user_prompt.empty() ? privileged_prompt(p, device) : expand(p.user_prompt, device);
        if (p.accept.empty()) {
            CHECK(greeting.ends_with(first_prompt));
            continue;
        }
        CHECK(greeting.ends_with(p.accept));
        CHECK(d.type("\r") == (p.accept_key ? "" : "\r\n" + first_prompt));
        if (p.accept_key) CHECK(d.type("a") == "a\r\n" + first_prompt);
        CHECK(d.type("\r") == "\r\n" + first_prompt);  // the CLI works from here on
    }
    CHECK(Driver("fortios--fgt").cli.greeting().ends_with("(Press 'a' to accept):"));
    CHECK(strip_ansi(Driver("procurve--sw").cli.greeting()).ends_with("Press any key to continue"));
}

TEST_CASE("ANSI codes: procurve, aoscx and routeros only") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        Driver d(device_of(p));
        const std::string greeting = d.cli.greeting();
        CHECK((greeting.find("\x1b[") != std::string::npos) == p.ansi);
        CHECK(p.ansi ==
              (p.platform == "procurve" || p.platform == "aoscx" || p.platform == "routeros"));
    }
    Driver d("aoscx--sw");
    d.cli.feed("show running-config\r");
    const std::string raw = d.cli.step().bytes;
    CHECK(raw.find("\x1b[Kline 1\r\n") != std::string::npos);
    CHECK(raw.find("--MORE--\x1b[m") != std::string::npos);
}

TEST_CASE("every personality: the config pages at 24 lines until the pager-off command") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        const std::string device = device_of(p);
        const std::string prompt = privileged_prompt(p, device);
        const std::string config_command(command_of(p, Action::config));
        Driver d(device);
        d.log_in(p);
        REQUIRE(d.cli.privileged());
        std::string out = d.type(config_command + "\r");
        if (p.pager.empty() || !p.pager_on) {
            CHECK(out == config_command + "\r\n" + crlf(numbered_lines(60)) + prompt);
            continue;
        }
        CHECK(out.ends_with("line 24\r\n" + std::string(p.pager)));
        out = d.type(" ");
        CHECK(out.ends_with("line 48\r\n" + std::string(p.pager)));
        out = d.type(" ");
        CHECK(out.ends_with("line 60\r\n" + prompt));
        CHECK(d.last == Next::read);

        const std::string_view off = command_of(p, Action::pager_off);
        if (off.empty()) continue;  // fortios: the pager is answered, never turned off
        CHECK(d.type(std::string(off) + "\r") == std::string(off) + "\r\n" + prompt);
        out = d.type(config_command + "\r");
        CHECK(out.find(std::string(p.pager)) == std::string::npos);
        CHECK(out.ends_with("line 60\r\n" + prompt));
    }
}

TEST_CASE("every personality: an unknown command gets the vendor's error, exit closes") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        const std::string device = device_of(p);
        Driver d(device);
        d.log_in(p);
        const std::string out = d.type("frobnicate now\r");
        std::string error(p.error);
        if (auto at = error.find("{cmd}"); at != std::string::npos)
            error.replace(at, 5, "frobnicate");
        CHECK(out == "frobnicate now\r\n" + error + "\r\n" + privileged_prompt(p, device));
        for (const char* word : {"exit", "quit", "logout"}) {
            Driver e(device);
            e.log_in(p);
            e.type(std::string(word) + "\r");
            CHECK(e.last == Next::close);
        }
    }
}

TEST_CASE("every personality answers its facts commands with short text") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        int facts = 0;
        for (const auto& c : p.commands) {
            if (c.action != Action::text) continue;
            ++facts;
            Driver d(device_of(p));
            d.log_in(p);
            const std::string out = d.type(std::string(c.text) + "\r");
            CHECK(out.size() > c.text.size() + 20);
            CHECK(out.size() < 1000);
            CHECK(out.ends_with(privileged_prompt(p, device_of(p))));
        }
        CHECK(facts >= 1);
    }
}

TEST_CASE("enable: ios, asa and eos start unprivileged; enable-secret makes them privileged") {
    for (const char* platform : {"ios", "asa", "eos"}) {
        CAPTURE(platform);
        const std::string device = std::string(platform) + "--edge-1";
        const Personality& p = *find_personality(device);
        Driver d(device);
        CHECK(d.cli.greeting().ends_with("edge-1>"));
        CHECK_FALSE(d.cli.privileged());
        // The config command does not exist for an unprivileged user.
        const std::string config_command(command_of(p, Action::config));
        CHECK(d.type(config_command + "\r").ends_with(std::string(p.error) + "\r\nedge-1>"));
        // A wrong password: the vendor's error, still unprivileged; not echoed.
        CHECK(d.type("enable\r") == "enable\r\nPassword: ");
        CHECK(d.type("wrong\r") == "\r\n" + std::string(p.enable_error) + "\r\nedge-1>");
        CHECK_FALSE(d.cli.privileged());
        CHECK(d.type("enable\r") == "enable\r\nPassword: ");
        CHECK(d.type("enable-secret\r\n") == "\r\nedge-1#");
        CHECK(d.cli.privileged());
        CHECK(d.type("enable\r") == "enable\r\nedge-1#");  // already there: no question
    }
}

TEST_CASE("enable: vrp super asks Password: and keeps <NAME>") {
    for (const char* device : {"vrp--ne1", "comware--ne1"}) {
        CAPTURE(device);
        const Personality& p = *find_personality(device);
        Driver d(device);
        CHECK(d.cli.greeting().ends_with("<ne1>"));
        CHECK(d.type("super\r") == "super\r\nPassword: ");
        CHECK(d.type("nope\r") == "\r\n" + std::string(p.enable_error) + "\r\n<ne1>");
        CHECK(d.type("super\r") == "super\r\nPassword: ");
        CHECK(d.type("enable-secret\r") == "\r\n<ne1>");
        CHECK(d.type("display current-configuration\r")
                  .ends_with("line 24\r\n" + std::string(p.pager)));
    }
}

TEST_CASE("exec channel: one command, its output with \\n, exit status 0; unknown: 1") {
    for (const char* device : {"junos--fw1", "routeros--mt1"}) {
        CAPTURE(device);
        const Personality& p = *find_personality(device);
        CHECK(p.exec);
        Cli cli(device, [] { return numbered_lines(60); });
        auto r = cli.exec(command_of(p, Action::config));
        CHECK(r.status == 0);
        CHECK(r.out == numbered_lines(60));  // no pager, no prompt, no \r
        CHECK(r.err.empty());
        r = cli.exec("show bogus");
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err.ends_with("\n"));
        CHECK(r.err.size() > 5);
    }
    Cli junos("junos--fw1", [] { return std::string("x\n"); });
    CHECK(junos.exec("show  configuration |  display omit").out == "x\n");
    CHECK(junos.exec("show version").out.starts_with("Hostname: fw1\n"));
    Cli hang("junos--hang-1", [] { return std::string("x\n"); });
    CHECK(hang.exec("show configuration | display omit").hang);
    for (const auto& p : personalities())
        CHECK(p.exec == (p.platform == "junos" || p.platform == "routeros"));
}

TEST_CASE("the config: every platform has a fixture; placeholders substituted") {
    for (const auto& p : personalities()) {
        CAPTURE(p.platform);
        CHECK_FALSE(platform_fixture(p.platform).empty());
        const std::string text = personality_config(p, device_of(p), 5, 9);
        CHECK(text.find("{{gen}}") == std::string::npos);
        CHECK(text.find("{{run}}") == std::string::npos);
        CHECK(text.find("{{prompt}}") == std::string::npos);
    }
    CHECK(platform_fixture("nope").empty());
}

TEST_CASE("personality_config substitutes {{gen}}, {{run}} and {{prompt}} (no trailing space)") {
    // The substitution itself, on the junos fixture's own text: whatever defs13 puts in it,
    // each placeholder becomes its value and nothing else changes.
    const Personality& p = *find_personality("junos--fw1");
    const std::string fixture(platform_fixture("junos"));
    std::string expected;
    for (std::size_t i = 0; i < fixture.size();) {
        const std::string_view rest = std::string_view(fixture).substr(i);
        if (rest.starts_with("{{gen}}")) {
            expected += "17";
            i += 7;
        } else if (rest.starts_with("{{run}}")) {
            expected += "4";
            i += 7;
        } else if (rest.starts_with("{{prompt}}")) {
            expected += "junos--fw1@fw1>";
            i += 10;
        } else {
            expected += fixture[i++];
        }
    }
    CHECK(personality_config(p, "junos--fw1", 17, 4) == expected);
}

TEST_CASE("procurve pager: Enter shows one more line, Space a page, Control-C quits") {
    Driver d("procurve--sw");
    d.type(" ");  // Press any key to continue
    CHECK(d.type("show running-config\r")
              .ends_with("line 24\r\n" + std::string(find_personality("procurve--sw")->pager)));
    const std::string pager(find_personality("procurve--sw")->pager);
    std::string out = d.type("\r");
    CHECK(out.find("line 25\r\n") != std::string::npos);
    CHECK(out.find("line 26") == std::string::npos);
    CHECK(out.ends_with("line 25\r\n" + pager));
    out = d.type(" ");
    CHECK(out.ends_with("line 49\r\n" + pager));
    CHECK(d.type("\x03").ends_with("sw# "));
    CHECK(d.last == Next::read);
    // Elsewhere Enter is any key: a page.
    Driver ios("nxos--n1");
    ios.type("show running-config\r");
    CHECK(ios.type("\r").ends_with("line 48\r\n--More--"));
}

TEST_CASE("press any key: the \\n of a telnet login's \\r\\n is not the key") {
    Cli cli(
        "procurve--sw", [] { return std::string(); }, true);
    cli.feed("\n");
    CHECK(cli.step().bytes.empty());
    cli.feed(" ");
    CHECK(strip_ansi(cli.step().bytes) == "\r\nsw# ");
}
