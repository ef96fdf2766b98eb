#pragma once
// The canonical configuration text of a fake device: a pure function of (name, generation,
// size). `show run` sends it with "\n" turned into "\r\n"; `--print-config` prints it as is,
// which is byte for byte what netkeep must commit for a `show run` job.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace netkeep::fake_device {

// Begins "Building configuration...\n\nCurrent configuration : N bytes\n!\nhostname NAME\n"
// (N is the length of the whole text), ends "end\n", and is about `target_bytes` long
// (k_huge_config_bytes for huge-* names, whatever `target_bytes` says). Filler lines
// depend on `name` only; three lines depend on `generation`, so consecutive generations
// differ in a few lines. promptline-* names get a line "NAME#" in a banner in the middle.
std::string generate_config(std::string_view name, std::uint64_t generation,
                            std::size_t target_bytes);

}  // namespace netkeep::fake_device
