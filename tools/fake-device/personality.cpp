#include "personality.hpp"

#include <array>

#include "fixtures.hpp"

namespace netkeep::fake_device {
namespace {

// Facts answers: short, plausible, fixed (not fixtured, contract §8).
constexpr std::string_view k_cisco_version =
    "Cisco IOS XE Software, Version 17.09.04a\n"
    "{name} uptime is 1 week, 2 days, 3 hours, 4 minutes\n"
    "cisco C9300-48P (X86) processor with 1338934K/6147K bytes of memory.\n";
constexpr std::string_view k_cisco_inventory =
    "NAME: \"Chassis\", DESCR: \"fake chassis\"\n"
    "PID: FAKE-CHASSIS      , VID: V01  , SN: FAKE0001\n";

constexpr Command k_ios[] = {
    {"terminal length 0", Action::pager_off},
    {"terminal width 0", Action::noop},
    {"terminal width 511", Action::noop},
    {"enable", Action::enable},
    {"show running-config", Action::config},
    {"show version", Action::text, k_cisco_version},
    {"show inventory", Action::text, k_cisco_inventory},
};
constexpr Command k_nxos[] = {
    {"terminal length 0", Action::pager_off},
    {"terminal width 511", Action::noop},
    {"show running-config", Action::config},
    {"show version", Action::text,
     "Cisco Nexus Operating System (NX-OS) Software\n  NXOS: version 10.3(4a)\n"
     "Device name: {name}\n"},
    {"show inventory", Action::text, k_cisco_inventory},
};
constexpr Command k_iosxr[] = {
    {"terminal length 0", Action::pager_off},
    {"terminal width 0", Action::noop},
    {"terminal exec prompt no-timestamp", Action::noop},
    {"show running-config", Action::config},
    {"show version", Action::text,
     "Cisco IOS XR Software, Version 7.9.2\n{name} uptime is 3 weeks, 1 day\n"},
    {"show inventory", Action::text, k_cisco_inventory},
};
constexpr Command k_asa[] = {
    {"enable", Action::enable},
    {"terminal pager 0", Action::pager_off},
    {"more system:running-config", Action::config},
    {"show running-config", Action::config},
    {"show version", Action::text,
     "Cisco Adaptive Security Appliance Software Version 9.18(3)\n"
     "{name} up 12 days 4 hours\n"},
    {"show inventory", Action::text, k_cisco_inventory},
};
constexpr Command k_junos[] = {
    {"set cli screen-length 0", Action::pager_off},
    {"set cli screen-width 0", Action::noop},
    {"show configuration | display omit", Action::config},
    {"show configuration | display omit | display set", Action::config},
    {"show configuration | display set", Action::config},
    {"show configuration", Action::config},
    {"show version", Action::text, "Hostname: {name}\nModel: mx204\nJunos: 23.2R1.13\n"},
    {"show chassis hardware", Action::text,
     "Hardware inventory:\nItem             Version  Part number  Serial number     "
     "Description\nChassis                                    FAKE0001          MX204\n"},
};
constexpr Command k_eos[] = {
    {"enable", Action::enable},
    {"terminal length 0", Action::pager_off},
    {"terminal width 32767", Action::noop},
    {"show running-config", Action::config},
    {"show version", Action::text,
     "Arista DCS-7050SX3-48YC8\nSoftware image version: 4.31.2F\nUptime: 2 weeks\n"},
    {"show inventory", Action::text, "System information\n  Model: DCS-7050SX3-48YC8\n"},
};
constexpr Command k_fortios[] = {
    {"show", Action::config},
    {"show full-configuration", Action::config},
    {"get system status", Action::text,
     "Version: FortiGate-100F v7.2.8,build1639,240313 (GA.M)\nHostname: {name}\n"
     "Operation Mode: NAT\n"},
};
constexpr Command k_panos[] = {
    {"set cli pager off", Action::pager_off},
    {"set cli config-output-format default", Action::noop},
    {"show config running", Action::config},
    {"show system info", Action::text, "hostname: {name}\nmodel: PA-3220\nsw-version: 11.0.3\n"},
};
constexpr Command k_routeros[] = {
    {"/export", Action::config},
    {"/export terse", Action::config},
    {"/system resource print", Action::text,
     "                   uptime: 3w2d4h\n                  version: 7.14.3 (stable)\n"
     "              board-name: CCR2004-16G-2S+\n"},
    {"/system routerboard print", Action::text,
     "       routerboard: yes\n             model: CCR2004-16G-2S+\n"
     "     serial-number: FAKE0001\n"},
};
constexpr Command k_procurve[] = {
    {"no page", Action::pager_off},
    {"terminal width 1920", Action::noop},
    {"show running-config", Action::config},
    {"show system", Action::text,
     " Status and Counters - General System Information\n  System Name        : {name}\n"
     "  Software revision  : WC.16.11.0016\n"},
    {"show version", Action::text,
     "Image stamp:    /ws/swbuildm/rel_ukiah_qaoff/code\n"
     "Boot Image:     Primary\n"},
    {"show modules", Action::text, " Status and Counters - Module Information\n"},
};
constexpr Command k_aoscx[] = {
    {"no page", Action::pager_off},
    {"show running-config", Action::config},
    {"show version", Action::text,
     "ArubaOS-CX\n(c) Copyright Hewlett Packard Enterprise Development LP\n"
     "Version      : FL.10.13.1000\n"},
    {"show system", Action::text, "Hostname            : {name}\nProduct Name  : 6300M\n"},
};
constexpr Command k_vrp[] = {
    {"screen-length 0 temporary", Action::pager_off},
    {"super", Action::enable},
    {"display current-configuration", Action::config},
    {"display version", Action::text,
     "Huawei Versatile Routing Platform Software\nVRP (R) software, Version 8.210\n"
     "{name} uptime is 14 days, 2 hours, 3 minutes\n"},
    {"display device", Action::text, "NE40E-X8A's Device status:\n"},
};
constexpr Command k_comware[] = {
    {"screen-length disable", Action::pager_off},
    {"super", Action::enable},
    {"display current-configuration", Action::config},
    {"display version", Action::text,
     "H3C Comware Software, Version 7.1.070, Release 6635P07\n"
     "H3C S6850-56HF uptime is 0 weeks, 5 days, 1 hour, 2 minutes\n"},
    {"display device", Action::text, "Slot Type             State    Subslot  Soft Ver\n"},
    {"display device manuinfo", Action::text,
     "Slot 1 CPU 0:\nDEVICE_NAME          : S6850-56HF\nDEVICE_SERIAL_NUMBER : FAKE0001\n"},
};
constexpr Command k_os10[] = {
    {"terminal length 0", Action::pager_off},
    {"show running-configuration", Action::config},
    {"show version", Action::text,
     "Dell SmartFabric OS10 Enterprise\nOS Version: 10.5.5.5\nUp Time: 3 weeks 1 day\n"},
    {"show inventory", Action::text, "Product               : S5248F-ON\n"},
};

constexpr std::string_view k_cisco_error = "% Invalid input detected at '^' marker.";
constexpr std::string_view k_cisco_banner = "\n{name} - authorized access only\n\n";

// clang-format off
constexpr std::array<Personality, 14> k_personalities = {{
    {.platform = "ios", .prompt = "{name}#", .user_prompt = "{name}>", .pager = " --More-- ",
     .enable_error = "% Access denied", .banner = k_cisco_banner, .error = k_cisco_error,
     .commands = k_ios},
    {.platform = "nxos", .prompt = "{name}#", .pager = "--More--",
     .banner = "\nCisco NX-OS Software\n{name}: authorized access only\n\n",
     .error = "% Invalid command at '^' marker.", .commands = k_nxos},
    {.platform = "iosxr", .prompt = "RP/0/RSP0/CPU0:{name}#", .pager = " --More-- ",
     .banner = "\n{name}: IOS XR, authorized access only\n\n", .error = k_cisco_error,
     .commands = k_iosxr},
    {.platform = "asa", .prompt = "{name}#", .user_prompt = "{name}>", .pager = "<--- More --->",
     .enable_error = "Invalid password", .banner = "\nType help or '?' for a list of available commands.\n",
     .error = "ERROR: % Invalid input detected at '^' marker.", .commands = k_asa},
    {.platform = "junos", .prompt = "{user}@{name}> ", .pager = "---(more)---",
     .banner = "--- JUNOS 23.2R1.13 Kernel 64-bit  JNPR-13.0-20230616.0d5c9a4_buil\n",
     .exec = true, .error = "unknown command.", .commands = k_junos},
    {.platform = "eos", .prompt = "{name}#", .user_prompt = "{name}>", .pager = " --More-- ",
     .enable_error = "% Access denied", .banner = "\nLast login: Mon Jan  1 00:00:00 2024\n",
     .error = "% Invalid input", .commands = k_eos},
    {.platform = "fortios", .prompt = "{name} # ", .pager = "--More-- ",
     .banner = "\nWARNING: authorized use only. All activity is logged.\n",
     .accept = "(Press 'a' to accept):", .accept_key = 'a',
     .error = "Command fail. Return code -61", .commands = k_fortios},
    {.platform = "panos", .prompt = "{user}@{name}> ", .pager = "lines 1-20 ",
     .banner = "\nLast login: Mon Jan  1 00:00:00 2024 from 10.0.0.1\n\nNumber of failed attempts since last successful login: 0\n\n",
     .error = "Unknown command: {cmd}", .commands = k_panos},
    {.platform = "routeros", .prompt = "[{user}@{name}] > ", .pager = {}, .pager_on = false,
     .banner = "\n  MikroTik RouterOS 7.14.3 (c) 1999-2024       https://www.mikrotik.com/\n\n",
     .ansi = true, .exec = true, .error = "bad command name {cmd} (line 1 column 1)",
     .commands = k_routeros},
    {.platform = "procurve", .prompt = "{name}# ",
     .pager = "-- MORE --, next page: Space, next line: Enter, quit: Control-C",
     .pager_enter_line = true,
     .banner = "\nHP J9729A 2920-48G-PoE+ Switch\nSoftware revision WB.16.10.0016\n\n",
     .accept = "Press any key to continue", .ansi = true, .error = "Invalid input: {cmd}",
     .commands = k_procurve},
    {.platform = "aoscx", .prompt = "{name}# ", .pager = "--MORE--",
     .banner = "\nAruba 6300M\n\n", .ansi = true, .error = "Invalid input: {cmd}",
     .commands = k_aoscx},
    {.platform = "vrp", .prompt = "<{name}>", .pager = "  ---- More ----",
     .enable_error = "Error: Password is incorrect.",
     .banner = "\nInfo: The max number of VTY users is 21, and the number\n      of current VTY users on line is 1.\n",
     .error = "Error: Unrecognized command found at '^' position.", .commands = k_vrp},
    {.platform = "comware", .prompt = "<{name}>", .pager = "---- More ----",
     .enable_error = "Invalid password.",
     .banner = "\n******************************************************************************\n* Copyright (c) 2004-2024 New H3C Technologies Co., Ltd. All rights reserved.*\n******************************************************************************\n\n",
     .error = "% Unrecognized command found at '^' position.", .commands = k_comware},
    {.platform = "os10", .prompt = "{name}# ", .pager = "--more--",
     .banner = "\nDell SmartFabric OS10 Enterprise\n\n", .error = "% Error: Unrecognized command.",
     .commands = k_os10},
}};
// clang-format on

constexpr std::string_view k_prefix_separator = "--";

}  // namespace

std::span<const Personality> personalities() { return k_personalities; }

const Personality* find_personality(std::string_view device) {
    const auto sep = device.find(k_prefix_separator);
    if (sep == std::string_view::npos) return nullptr;
    const auto platform = device.substr(0, sep);
    for (const auto& p : k_personalities)
        if (p.platform == platform) return &p;
    return nullptr;
}

std::string_view host_name(std::string_view device) {
    if (!find_personality(device)) return device;
    return device.substr(device.find(k_prefix_separator) + k_prefix_separator.size());
}

std::string expand(std::string_view pattern, std::string_view device) {
    std::string out;
    out.reserve(pattern.size() + device.size());
    std::size_t i = 0;
    while (i < pattern.size()) {
        if (pattern.substr(i).starts_with("{name}")) {
            out += host_name(device);
            i += 6;
        } else if (pattern.substr(i).starts_with("{user}")) {
            out += device;
            i += 6;
        } else {
            out += pattern[i++];
        }
    }
    return out;
}

std::string privileged_prompt(const Personality& p, std::string_view device) {
    return expand(p.prompt, device);
}

std::string personality_config(const Personality& p, std::string_view device,
                               std::uint64_t generation, std::uint64_t run) {
    const std::string_view fixture = platform_fixture(p.platform);
    std::string prompt = privileged_prompt(p, device);
    while (!prompt.empty() && prompt.back() == ' ') prompt.pop_back();
    const std::string gen = std::to_string(generation);
    const std::string run_text = std::to_string(run);
    std::string out;
    out.reserve(fixture.size() + 64);
    std::size_t i = 0;
    while (i < fixture.size()) {
        const auto open = fixture.find("{{", i);
        if (open == std::string_view::npos) {
            out.append(fixture.substr(i));
            break;
        }
        out.append(fixture.substr(i, open - i));
        const auto rest = fixture.substr(open);
        if (rest.starts_with("{{gen}}")) {
            out += gen;
            i = open + 7;
        } else if (rest.starts_with("{{run}}")) {
            out += run_text;
            i = open + 7;
        } else if (rest.starts_with("{{prompt}}")) {
            out += prompt;
            i = open + 10;
        } else {
            out += "{{";
            i = open + 2;
        }
    }
    return out;
}

std::string normalize_command(std::string_view line) {
    std::string out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i == start) break;
        if (!out.empty()) out += ' ';
        out.append(line.substr(start, i - start));
    }
    return out;
}

const Command* find_command(const Personality& p, std::string_view line) {
    const std::string command = normalize_command(line);
    for (const auto& c : p.commands)
        if (c.text == command) return &c;
    return nullptr;
}

}  // namespace netkeep::fake_device
