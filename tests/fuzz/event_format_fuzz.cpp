// Fuzz target: the event record decoder (src/core/event_format), the code that reads the
// log back at every start.
//
// Input: [mode] bytes...
//   mode bit 0 clear: bytes are a record value as stored, decoded as they are (the
//                     checksum guards this path: seeds are real records);
//   mode bit 0 set:   bytes are [type][version u16 LE] payload...; the target frames them
//                     with a correct length and checksum, so the fuzzer reaches the
//                     payload decoder of every type and version.
// Checks (event_format.hpp): errors are Corruption or NotSupported and name the sequence
// number; a decoded event re-encodes to a record that decodes to the same event, and
// encoding that again gives the same bytes; the key codec round trips.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crc32c.hpp"
#include "core/event_format.hpp"
#include "fuzz_support.hpp"

namespace ef = netkeep::event_format;
using netkeep::Status;

namespace {

constexpr std::uint64_t k_seq = 4242;

std::string frame(std::string_view header_and_payload) {
    std::string record(header_and_payload.substr(0, 3));
    const std::string_view payload = header_and_payload.substr(3);
    const auto len = static_cast<std::uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) record.push_back(char((len >> (8 * i)) & 0xff));
    record.append(payload);
    const std::uint32_t crc = netkeep::crc32c(record);
    for (int i = 0; i < 4; ++i) record.push_back(char((crc >> (8 * i)) & 0xff));
    return record;
}

void check_record(std::string_view record) {
    auto decoded = ef::decode(k_seq, record);
    if (!decoded) {
        const auto code = decoded.status().code();
        FUZZ_CHECK(code == Status::Code::corruption || code == Status::Code::not_supported);
        FUZZ_CHECK(decoded.status().message().find("4242") != std::string::npos);
        return;
    }
    // The type byte names the event decoded.
    FUZZ_CHECK(static_cast<std::uint8_t>(netkeep::type_of(*decoded)) ==
               static_cast<std::uint8_t>(record[0]));
    const std::string encoded = ef::encode(*decoded);
    auto round = ef::decode(k_seq + 1, encoded);
    FUZZ_CHECK(round.is_ok());
    FUZZ_CHECK(*round == *decoded);
    FUZZ_CHECK(ef::encode(*round) == encoded);
    // Re-encoding upgrades an old record (LeaseGranted 1 gains an empty holder): what is
    // written is always the current version.
    const auto version = std::uint16_t(std::uint8_t(encoded[1]) | std::uint8_t(encoded[2]) << 8);
    FUZZ_CHECK(version == ef::current_version(netkeep::type_of(*decoded)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view bytes = netkeep::fuzz::as_text(data + 1, size - 1);

    if (bytes.size() >= 8) {
        std::uint64_t seq = 0;
        for (int i = 0; i < 8; ++i) seq = seq << 8 | std::uint8_t(bytes[i]);
        auto key = ef::encode_key(seq);
        FUZZ_CHECK(key.size() == ef::k_key_size);
        FUZZ_CHECK(key == bytes.substr(0, 8));  // big-endian: the key is those bytes
        auto back = ef::decode_key(key);
        FUZZ_CHECK(back.is_ok() && *back == seq);
    }
    auto key = ef::decode_key(bytes);
    FUZZ_CHECK(key.is_ok() == (bytes.size() == ef::k_key_size));

    if (data[0] & 1) {
        if (bytes.size() < 3) return 0;
        check_record(frame(bytes));
    } else {
        check_record(bytes);
    }
    return 0;
}
