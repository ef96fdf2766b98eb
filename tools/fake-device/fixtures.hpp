#pragma once
// The platform fixtures, embedded at build time by gen_fixtures.py from
// tests/platforms/<platform>/config.txt: the raw config text each personality serves, with
// the placeholders {{gen}}, {{run}} and {{prompt}} still in it (docs/fake-device.md).

#include <string_view>

namespace netkeep::fake_device {

// The fixture of `platform`, or an empty view when there is none.
std::string_view platform_fixture(std::string_view platform);

}  // namespace netkeep::fake_device
