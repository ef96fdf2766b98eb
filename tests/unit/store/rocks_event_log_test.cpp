// What only the RocksDB log has: a directory and its lock. The EventLog contract both
// logs keep is tested in event_log_contract_test.cpp, RocksDB's faults in
// log_faults_test.cpp.
#include <doctest/doctest.h>

#include <filesystem>

#include "netkeep/event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

TEST_CASE("a second open of the same directory names the likely cause: another netkeepd") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    auto log = open_event_log((dir.path() / "log").string());
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    auto second = open_event_log((dir.path() / "log").string());
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == Status::Code::unavailable);
    CHECK(second.status().message().find("another netkeepd") != std::string::npos);
}

TEST_CASE("opening creates the directory, and opening without create_if_missing does not") {
    TempDir dir = TempDir::create("netkeep-log-test").value();
    EventLogOptions no_create;
    no_create.create_if_missing = false;
    CHECK_FALSE(open_event_log((dir.path() / "absent").string(), no_create).is_ok());
    CHECK_FALSE(fs::exists(dir.path() / "absent" / "CURRENT"));
    auto log = open_event_log((dir.path() / "a" / "log").string());
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    CHECK(fs::is_directory(dir.path() / "a" / "log"));
}
