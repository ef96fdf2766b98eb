// A batch's objects as one git pack (gitwriter/pack.hpp). Formats: git's
// Documentation/gitformat-pack.txt (pack and idx version 2, OFS_DELTA, the delta
// instructions).

#include "gitwriter/pack.hpp"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "netkeep/durable.hpp"

namespace netkeep::gitwriter {

namespace {

// Fast deflate: a pack's objects are deflated once, here, on the writer's thread, and
// `git gc` recompresses what it repacks anyway. Level 1 costs about a third of the
// default level's CPU for config text (measured: docs/git.md#performance).
constexpr int k_level = Z_BEST_SPEED;
constexpr std::uint8_t k_ofs_delta = 6;
constexpr std::size_t k_id_size = 20;

void put_be32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += char((v >> shift) & 0xff);
}

// Little-endian base-128 (the delta header's sizes).
void put_varint(std::string& out, std::uint64_t v) {
    do {
        std::uint8_t b = v & 0x7f;
        v >>= 7;
        if (v) b |= 0x80;
        out += char(b);
    } while (v);
}

// Copy instructions of at most 0xffff bytes each (git's own encoder stays at 64 KiB).
void put_copy(std::string& out, std::uint64_t offset, std::uint64_t length) {
    while (length > 0) {
        const std::uint64_t n = std::min<std::uint64_t>(length, 0xffff);
        std::string args;
        std::uint8_t op = 0x80;
        for (int i = 0; i < 4; ++i)
            if (const std::uint8_t b = (offset >> (8 * i)) & 0xff) {
                op |= std::uint8_t(1 << i);
                args += char(b);
            }
        for (int i = 0; i < 2; ++i)
            if (const std::uint8_t b = (n >> (8 * i)) & 0xff) {
                op |= std::uint8_t(0x10 << i);
                args += char(b);
            }
        out += char(op);
        out += args;
        offset += n;
        length -= n;
    }
}

void put_insert(std::string& out, std::string_view data) {
    while (!data.empty()) {
        const std::size_t n = std::min<std::size_t>(data.size(), 127);
        out += char(n);
        out.append(data.substr(0, n));
        data.remove_prefix(n);
    }
}

// The type-and-size header of a pack entry.
void put_entry_header(std::string& out, std::uint8_t type, std::uint64_t size) {
    std::uint8_t c = std::uint8_t((type << 4) | (size & 15));
    size >>= 4;
    while (size) {
        out += char(c | 0x80);
        c = size & 0x7f;
        size >>= 7;
    }
    out += char(c);
}

// OFS_DELTA's distance back to its base (git's "offset encoding", not put_varint).
std::string ofs_encoding(std::uint64_t distance) {
    unsigned char buf[16];
    std::size_t pos = sizeof buf - 1;
    buf[pos] = distance & 127;
    while (distance >>= 7) buf[--pos] = std::uint8_t(128 | (--distance & 127));
    return std::string(reinterpret_cast<const char*>(buf + pos), sizeof buf - pos);
}

std::array<unsigned char, k_id_size> sha1_of(std::string_view data) {
    std::array<unsigned char, k_id_size> out{};
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha1(), nullptr) != 1 ||
        n != k_id_size)
        throw std::runtime_error("EVP_Digest(sha1) failed");
    return out;
}

std::string hex(const unsigned char* bytes, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
    return out;
}

}  // namespace

std::string prefix_suffix_delta(std::string_view base, std::string_view target) {
    const std::size_t common = std::min(base.size(), target.size());
    std::size_t prefix = 0;
    while (prefix < common && base[prefix] == target[prefix]) ++prefix;
    std::size_t suffix = 0;
    while (suffix < common - prefix &&
           base[base.size() - 1 - suffix] == target[target.size() - 1 - suffix])
        ++suffix;
    std::string delta;
    put_varint(delta, base.size());
    put_varint(delta, target.size());
    put_copy(delta, 0, prefix);
    put_insert(delta, target.substr(prefix, target.size() - prefix - suffix));
    put_copy(delta, base.size() - suffix, suffix);
    return delta;
}

PackWriter::PackWriter() {
    pack_ = "PACK";
    put_be32(pack_, 2);
    put_be32(pack_, 0);  // the count: write() fills it in
}

std::size_t PackWriter::append(const unsigned char* id, std::uint8_t type, std::uint64_t size,
                               std::string_view header_extra, std::string_view data, int depth) {
    Entry e;
    std::memcpy(e.id, id, k_id_size);
    e.offset = pack_.size();
    e.depth = depth;
    put_entry_header(pack_, type, size);
    pack_ += header_extra;
    uLongf bound = compressBound(uLong(data.size()));
    // Deflated into a scratch buffer that is reused and never cleared (resizing pack_ by
    // the bound zero-filled it first: 6 % of the writer's CPU).
    if (scratch_size_ < bound) {
        scratch_ = std::make_unique_for_overwrite<unsigned char[]>(bound);
        scratch_size_ = bound;
    }
    if (compress2(scratch_.get(), &bound, reinterpret_cast<const Bytef*>(data.data()),
                  uLong(data.size()), k_level) != Z_OK)
        throw std::bad_alloc();  // Z_MEM_ERROR; the buffer is large enough by construction
    pack_.append(reinterpret_cast<const char*>(scratch_.get()), bound);
    e.crc = std::uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(pack_.data() + e.offset),
                                uInt(pack_.size() - e.offset)));
    entries_.push_back(e);
    return entries_.size() - 1;
}

std::size_t PackWriter::add(const unsigned char* id, PackType type, std::string_view data) {
    return append(id, std::uint8_t(type), data.size(), {}, data, 0);
}

std::size_t PackWriter::add_delta(const unsigned char* id, PackType type, std::string_view data,
                                  std::size_t base, std::string_view base_data) {
    const Entry& b = entries_.at(base);
    if (b.depth >= k_max_depth) return add(id, type, data);
    std::string delta = prefix_suffix_delta(base_data, data);
    if (delta.size() >= data.size() / 2) return add(id, type, data);
    const std::uint64_t here = pack_.size();
    return append(id, k_ofs_delta, delta.size(), ofs_encoding(here - b.offset), delta, b.depth + 1);
}

// The .idx (version 2): fan-out, sorted ids, CRCs, offsets, the pack's and its own checksum.
std::string PackWriter::index(const unsigned char* pack_checksum) const {
    std::vector<const Entry*> sorted;
    sorted.reserve(entries_.size());
    for (const Entry& e : entries_) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
        return std::memcmp(a->id, b->id, k_id_size) < 0;
    });
    std::string idx = "\377tOc";
    put_be32(idx, 2);
    std::size_t at = 0;
    for (int byte = 0; byte < 256; ++byte) {
        while (at < sorted.size() && sorted[at]->id[0] <= byte) ++at;
        put_be32(idx, std::uint32_t(at));
    }
    for (const Entry* e : sorted) idx.append(reinterpret_cast<const char*>(e->id), k_id_size);
    for (const Entry* e : sorted) put_be32(idx, e->crc);
    for (const Entry* e : sorted) put_be32(idx, std::uint32_t(e->offset));  // < 2 GiB: checked
    idx.append(reinterpret_cast<const char*>(pack_checksum), k_id_size);
    auto own = sha1_of(idx);
    idx.append(reinterpret_cast<const char*>(own.data()), own.size());
    return idx;
}

Result<std::string> PackWriter::write(const std::string& pack_dir,
                                      const std::function<void()>& after_pack) {
    if (pack_.size() >= (std::uint64_t(1) << 31))
        return Status::invalid_argument("a batch's pack must stay below 2 GiB");
    const std::uint32_t count = std::uint32_t(entries_.size());
    for (int i = 0; i < 4; ++i) pack_[8 + i] = char((count >> (24 - 8 * i)) & 0xff);
    auto checksum = sha1_of(pack_);
    pack_.append(reinterpret_cast<const char*>(checksum.data()), checksum.size());
    const std::string name = hex(checksum.data(), checksum.size());
    const std::string base = fmt::format("{}/pack-{}", pack_dir, name);
    const DurableFileOptions read_only{.mode = 0444, .keep_owner = false};
    // The pack first: the index is what makes it visible to readers (git and libgit2).
    if (Status s = write_file_durably(base + ".pack", pack_, read_only); !s) return s;
    if (after_pack) after_pack();
    if (Status s = write_file_durably(base + ".idx", index(checksum.data()), read_only); !s)
        return s;
    return name;
}

}  // namespace netkeep::gitwriter
