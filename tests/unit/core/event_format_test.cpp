#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/crc32c.hpp"
#include "core/event_format.hpp"
#include "netkeep/event_schema.hpp"
#include "netkeep/sha256.hpp"

using namespace netkeep;

namespace {

std::vector<Event> sample_events() {
    std::string every_byte;
    for (int c = 0; c < 256; ++c) every_byte.push_back(char(c));
    return {
        InventoryApplied{1700000000, R"({"devices":[]})", R"({"jobs":[]})"},
        LeaseGranted{1700000001, "core-1.dc", "show_run", 1699999200, 1700000301, 2,
                     "127.0.0.1:5000", ""},
        LeaseExpired{-5, "a", "b", 0},  // negative times must survive zigzag encoding
        CompletionRecorded{1700000400, "r1", "show_run", 1699999200, 1700000100, 1700000300,
                           std::string("auth failed"), 0, std::string(32, '\x7f'), "spool-1", "w1"},
        CompletionRecorded{1700000400, every_byte, "j", INT64_MIN, INT64_MAX, 0, std::nullopt,
                           UINT64_MAX, std::string(32, '\0'), "", ""},
        OccurrenceClosed{1700000500, "r1", "show_run", 1699999200, CloseReason::removed},
        RunRequested{1700000600, "r1", "show_run", 1700003600, "127.0.0.1:40000"},
        LeaseGranted{1700000002, "core-1.dc", "show_run", 1699999200, 1700000302, 1, "worker-dc1",
                     "worker-dc1"},
        // Version 2 (issue 14): who changed the device, and the trigger.
        CompletionRecorded{1700000400, "r1", "show_run", 1699999200, 1700000100, 1700000300,
                           std::nullopt, 7, std::string(32, '\x01'), "spool-2", "w1", "alice, bob",
                           "syslog"},
        RunRequested{1700000600, "r1", "show_run", 1700003600, "syslog 10.0.0.5", "alice",
                     "syslog"},
    };
}

}  // namespace

TEST_CASE("crc32c matches the published check value") {
    CHECK(crc32c("123456789") == 0xe3069283u);
    CHECK(crc32c("") == 0u);
    // Incremental use gives the same result as one call.
    CHECK(crc32c("56789", crc32c("1234")) == 0xe3069283u);
}

TEST_CASE("every event type round-trips through the record encoding") {
    std::uint64_t seq = 1;
    for (const Event& e : sample_events()) {
        CAPTURE(event_type_name(type_of(e)));
        std::string record = event_format::encode(e);
        auto decoded = event_format::decode(seq++, record);
        REQUIRE_MESSAGE(decoded.is_ok(), decoded.status().to_string());
        CHECK(*decoded == e);
    }
}

// LeaseGranted version 1 (before tokens) had no holder: such records still decode.
TEST_CASE("a version 1 LeaseGranted decodes with an empty holder") {
    const LeaseGranted lease{1700000001, "r1", "show_run", 1699999200,
                             1700000301, 2,    "10.0.0.7", ""};
    std::string v2 = event_format::encode(lease);
    REQUIRE(v2[1] == 2);
    // Version 1's payload is version 2's without the holder (here one byte: length 0).
    const std::size_t header = event_format::k_header_size;
    const std::uint32_t len = std::uint32_t(v2.size() - header - event_format::k_trailer_size - 1);
    std::string v1 = v2.substr(0, 1);
    v1 += '\x01';
    v1 += '\x00';
    for (int i = 0; i < 4; ++i) v1.push_back(char((len >> (8 * i)) & 0xff));
    v1 += v2.substr(header, len);
    const std::uint32_t crc = crc32c(v1);
    for (int i = 0; i < 4; ++i) v1.push_back(char((crc >> (8 * i)) & 0xff));
    auto decoded = event_format::decode(7, v1);
    REQUIRE_MESSAGE(decoded.is_ok(), decoded.status().to_string());
    CHECK(*decoded == Event{lease});
    // Version 3 is from the future.
    std::string v3 = v2.substr(0, v2.size() - event_format::k_trailer_size);
    v3[1] = 3;
    const std::uint32_t crc3 = crc32c(v3);
    for (int i = 0; i < 4; ++i) v3.push_back(char((crc3 >> (8 * i)) & 0xff));
    CHECK(event_format::decode(8, v3).status().code() == Status::Code::not_supported);
}

TEST_CASE("keys sort in sequence order and round-trip") {
    CHECK(event_format::encode_key(1) < event_format::encode_key(2));
    CHECK(event_format::encode_key(255) < event_format::encode_key(256));
    CHECK(event_format::encode_key(0x00ffffffffffffffULL) <
          event_format::encode_key(0x0100000000000000ULL));
    auto seq = event_format::decode_key(event_format::encode_key(0x0102030405060708ULL));
    REQUIRE(seq.is_ok());
    CHECK(*seq == 0x0102030405060708ULL);
    CHECK(event_format::decode_key("short").status().code() == Status::Code::corruption);
}

TEST_CASE("a truncated record is Corruption naming its sequence number") {
    std::string record = event_format::encode(sample_events()[1]);
    for (std::size_t len = 0; len < record.size(); ++len) {
        auto r = event_format::decode(77, std::string_view(record).substr(0, len));
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().code() == Status::Code::corruption);
        CHECK(r.status().message().find("seq 77") != std::string::npos);
    }
}

TEST_CASE("a flipped bit anywhere in a record is detected") {
    std::string record = event_format::encode(sample_events()[3]);
    for (std::size_t i = 0; i < record.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string bad = record;
            bad[i] = char(bad[i] ^ (1 << bit));
            auto r = event_format::decode(9, bad);
            REQUIRE_FALSE(r.is_ok());
            CHECK(r.status().message().find("seq 9") != std::string::npos);
        }
    }
}

namespace {
// Recomputes the checksum of an edited record, so the decoder sees a valid record
// with the edited content (as a newer netkeep, or a buggy one, would have written).
std::string reseal(std::string record) {
    record.resize(record.size() - event_format::k_trailer_size);
    std::uint32_t crc = crc32c(record);
    for (int i = 0; i < 4; ++i) record.push_back(char((crc >> (8 * i)) & 0xff));
    return record;
}

std::string with_header(std::string record, unsigned char type, std::uint16_t version) {
    record[0] = char(type);
    record[1] = char(version & 0xff);
    record[2] = char(version >> 8);
    return reseal(std::move(record));
}
}  // namespace

TEST_CASE("an unknown type or newer schema version is refused, never skipped") {
    std::string record = event_format::encode(sample_events()[2]);

    auto unknown = event_format::decode(12, with_header(record, 200, 1));
    REQUIRE_FALSE(unknown.is_ok());
    CHECK(unknown.status().code() == Status::Code::not_supported);
    CHECK(unknown.status().message().find("seq 12") != std::string::npos);

    auto newer = event_format::decode(13, with_header(record, record[0], 2));
    REQUIRE_FALSE(newer.is_ok());
    CHECK(newer.status().code() == Status::Code::not_supported);
    CHECK(newer.status().message().find("seq 13") != std::string::npos);
}

TEST_CASE("a payload that lies about its strings is Corruption, not a crash") {
    // A LeaseExpired whose device string claims to be longer than the payload.
    std::string record = event_format::encode(LeaseExpired{1, "abc", "d", 2});
    record[event_format::k_header_size + 1] = char(100);  // after the 1-byte varint for `at`
    auto r = event_format::decode(5, reseal(record));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Status::Code::corruption);
}

TEST_CASE("RunRequested is type 6, named, and its record starts with that byte") {
    // Stable on disk: a log written with run-now requests must read the same forever.
    RunRequested e{1700000600, "r1", "show_run", 1700003600, "10.0.0.9:5555"};
    CHECK(type_of(Event{e}) == EventType::run_requested);
    CHECK(int(EventType::run_requested) == 6);
    CHECK(event_type_name(EventType::run_requested) == "RunRequested");
    CHECK(event_type_from_name("RunRequested") == EventType::run_requested);
    std::string record = event_format::encode(e);
    CHECK(record[0] == 6);
    auto decoded = event_format::decode(7, record);
    REQUIRE(decoded.is_ok());
    CHECK(std::get<RunRequested>(*decoded) == e);
}

// The bytes of the sample events as the encoder wrote them when this test was added:
// records are kept forever, so a refactoring of the encoder must never change them
// (a schema change bumps the version and adds a line here instead).
TEST_CASE("records are byte for byte those of earlier builds") {
    const std::vector<std::string> golden = {
        "0101002000000080c49fd50c0e7b2264657669636573223a5b5d7d0b7b226a6f6273223a"
        "5b5d7d8e25f0ff",
        "0202003300000082c49fd50c09636f72652d312e64630873686f775f72756ec0b79fd50c"
        "dac89fd50c020e3132372e302e302e313a35303030006f268f7a",
        "03010006000000090161016200afb70878",
        "0402005c000000a0ca9fd50c0272310873686f775f72756ec0b79fd50cc8c59fd50cd8c8"
        "9fd50c010b61757468206661696c656400207f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f"
        "7f7f7f7f7f7f7f7f7f7f7f7f7f7f0773706f6f6c2d310277310000e15e2b10",
        "0402004e010000a0ca9fd50c8002000102030405060708090a0b0c0d0e0f101112131415"
        "161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233343536373839"
        "3a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d"
        "5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f8081"
        "82838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5"
        "a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9"
        "cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebeced"
        "eeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff016affffffffffffffffff01feffffffffff"
        "ffffff010000ffffffffffffffffff012000000000000000000000000000000000000000"
        "00000000000000000000000000000000009708840a",
        "05010017000000e8cb9fd50c0272310873686f775f72756ec0b79fd50c036695272f",
        "06020028000000b0cd9fd50c0272310873686f775f72756ea0fc9fd50c0f3132372e302e"
        "302e313a343030303000006b7f20ee",
        "0202003900000084c49fd50c09636f72652d312e64630873686f775f72756ec0b79fd50c"
        "dcc89fd50c010a776f726b65722d6463310a776f726b65722d6463311bc1dc60",
        "04020060000000a0ca9fd50c0272310873686f775f72756ec0b79fd50cc8c59fd50cd8c8"
        "9fd50c00072001010101010101010101010101010101010101010101010101010101010101"
        "010773706f6f6c2d320277310a616c6963652c20626f62067379736c6f676086895f",
        "06020033000000b0cd9fd50c0272310873686f775f72756ea0fc9fd50c0f7379736c6f67"
        "2031302e302e302e3505616c696365067379736c6f67481d2db6",
    };
    auto events = sample_events();
    REQUIRE(events.size() == golden.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        CAPTURE(i);
        CHECK(to_hex(event_format::encode(events[i])) == golden[i]);
    }
}

namespace {
// The highest `since` among an event's fields in netkeep/event_schema.hpp.
struct NewestField {
    std::uint16_t since = 0;
    template <field::Kind K, typename T>
    void operator()(field::Descriptor<K> f, const T&) {
        since = std::max(since, f.since);
    }
};
}  // namespace

TEST_CASE("no field of the schema is newer than the version its event type writes") {
    // A field with since > current_version() would be written but skipped on reading.
    for (const Event& e : sample_events()) {
        CAPTURE(event_type_name(type_of(e)));
        NewestField newest;
        visit_fields(e, newest);
        CHECK(newest.since >= 1);
        CHECK(newest.since <= event_format::current_version(type_of(e)));
    }
}

// CompletionRecorded and RunRequested version 1 (before issue 14) had no changed_by and
// trigger: the records earlier builds wrote (the golden bytes of those builds) still
// decode, with both empty, and re-encode as version 2.
TEST_CASE("version 1 CompletionRecorded and RunRequested records decode with empty who/why") {
    const std::string completion_v1 =
        "0401005a000000a0ca9fd50c0272310873686f775f72756ec0b79fd50cc8c59fd50cd8c8"
        "9fd50c010b61757468206661696c656400207f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f"
        "7f7f7f7f7f7f7f7f7f7f7f7f7f7f0773706f6f6c2d3102773190dcbd2f";
    const std::string run_v1 =
        "06010026000000b0cd9fd50c0272310873686f775f72756ea0fc9fd50c0f3132372e302e"
        "302e313a3430303030cdb2c3ba";
    auto from_hex = [](const std::string& hex) {
        std::string out;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
            out.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
        return out;
    };
    auto completion = event_format::decode(4, from_hex(completion_v1));
    REQUIRE_MESSAGE(completion.is_ok(), completion.status().to_string());
    CHECK(*completion == sample_events()[3]);
    CHECK(std::get<CompletionRecorded>(*completion).changed_by.empty());
    CHECK(std::get<CompletionRecorded>(*completion).trigger.empty());
    auto run = event_format::decode(6, from_hex(run_v1));
    REQUIRE_MESSAGE(run.is_ok(), run.status().to_string());
    CHECK(*run == sample_events()[6]);
    CHECK(std::get<RunRequested>(*run).changed_by.empty());
    // Re-encoded, they are version 2 records.
    CHECK(event_format::encode(*run)[1] == 2);
    // Version 3 is from the future.
    std::string v3 = event_format::encode(sample_events()[9]);
    v3[1] = 3;
    v3.resize(v3.size() - event_format::k_trailer_size);
    const std::uint32_t crc = crc32c(v3);
    for (int i = 0; i < 4; ++i) v3.push_back(char((crc >> (8 * i)) & 0xff));
    CHECK(event_format::decode(9, v3).status().code() == Status::Code::not_supported);
}
