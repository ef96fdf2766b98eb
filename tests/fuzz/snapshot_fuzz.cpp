// Fuzz target: the snapshot decoder (src/snapshot, docs/snapshots.md), which reads files
// from disk at every start and must refuse, never trust or crash on, a damaged one.
//
// Input: [mode] bytes...
//   mode bit 0 clear: bytes are a snapshot file, decoded as they are (the checksums guard
//                     this path: seeds are real snapshots);
//   mode bit 0 set:   bytes are a raw body; the target puts it in a file with a correct
//                     header (zstd, sizes, checksums; task count = mode >> 1), so the
//                     fuzzer reaches the body decoder.
// Checks: errors are Corruption or NotSupported (or InvalidArgument from the projection);
// a decoded snapshot re-encodes to a file that decodes to the same bytes again.

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crc32c.hpp"
#include "fuzz_support.hpp"
#include "netkeep/snapshot.hpp"

using netkeep::Status;

namespace {

void put_le(std::string& s, std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s[at + i] = char((v >> (8 * i)) & 0xff);
}

std::string frame(std::string_view raw, std::uint64_t tasks) {
    std::string file = netkeep::encode_snapshot(netkeep::Projection(), 0);
    file.resize(80);
    std::string stored(ZSTD_compressBound(raw.size()), '\0');
    stored.resize(ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), 1));
    file += stored;
    put_le(file, 32, tasks, 8);
    put_le(file, 40, tasks ? 1 : 0, 8);
    put_le(file, 56, raw.size(), 8);
    put_le(file, 64, stored.size(), 8);
    put_le(file, 72, netkeep::crc32c(stored), 4);
    put_le(file, 76, netkeep::crc32c(std::string_view(file).substr(0, 76)), 4);
    return file;
}

void check_file(std::string_view file) {
    netkeep::SnapshotHeader header;
    auto decoded = netkeep::decode_snapshot(file, &header);
    if (!decoded) {
        const auto code = decoded.status().code();
        FUZZ_CHECK(code == Status::Code::corruption || code == Status::Code::not_supported ||
                   code == Status::Code::invalid_argument);
        return;
    }
    FUZZ_CHECK(decoded->last_seq() == header.seq);
    const std::string again = netkeep::encode_snapshot(*decoded, header.at, header.event_check);
    auto round = netkeep::decode_snapshot(again);
    FUZZ_CHECK(round.is_ok());
    FUZZ_CHECK(netkeep::encode_snapshot(*round, header.at, header.event_check) == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view bytes = netkeep::fuzz::as_text(data + 1, size - 1);
    if (data[0] & 1)
        check_file(frame(bytes, data[0] >> 1));
    else
        check_file(bytes);
    return 0;
}
