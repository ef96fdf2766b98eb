#pragma once
// One command-line scanner for netkeepd, netkeep-worker, netkeepctl and fake-device: each
// program declares its options in a table (long name, value or flag or repeatable, help
// text) and gets the same rules, the same error wording and a --help generated from it.
//
// The rules, for every program:
//   --name VALUE and --name=VALUE are the same; a flag takes no value (--flag=x is an error).
//   -h and --help ask for the help text wherever they come (before any error); a short name
//   is written alone ("-x", "-x VALUE"), never bundled ("-xy").
//   A value given as the next argument may not look like an option ("--name --role" is a
//   missing value, not the name "--role"); write --name=--role to mean it. An empty value is
//   refused. "-" and negative numbers ("-1") are not options.
//   A value or flag option may be given once; a repeatable one any number of times.
//   "--" ends the options: everything after it is a positional argument.
//   Options and positional arguments may be mixed. A program with commands scans once
//   with every command's options and takes the first positional as the command; it then
//   refuses an option of another command (netkeepctl, src/ctl/args.cpp).
// Errors are invalid_argument Statuses that name the option. Arguments quoted in them are
// cut to a few dozen bytes with control characters escaped, so a hostile argv cannot flood
// or drive the terminal the message lands on.
//
// Why not getopt_long: it accepts any unambiguous abbreviation ("--insecure" would turn on
// --insecure-no-auth), keeps its state in globals (optind), prints its own errors and
// cannot tell a repeated option; checking all of that after it would be a second parser.
//
// Pure and thread-compatible: no globals, no I/O. Values in a Parsed view the arguments it
// was given, which must outlive it.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::args {

enum class Kind {
    flag,      // --name, no value; at most once
    value,     // --name VALUE; at most once
    repeated,  // --name VALUE, any number of times (kept in order)
};

struct Option {
    std::string_view name;  // without the dashes: "listen" is written --listen
    Kind kind = Kind::value;
    std::string_view value_name;  // "HOST:PORT": shown in --help and in errors; empty for flags
    std::string_view help;        // may hold "\n": later lines are indented under the first
    char short_name = '\0';       // 'x' is also written -x; '\0' for none ('h' is help's)
};

// One option found on the command line.
struct Match {
    std::size_t index = 0;   // into the option table
    std::string_view name;   // the option's long name, as in the table
    std::string_view value;  // empty for a flag
};

struct Parsed {
    bool help = false;           // -h/--help: nothing after it was looked at
    std::vector<Match> options;  // in command-line order
    // Arguments that are not options, wherever they come, and everything after "--". A
    // program with commands (netkeepctl) takes the first as the command.
    std::vector<std::string_view> positional;

    bool has(std::string_view name) const;
    // The value of a non-repeated option, if given.
    std::optional<std::string_view> value(std::string_view name) const;
    // Every value of a repeatable option, in order.
    std::vector<std::string_view> values(std::string_view name) const;
};

Result<Parsed> parse(std::span<const Option> table, std::span<const std::string_view> args);

// argv[1..argc) (or a copy of it) as views for parse(); the views point into the strings.
std::vector<std::string_view> views(int argc, char** argv);
std::vector<std::string_view> views(const std::vector<std::string>& args);

// "  --listen HOST:PORT    where to listen ..." one line (or more) per option, then the
// -h, --help line unless `with_help` is false (a program listing several tables).
std::string help_text(std::span<const Option> table, bool with_help = true);

// `text` in single quotes for an error message: at most 64 bytes of it (then "..." and the
// full length), control and non-ASCII bytes as \xNN.
std::string quoted(std::string_view text);

// An option table row that also says what a value does to the program's settings: one
// table then drives scanning, applying and --help. `apply` gets "" for a flag.
template <typename Target>
struct Rule {
    Option option;
    Status (*apply)(Target& target, std::string_view value) = nullptr;
};

template <typename Target>
std::vector<Option> options_of(std::span<const Rule<Target>> rules) {
    std::vector<Option> table;
    table.reserve(rules.size());
    for (const auto& rule : rules) table.push_back(rule.option);
    return table;
}

// parse() with the rules' options, then each rule's apply() in command-line order; the
// first error stops it. With help set nothing is applied.
template <typename Target>
Result<Parsed> parse_into(std::span<const Rule<Target>> rules,
                          std::span<const std::string_view> args, Target& target) {
    const std::vector<Option> table = options_of(rules);
    auto parsed = parse(table, args);
    if (!parsed || parsed->help) return parsed;
    for (const Match& match : parsed->options) {
        if (Status s = rules[match.index].apply(target, match.value); !s) return s;
    }
    return parsed;
}

template <typename Target>
std::string help_text(std::span<const Rule<Target>> rules, bool with_help = true) {
    return help_text(std::span<const Option>(options_of(rules)), with_help);
}

}  // namespace netkeep::args
