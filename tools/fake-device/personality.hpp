#pragma once
// Per-platform behaviour of the fake device (issue 13 contract §6-§8): a device named
// `<platform>--<host>` (e.g. `junos--fw1`) shows that platform's prompts, pager, banner,
// enable dialogue and commands; any other name is today's IOS-like device. Pure data and
// pure functions: the Cli and the SSH server read them, the unit tests check them.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace netkeep::fake_device {

enum class Action {
    config,     // prints the platform fixture, placeholders substituted
    text,       // prints Command::output ({name}, {user} substituted)
    pager_off,  // paging off, prints nothing
    noop,       // accepted, prints nothing (terminal width 0 and the like)
    enable,     // asks for the enable password (Personality::enable_command)
};

struct Command {
    std::string_view text;  // exact, words separated by one space
    Action action;
    std::string_view output = {};
};

struct Personality {
    std::string_view platform = {};
    // Prompts with {name} (the host name) and {user} (the login user, i.e. the whole
    // device name) in them.
    std::string_view prompt = {};        // privileged / normal
    std::string_view user_prompt = {};   // shown at login until enable; empty: privileged at once
    std::string_view pager = {};         // empty: no pager (output is never paged)
    bool pager_on = true;                // paging on at login (24 lines a page)
    bool pager_enter_line = false;       // Enter at the pager shows one more line (else a page)
    std::string_view enable_error = {};  // after a wrong enable password
    std::string_view banner = {};        // "\n" line ends; shown before the first prompt
    // A press-a-key prompt after the banner, answered before the first prompt.
    std::string_view accept = {};
    char accept_key = 0;          // 0: any key
    bool ansi = false;            // CSI codes around prompts, pager and output lines
    bool exec = false;            // SSH exec channel commands accepted
    std::string_view error = {};  // an unknown command's answer; {cmd} = its first word
    std::span<const Command> commands = {};
};

// All personalities, in the order of the contract's table.
std::span<const Personality> personalities();

// The personality named by `device`'s "<platform>--" prefix, or nullptr.
const Personality* find_personality(std::string_view device);

// `device` without its "<platform>--" prefix (the whole name when it has none).
std::string_view host_name(std::string_view device);

// `pattern` with {name} -> host_name(device) and {user} -> device.
std::string expand(std::string_view pattern, std::string_view device);

// The exact privileged prompt `device` shows, trailing spaces included.
std::string privileged_prompt(const Personality& p, std::string_view device);

// What the config command prints: the fixture with {{gen}} -> generation, {{run}} -> run,
// {{prompt}} -> the privileged prompt without its trailing spaces.
std::string personality_config(const Personality& p, std::string_view device,
                               std::uint64_t generation, std::uint64_t run);

// The command `line` (words separated by any run of spaces) matches, or nullptr.
const Command* find_command(const Personality& p, std::string_view line);

// `line`'s words joined by one space (what find_command compares).
std::string normalize_command(std::string_view line);

// The enable password every personality accepts.
inline constexpr std::string_view k_enable_secret = "enable-secret";

}  // namespace netkeep::fake_device
