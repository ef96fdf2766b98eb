#pragma once
// What a device name means to the fake device: the name is the hostname, and its first
// `-`-separated part may select a fault mode (see docs/fake-device.md).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep::fake_device {

enum class Fault {
    none,
    badpass,     // every password and key is rejected
    slow,        // show run trickles out, one line every k_slow_line_interval
    hang,        // show run sends nothing and never returns
    drop,        // the connection closes after about half of the show run output
    promptline,  // the config holds a line that is exactly the prompt "NAME#"
    huge,        // the config is k_huge_config_bytes long
};

inline constexpr std::size_t k_default_config_bytes = 4096;
inline constexpr std::size_t k_huge_config_bytes = std::size_t{20} * 1024 * 1024;

// Names are made of [A-Za-z0-9._-], 1 to 255 characters.
bool valid_device_name(std::string_view name);

// The fault mode named by the part of `name` before its first '-' (after a personality's
// "<platform>--" prefix), else Fault::none.
Fault fault_of(std::string_view name);

std::string_view fault_name(Fault fault);

}  // namespace netkeep::fake_device
