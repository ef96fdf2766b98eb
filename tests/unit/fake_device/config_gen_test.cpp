#include "config_gen.hpp"

#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "device.hpp"

using namespace netkeep::fake_device;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("the canonical text begins and ends as IOS's does") {
    const std::string text = generate_config("r1", 0, k_default_config_bytes);
    const std::string head =
        "Building configuration...\n\nCurrent configuration : " + std::to_string(text.size()) +
        " bytes\n!\nhostname r1\n";
    CHECK(text.starts_with(head));
    CHECK(text.ends_with("\nend\n"));
    CHECK(text.find('\r') == std::string::npos);
}

TEST_CASE("the size is close to the one asked for") {
    for (std::size_t bytes : {4096u, 10000u, 50000u, 1000000u}) {
        CAPTURE(bytes);
        const auto size = generate_config("sw-9", 2, bytes).size();
        CHECK(size <= bytes);
        CHECK(size > bytes - 400);
    }
    // Too small a size still gives a whole config.
    CHECK(generate_config("r1", 0, 10).ends_with("end\n"));
}

TEST_CASE("deterministic per name, different between names") {
    CHECK(generate_config("r1", 5, 4096) == generate_config("r1", 5, 4096));
    CHECK(generate_config("r1", 5, 4096) != generate_config("r2", 5, 4096));
}

TEST_CASE("generation 0 and 1 differ in a few lines only") {
    const auto a = lines_of(generate_config("edge-1", 0, 20000));
    const auto b = lines_of(generate_config("edge-1", 1, 20000));
    REQUIRE(a.size() == b.size());
    int differing = 0;
    for (std::size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
    CHECK(differing >= 2);
    CHECK(differing <= 5);
}

TEST_CASE("promptline: the prompt is a line of its own in the middle") {
    const std::string text = generate_config("promptline-r1", 0, 8000);
    const auto at = text.find("\npromptline-r1#\n");
    REQUIRE(at != std::string::npos);
    CHECK(at > text.size() / 4);
    CHECK(at < text.size() * 3 / 4);
    CHECK(generate_config("r1", 0, 8000).find("\nr1#\n") == std::string::npos);
}

TEST_CASE("huge: 20 MiB whatever size was asked") {
    const std::string text = generate_config("huge-r1", 0, 100);
    CHECK(text.size() <= k_huge_config_bytes);
    CHECK(text.size() > k_huge_config_bytes - 1000);
    CHECK(text.ends_with("end\n"));
}

TEST_CASE("fault modes come from the first part of the name") {
    CHECK(fault_of("r1") == Fault::none);
    CHECK(fault_of("core-sw-1") == Fault::none);
    CHECK(fault_of("badpass-r1") == Fault::badpass);
    CHECK(fault_of("slow-r1") == Fault::slow);
    CHECK(fault_of("hang-r1") == Fault::hang);
    CHECK(fault_of("drop-x-y") == Fault::drop);
    CHECK(fault_of("promptline-1") == Fault::promptline);
    CHECK(fault_of("huge-1") == Fault::huge);
    CHECK(fault_of("r1-hang") == Fault::none);
    CHECK(fault_of("hang") == Fault::hang);
}

TEST_CASE("device names") {
    CHECK(valid_device_name("core-sw_1.lab"));
    CHECK_FALSE(valid_device_name(""));
    CHECK_FALSE(valid_device_name("a b"));
    CHECK_FALSE(valid_device_name("a/b"));
    CHECK_FALSE(valid_device_name(std::string(256, 'a')));
}
