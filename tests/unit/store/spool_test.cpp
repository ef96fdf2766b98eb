#include <doctest/doctest.h>

#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "netkeep/spool.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

namespace {
std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::size_t file_count(const fs::path& dir) {
    return std::size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}
}  // namespace

TEST_CASE(
    "a committed spool file holds the streamed bytes under its final name, with size and hash") {
    TempDir dir = TempDir::create("netkeep-spool-test").value();
    auto spool = Spool::open((dir.path() / "spool").string());
    REQUIRE(spool.is_ok());
    auto file = spool->create();
    REQUIRE(file.is_ok());
    REQUIRE(file->write("hostname r1\n").is_ok());
    REQUIRE(file->write("interface Gi0/1\n").is_ok());
    auto entry = file->commit();
    REQUIRE(entry.is_ok());
    CHECK(entry->size == 28);
    CHECK(to_hex(entry->sha256) == sha256_hex("hostname r1\ninterface Gi0/1\n"));
    CHECK(read(spool->path_of(entry->name)) == "hostname r1\ninterface Gi0/1\n");
    CHECK(file_count(dir.path() / "spool") == 1);

    REQUIRE(spool->remove(entry->name).is_ok());
    CHECK(file_count(dir.path() / "spool") == 0);
    CHECK(spool->remove(entry->name).is_ok());  // already gone is fine
}

TEST_CASE("an upload that is not committed leaves nothing behind") {
    TempDir dir = TempDir::create("netkeep-spool-test").value();
    auto spool = Spool::open((dir.path() / "spool").string());
    REQUIRE(spool.is_ok());
    {
        auto file = spool->create();
        REQUIRE(file.is_ok());
        REQUIRE(file->write(std::string(100'000, 'x')).is_ok());
        CHECK(file_count(dir.path() / "spool") == 1);
    }
    CHECK(file_count(dir.path() / "spool") == 0);
}

TEST_CASE("opening the spool removes incoming files a crash left, and keeps committed ones") {
    TempDir dir = TempDir::create("netkeep-spool-test").value();
    fs::create_directories(dir.path() / "spool");
    std::ofstream(dir.path() / "spool" / ".incoming-123") << "partial";
    std::ofstream(dir.path() / "spool" / "456") << "complete";
    auto spool = Spool::open((dir.path() / "spool").string());
    REQUIRE(spool.is_ok());
    CHECK_FALSE(fs::exists(dir.path() / "spool" / ".incoming-123"));
    CHECK(fs::exists(dir.path() / "spool" / "456"));
}

TEST_CASE("two spool files never share a name") {
    TempDir dir = TempDir::create("netkeep-spool-test").value();
    auto spool = Spool::open((dir.path() / "spool").string());
    REQUIRE(spool.is_ok());
    auto a = spool->create();
    auto b = spool->create();
    REQUIRE(a.is_ok());
    REQUIRE(b.is_ok());
    auto ea = a->commit();
    auto eb = b->commit();
    REQUIRE(ea.is_ok());
    REQUIRE(eb.is_ok());
    CHECK(ea->name != eb->name);
    CHECK(ea->size == 0);
    CHECK(to_hex(ea->sha256) == sha256_hex(""));
}

TEST_CASE(
    "a sweep lists durable files modified before the cutoff, never incoming or other dot files") {
    TempDir dir = TempDir::create("netkeep-spool-test").value();
    auto spool = Spool::open((dir.path() / "spool").string());
    REQUIRE(spool.is_ok());
    auto old_file = spool->create();
    REQUIRE(old_file.is_ok());
    REQUIRE(old_file->write("old\n").is_ok());
    auto old_entry = old_file->commit();
    REQUIRE(old_entry.is_ok());
    std::ofstream(dir.path() / "spool" / ".redacting") << "staged";
    auto incoming = spool->create();  // still being received
    REQUIRE(incoming.is_ok());
    // Everything so far is an hour older than the cutoff below; the next file is not.
    const auto an_hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
    for (const auto& e : fs::directory_iterator(dir.path() / "spool"))
        fs::last_write_time(e.path(), an_hour_ago);
    timespec cutoff{};
    ::clock_gettime(CLOCK_REALTIME, &cutoff);
    cutoff.tv_sec -= 60;
    auto new_file = spool->create();
    REQUIRE(new_file.is_ok());
    REQUIRE(new_file->write("new\n").is_ok());
    REQUIRE(new_file->commit().is_ok());

    auto old = spool->files_modified_before(cutoff);
    REQUIRE(old.is_ok());
    CHECK(*old == std::vector<std::string>{old_entry->name});

    // The spool another part opened: same files, and removing is idempotent.
    Spool view = Spool::existing((dir.path() / "spool").string());
    CHECK(view.remove(old_entry->name).is_ok());
    CHECK(view.remove(old_entry->name).is_ok());
    CHECK(view.files_modified_before(cutoff)->empty());
}
