// Archive segments (docs/retention.md "Segment format") and reading the log's whole
// history through them.
//
// A segment is trusted no further than its checks: the header's own CRC, then sizes
// against fixed bounds and the file's size, then the CRC of the compressed bytes, the
// decompressed size and its CRC, then each record's own CRC and the seqs the name gives.
// Memory is bounded by k_archive_max_raw_bytes whatever the file says.

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <zstd.h>

#include "archive_format.hpp"
#include "core/crc32c.hpp"
#include "core/event_format.hpp"
#include "core/little_endian.hpp"
#include "netkeep/durable.hpp"

namespace netkeep {

namespace {

namespace fs = std::filesystem;
using store::k_archive_header_size;

constexpr std::string_view k_prefix = "events-";
constexpr std::string_view k_suffix = ".nka";
constexpr std::size_t k_digits = 20;
// The smallest record: its u32 length, then an empty payload's header and CRC.
constexpr std::uint64_t k_min_record =
    4 + event_format::k_header_size + event_format::k_trailer_size;

struct Header {
    std::uint32_t version = 0;
    std::uint32_t codec = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t raw_bytes = 0;
    std::uint64_t stored_bytes = 0;
    std::uint32_t stored_crc = 0;
    std::uint32_t raw_crc = 0;
};

std::string encode_header(const Header& h) {
    std::string out(store::k_archive_magic, sizeof store::k_archive_magic);
    put_le(out, h.version, 4);
    put_le(out, h.codec, 4);
    put_le(out, h.first_seq, 8);
    put_le(out, h.last_seq, 8);
    put_le(out, h.raw_bytes, 8);
    put_le(out, h.stored_bytes, 8);
    put_le(out, h.stored_crc, 4);
    put_le(out, h.raw_crc, 4);
    put_le(out, 0, 4);  // reserved
    put_le(out, crc32c(out), 4);
    return out;
}

Status damaged(const std::string& path, std::string_view why) {
    return Status::corruption(fmt::format("archive segment {}: {}", path, why));
}

// The header's checks that need no payload: magic, CRC, version, codec, bounds.
Result<Header> decode_header(const std::string& path, std::string_view in,
                             std::uint64_t file_size) {
    if (in.size() < k_archive_header_size) return damaged(path, "shorter than its header");
    if (std::memcmp(in.data(), store::k_archive_magic, sizeof store::k_archive_magic) != 0)
        return damaged(path, "not an archive segment (bad magic)");
    if (get_le(in, 60, 4) != crc32c(in.substr(0, 60))) return damaged(path, "header checksum");
    Header h;
    h.version = static_cast<std::uint32_t>(get_le(in, 8, 4));
    h.codec = static_cast<std::uint32_t>(get_le(in, 12, 4));
    h.first_seq = get_le(in, 16, 8);
    h.last_seq = get_le(in, 24, 8);
    h.raw_bytes = get_le(in, 32, 8);
    h.stored_bytes = get_le(in, 40, 8);
    h.stored_crc = static_cast<std::uint32_t>(get_le(in, 48, 4));
    h.raw_crc = static_cast<std::uint32_t>(get_le(in, 52, 4));
    if (h.version != store::k_archive_version)
        return damaged(path, fmt::format("format version {} (this build reads {})", h.version,
                                         store::k_archive_version));
    if (h.codec != store::k_archive_codec_zstd)
        return damaged(path, fmt::format("unknown codec {}", h.codec));
    if (h.first_seq == 0 || h.last_seq < h.first_seq) return damaged(path, "bad seq range");
    if (h.raw_bytes > k_archive_max_raw_bytes ||
        h.stored_bytes > ZSTD_compressBound(k_archive_max_raw_bytes))
        return damaged(path, "sizes beyond the format's bounds");
    if ((h.last_seq - h.first_seq + 1) > h.raw_bytes / k_min_record)
        return damaged(path, "more records than its size can hold");
    if (file_size != k_archive_header_size + h.stored_bytes)
        return damaged(path, fmt::format("{} bytes, the header says {}", file_size,
                                         k_archive_header_size + h.stored_bytes));
    return h;
}

Result<std::string> read_payload(const ArchiveSegment& segment, Header& header) {
    std::error_code ec;
    const std::uint64_t size = fs::file_size(segment.path, ec);
    if (ec) return damaged(segment.path, fmt::format("cannot stat: {}", ec.message()));
    std::ifstream in(segment.path, std::ios::binary);
    if (!in) return damaged(segment.path, "cannot open");
    std::string head(k_archive_header_size, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    auto h = decode_header(segment.path, head, size);
    if (!h) return h.status();
    if (h->first_seq != segment.first_seq || h->last_seq != segment.last_seq)
        return damaged(segment.path, "its header's seqs differ from its name's");
    std::string stored(h->stored_bytes, '\0');
    in.read(stored.data(), static_cast<std::streamsize>(stored.size()));
    if (static_cast<std::uint64_t>(in.gcount()) != h->stored_bytes)
        return damaged(segment.path, "truncated");
    if (crc32c(stored) != h->stored_crc) return damaged(segment.path, "payload checksum");
    if (ZSTD_getFrameContentSize(stored.data(), stored.size()) != h->raw_bytes)
        return damaged(segment.path, "compressed frame size differs from the header's");
    std::string raw(h->raw_bytes, '\0');
    const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
    if (ZSTD_isError(n) || n != raw.size())
        return damaged(segment.path,
                       fmt::format("decompression: {}",
                                   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
    if (crc32c(raw) != h->raw_crc) return damaged(segment.path, "content checksum");
    header = *h;
    return raw;
}

std::optional<std::uint64_t> parse_seq(std::string_view digits) {
    std::uint64_t v = 0;
    if (digits.size() != k_digits) return std::nullopt;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return v;
}

}  // namespace

namespace store {

std::string archive_segment_name(std::uint64_t first_seq, std::uint64_t last_seq) {
    return fmt::format("{}{:020}-{:020}{}", k_prefix, first_seq, last_seq, k_suffix);
}

Result<ArchiveSegment> write_archive_segment(const std::string& dir, std::uint64_t first_seq,
                                             const std::vector<std::string>& values, int level) {
    if (values.empty() || first_seq == 0)
        return Status::invalid_argument("an archive segment holds at least one record");
    std::string raw;
    for (const auto& v : values) {
        put_le(raw, static_cast<std::uint32_t>(v.size()), 4);
        raw += v;
    }
    if (raw.size() > k_archive_max_raw_bytes)
        return Status::invalid_argument("archive segment larger than the format's bound");
    std::string stored(ZSTD_compressBound(raw.size()), '\0');
    const std::size_t n =
        ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), level);
    if (ZSTD_isError(n))
        return Status::io_error(
            fmt::format("compressing an archive segment: {}", ZSTD_getErrorName(n)));
    stored.resize(n);
    Header h{k_archive_version, k_archive_codec_zstd, first_seq,      first_seq + values.size() - 1,
             raw.size(),        stored.size(),        crc32c(stored), crc32c(raw)};
    std::string file = encode_header(h);
    file += stored;
    if (Status s = create_directories_durably(dir); !s) return s;
    ArchiveSegment out{(fs::path(dir) / archive_segment_name(h.first_seq, h.last_seq)).string(),
                       h.first_seq, h.last_seq, file.size()};
    if (Status s = write_file_durably(out.path, file); !s) return s;
    return out;
}

}  // namespace store

std::vector<ArchiveSegment> list_archive_segments(const std::string& dir) {
    std::vector<ArchiveSegment> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        // events-<20>-<20>.nka
        if (name.size() != k_prefix.size() + 2 * k_digits + 1 + k_suffix.size() ||
            !name.starts_with(k_prefix) || !name.ends_with(k_suffix) ||
            name[k_prefix.size() + k_digits] != '-')
            continue;
        auto first = parse_seq(std::string_view(name).substr(k_prefix.size(), k_digits));
        auto last =
            parse_seq(std::string_view(name).substr(k_prefix.size() + k_digits + 1, k_digits));
        if (!first || !last || *first == 0 || *last < *first) continue;
        std::error_code size_ec;
        const auto bytes = it->file_size(size_ec);
        out.push_back({it->path().string(), *first, *last, size_ec ? 0 : bytes});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.first_seq != b.first_seq ? a.first_seq < b.first_seq : a.last_seq < b.last_seq;
    });
    return out;
}

Status read_archive_segment(const ArchiveSegment& segment, const EventLog::Visitor& visit) {
    Header h;
    auto raw = read_payload(segment, h);
    if (!raw) return raw.status();
    std::string_view rest = *raw;
    for (std::uint64_t seq = h.first_seq; seq <= h.last_seq; ++seq) {
        if (rest.size() < 4) return damaged(segment.path, fmt::format("seq {}: truncated", seq));
        const std::uint64_t len = get_le(rest, 0, 4);
        if (len > rest.size() - 4)
            return damaged(segment.path, fmt::format("seq {}: record beyond the end", seq));
        auto event = event_format::decode(seq, rest.substr(4, len));
        if (!event) return damaged(segment.path, event.status().to_string());
        rest.remove_prefix(4 + len);
        if (!visit(EventRecord{seq, std::move(*event)})) return Status::ok();
    }
    if (!rest.empty()) return damaged(segment.path, "bytes after its last record");
    return Status::ok();
}

namespace {

// The records [from, end] from the segments: gapless, or Corruption naming what is missing.
// `expected` ends one past the last record visited; `stopped` when visit said so.
Status scan_segments(const std::string& dir, std::uint64_t from, std::uint64_t end,
                     std::uint64_t first_seq, const EventLog::Visitor& visit,
                     std::uint64_t& expected, bool& stopped) {
    expected = from;
    for (const auto& segment : list_archive_segments(dir)) {
        if (expected > end) break;
        if (segment.last_seq < expected) continue;
        if (segment.first_seq > expected) break;
        Status s = read_archive_segment(segment, [&](EventRecord&& r) {
            if (r.seq < expected) return true;
            if (r.seq > end) return false;
            expected = r.seq + 1;
            if (!visit(std::move(r))) stopped = true;
            return !stopped;
        });
        if (!s) return s;
        if (stopped) return Status::ok();
    }
    if (expected <= end)
        return Status::corruption(fmt::format(
            "seq {}: not in the event log (it starts at {}) nor in an archive segment in {}",
            expected, first_seq, dir));
    return Status::ok();
}

}  // namespace

Status scan_with_archive(const EventLog& log, const std::string& archive_dir, std::uint64_t from,
                         std::uint64_t to, const EventLog::Visitor& visit) {
    std::uint64_t expected = std::max<std::uint64_t>(from, 1);
    // Retention may move first_seq on meanwhile: then the log's scan skips from `expected`
    // to the new first_seq (visiting pins), and the segments are read again for the gap.
    for (int round = 0; round < 4; ++round) {
        const std::uint64_t first = log.first_seq();
        if (expected < first && expected <= to) {
            bool stopped = false;
            if (Status s = scan_segments(archive_dir, expected, std::min(to, first - 1), first,
                                         visit, expected, stopped);
                !s || stopped)
                return s;
        }
        if (expected > to) return Status::ok();
        bool jumped = false;
        bool stopped = false;
        Status s = log.scan(expected, to, [&](EventRecord&& r) {
            if (r.seq != expected) {
                jumped = true;  // a pin, then the new first_seq
                return false;
            }
            expected = r.seq + 1;
            stopped = !visit(std::move(r));
            return !stopped;
        });
        if (!s || stopped || !jumped) return s;
    }
    return Status::unavailable("scanning with the archive: retention kept moving first_seq");
}

}  // namespace netkeep
