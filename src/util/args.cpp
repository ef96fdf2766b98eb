#include "util/args.hpp"

#include <algorithm>

namespace netkeep::args {

namespace {

// Quoted arguments are cut here: enough to recognise one, too little to flood a terminal.
constexpr std::size_t k_quote_limit = 64;
// --help puts the help text in this column, or on the next line when the option is wider.
constexpr std::size_t k_max_help_column = 32;

// "-" (stdin, by convention) and negative numbers are arguments, not options.
bool looks_like_option(std::string_view arg) {
    return arg.size() > 1 && arg[0] == '-' && !(arg[1] >= '0' && arg[1] <= '9');
}

Status usage(std::string message) { return Status::invalid_argument(std::move(message)); }

std::string dashed(const Option& option) { return "--" + std::string(option.name); }

// One option as written: which one, and the value after '=' if any.
struct Spelled {
    bool help = false;
    std::size_t index = 0;
    std::optional<std::string_view> inline_value;
};

Result<Spelled> identify(std::span<const Option> table, std::string_view arg) {
    Spelled spelled;
    if (arg.starts_with("--")) {
        std::string_view name = arg.substr(2);
        if (auto eq = name.find('='); eq != std::string_view::npos) {
            spelled.inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (name == "help") {
            if (spelled.inline_value) return usage("--help takes no value");
            spelled.help = true;
            return spelled;
        }
        for (std::size_t i = 0; i < table.size(); ++i) {
            if (table[i].name == name) {
                spelled.index = i;
                return spelled;
            }
        }
        return usage("unknown option " + quoted(arg.substr(0, 2 + name.size())));
    }
    // A short option stands alone: "-x", never "-xVALUE" or bundled flags.
    if (arg.size() == 2 && arg[1] == 'h') {
        spelled.help = true;
        return spelled;
    }
    for (std::size_t i = 0; arg.size() == 2 && i < table.size(); ++i) {
        if (table[i].short_name != '\0' && table[i].short_name == arg[1]) {
            spelled.index = i;
            return spelled;
        }
    }
    return usage("unknown option " + quoted(arg));
}

// The option's value: after '=', else the next argument (advancing `i` past it).
Result<std::string_view> take_value(const Option& option, const Spelled& spelled,
                                    std::span<const std::string_view> args, std::size_t& i) {
    const std::string name = dashed(option);
    if (option.kind == Kind::flag) {
        if (spelled.inline_value) return usage(name + " takes no value");
        return std::string_view();
    }
    const std::string wanted = name + " needs a value (" + std::string(option.value_name) + ")";
    std::string_view value;
    if (spelled.inline_value) {
        value = *spelled.inline_value;
    } else {
        if (i + 1 >= args.size()) return usage(wanted);
        value = args[i + 1];
        if (looks_like_option(value))
            return usage(wanted + ", got the option " + quoted(value) + " (write " + name +
                         "=VALUE for a value that starts with '-')");
        ++i;
    }
    if (value.empty()) return usage(wanted + ", got an empty one");
    return value;
}

}  // namespace

Result<Parsed> parse(std::span<const Option> table, std::span<const std::string_view> args) {
    Parsed out;
    std::vector<bool> seen(table.size(), false);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (arg == "--") {
            out.positional.insert(out.positional.end(), args.begin() + std::ptrdiff_t(i + 1),
                                  args.end());
            return out;
        }
        if (!looks_like_option(arg)) {
            out.positional.push_back(arg);
            continue;
        }
        auto spelled = identify(table, arg);
        if (!spelled) return spelled.status();
        if (spelled->help) {
            out.help = true;
            return out;
        }
        const Option& option = table[spelled->index];
        auto value = take_value(option, *spelled, args, i);
        if (!value) return value.status();
        if (option.kind != Kind::repeated && seen[spelled->index])
            return usage(dashed(option) + " may be given only once");
        seen[spelled->index] = true;
        out.options.push_back({spelled->index, option.name, *value});
    }
    return out;
}

bool Parsed::has(std::string_view name) const {
    return std::any_of(options.begin(), options.end(),
                       [&](const Match& m) { return m.name == name; });
}

std::optional<std::string_view> Parsed::value(std::string_view name) const {
    for (const Match& m : options) {
        if (m.name == name) return m.value;
    }
    return std::nullopt;
}

std::vector<std::string_view> Parsed::values(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const Match& m : options) {
        if (m.name == name) out.push_back(m.value);
    }
    return out;
}

std::vector<std::string_view> views(int argc, char** argv) {
    std::vector<std::string_view> out;
    for (int i = 1; i < argc; ++i) out.emplace_back(argv[i]);
    return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& args) {
    return std::vector<std::string_view>(args.begin(), args.end());
}

std::string help_text(std::span<const Option> table, bool with_help) {
    std::vector<std::pair<std::string, std::string_view>> rows;
    for (const Option& option : table) {
        std::string left = "  ";
        if (option.short_name != '\0') left += std::string("-") + option.short_name + ", ";
        left += dashed(option);
        if (!option.value_name.empty()) left += " " + std::string(option.value_name);
        rows.emplace_back(std::move(left), option.help);
    }
    if (with_help) rows.emplace_back("  -h, --help", "show this help and exit");
    std::size_t column = 0;
    for (const auto& row : rows) column = std::max(column, row.first.size() + 2);
    column = std::min(column, k_max_help_column);

    std::string out;
    for (const auto& [left, help] : rows) {
        out += left;
        // A wide option puts its help on the next line, in the same column as the others.
        std::size_t at = left.size();
        if (at + 2 > column && !help.empty()) {
            out += '\n';
            at = 0;
        }
        for (std::size_t start = 0; start < help.size();) {
            const std::size_t nl = std::min(help.find('\n', start), help.size());
            out.append(column - at, ' ');
            out.append(help.substr(start, nl - start));
            out += '\n';
            at = 0;
            start = nl + 1;
        }
        if (help.empty()) out += '\n';
    }
    return out;
}

std::string quoted(std::string_view text) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out = "'";
    for (unsigned char c : text.substr(0, k_quote_limit)) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += char(c);
        } else {
            out += "\\x";
            out += k_hex[c >> 4];
            out += k_hex[c & 0xf];
        }
    }
    out += "'";
    if (text.size() > k_quote_limit) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace netkeep::args
