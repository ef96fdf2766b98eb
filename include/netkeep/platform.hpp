#pragma once
// The built-in platforms (docs/platforms.md): one definition per device family, written
// as JSON in src/platforms/defs/<name>.json and embedded into every binary at build
// time. A definition uses the field names of a job (prompt, pager, setup, expect,
// redact, noise...), so `netkeepctl platforms NAME` prints one that an operator can copy
// into a job and adapt. The inventory loader validates and expands them
// (src/inventory): this part only holds the text.

#include <span>
#include <string_view>

namespace netkeep {

struct BuiltinPlatform {
    std::string_view name;  // the definition's file name: what "platform" in devices.json names
    std::string_view json;  // the definition, as written
};

// Every built-in platform, sorted by name.
std::span<const BuiltinPlatform> builtin_platforms();

// nullptr when there is no built-in platform of that name.
const BuiltinPlatform* find_builtin_platform(std::string_view name);

}  // namespace netkeep
