#include <doctest/doctest.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "netkeep/hardening.hpp"

using namespace netkeep;
namespace fs = std::filesystem;

TEST_CASE("a mode is exposed when group or others have any bit") {
    CHECK_FALSE(mode_exposed(0700));
    CHECK_FALSE(mode_exposed(0600));
    CHECK_FALSE(mode_exposed(0400));
    CHECK(mode_exposed(0755));
    CHECK(mode_exposed(0640));
    CHECK(mode_exposed(0604));
    CHECK(mode_exposed(0701));  // search alone lets others open a file whose name they know
    CHECK(format_mode(0755) == "0755");
    CHECK(format_mode(0600) == "0600");
    CHECK(format_mode(040700) == "0700");  // st_mode's type bits are not shown
}

TEST_CASE("warn_if_exposed warns for a group- or world-accessible path only") {
    std::random_device rd;
    fs::path dir = fs::temp_directory_path() / ("netkeep-hardening-test-" + std::to_string(rd()));
    fs::create_directories(dir);
    fs::path file = dir / "tokens.json";
    std::ofstream(file) << "{}";

    fs::permissions(file, fs::perms(0600));
    CHECK(path_mode(file.string()) == 0600u);
    CHECK_FALSE(warn_if_exposed(file.string(), "token file"));
    fs::permissions(file, fs::perms(0644));
    CHECK(warn_if_exposed(file.string(), "token file"));
    CHECK_FALSE(path_mode((dir / "missing").string()).has_value());
    CHECK_FALSE(warn_if_exposed((dir / "missing").string(), "token file"));
    fs::remove_all(dir);
}

TEST_CASE("restrict_new_files makes what the process creates private") {
    mode_t before = ::umask(022);
    restrict_new_files();
    mode_t now = ::umask(0);
    ::umask(before);
    CHECK(now == 077);
}

TEST_CASE("disable_core_dumps sets RLIMIT_CORE to 0 and the process undumpable") {
    REQUIRE(disable_core_dumps().is_ok());
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_CORE, &limit) == 0);
    CHECK(limit.rlim_cur == 0);
    CHECK(limit.rlim_max == 0);
    CHECK(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
}
