// rewrite_event_log: the offline maintenance call behind netkeepctl scrub-secrets.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "netkeep/event_log.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep;
using netkeep::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Whether any file under dir holds needle (RocksDB compresses table blocks, but a value
// with no repeated fragment stays readable).
bool any_file_contains(const fs::path& dir, const std::string& needle) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (content.find(needle) != std::string::npos) return true;
    }
    return false;
}

std::vector<EventRecord> all(const std::string& path) {
    auto log = open_event_log_reader(path);
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    std::vector<EventRecord> out;
    REQUIRE((*log)
                ->scan(1, (*log)->last_seq(),
                       [&](EventRecord&& r) {
                           out.push_back(std::move(r));
                           return true;
                       })
                .is_ok());
    return out;
}

const std::string k_secret = "Zx4Qw8Er2Ty6Ui0";

void write_log(const std::string& path) {
    auto log = open_event_log(path);
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    REQUIRE((*log)
                ->append({InventoryApplied{10, "{\"pass\":\"" + k_secret + "\"}", "{}"},
                          LeaseExpired{11, "r1", "job", 5}})
                .is_ok());
    REQUIRE((*log)->put_meta("cursor", "1").is_ok());
}

}  // namespace

TEST_CASE(
    "a rewritten record keeps its seq, the old value leaves every file, the rest is untouched") {
    TempDir dir = TempDir::create("netkeep-rewrite-test").value();
    const std::string path = (dir.path() / "log").string();
    write_log(path);
    REQUIRE(any_file_contains(dir.path(), k_secret));  // the check can fail

    auto report = rewrite_event_log(path, [](const EventRecord& r) -> Result<std::optional<Event>> {
        if (const auto* e = std::get_if<InventoryApplied>(&r.event))
            return std::optional<Event>(
                InventoryApplied{e->at, "{\"pass\":\"redacted\"}", e->jobs_json});
        return std::optional<Event>();
    });
    REQUIRE_MESSAGE(report.is_ok(), report.status().to_string());
    CHECK(report->records == 2);
    CHECK(report->rewritten == 1);
    CHECK_FALSE(any_file_contains(dir.path(), k_secret));

    auto records = all(path);
    REQUIRE(records.size() == 2);
    CHECK(records[0].seq == 1);
    CHECK(std::get<InventoryApplied>(records[0].event).devices_json == "{\"pass\":\"redacted\"}");
    CHECK(std::get<InventoryApplied>(records[0].event).at == 10);
    CHECK(std::get<LeaseExpired>(records[1].event).device == "r1");
    auto log = open_event_log(path);
    REQUIRE(log.is_ok());
    CHECK((*log)->get_meta("cursor").value() == "1");
    CHECK((*log)->last_seq() == 2);
}

TEST_CASE(
    "a rewrite that fails or changes a type writes nothing; a locked or missing log is refused") {
    TempDir dir = TempDir::create("netkeep-rewrite-test").value();
    const std::string path = (dir.path() / "log").string();
    write_log(path);

    auto failing =
        rewrite_event_log(path, [](const EventRecord& r) -> Result<std::optional<Event>> {
            if (r.seq == 2) return Status::corruption("seq 2: no");
            return std::optional<Event>(InventoryApplied{1, "{}", "{}"});
        });
    CHECK(failing.status().message() == "seq 2: no");
    auto retyped =
        rewrite_event_log(path, [](const EventRecord& r) -> Result<std::optional<Event>> {
            if (r.seq == 1) return std::optional<Event>(LeaseExpired{1, "r1", "job", 1});
            return std::optional<Event>();
        });
    CHECK(retyped.status().code() == Status::Code::invalid_argument);
    CHECK(retyped.status().message().find("seq 1: a rewrite must keep the event's type") == 0);
    CHECK(std::get<InventoryApplied>(all(path)[0].event).devices_json ==
          "{\"pass\":\"" + k_secret + "\"}");

    {
        auto holder = open_event_log(path);  // what netkeepd does
        REQUIRE(holder.is_ok());
        auto locked = rewrite_event_log(
            path, [](const EventRecord&) { return Result<std::optional<Event>>(std::nullopt); });
        CHECK(locked.status().code() == Status::Code::unavailable);
        CHECK(locked.status().message().find("is locked: stop netkeepd") != std::string::npos);
    }
    auto missing = rewrite_event_log((dir.path() / "nothing").string(), [](const EventRecord&) {
        return Result<std::optional<Event>>(std::nullopt);
    });
    CHECK(missing.status().code() == Status::Code::not_found);
    CHECK_FALSE(fs::exists(dir.path() / "nothing"));  // never created
}
