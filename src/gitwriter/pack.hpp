#pragma once
// Writing one batch's objects as a git pack (.pack and .idx, version 2) without libgit2's
// pack builder and indexer (docs/git.md#performance). The writer knows each object's id
// already (libgit2 hashed it into the batch), and knows which of them are successive
// versions of one tree, so it needs neither the builder's delta search nor the indexer's
// second inflate-and-hash pass, which were most of netkeepd's CPU per completion:
// - every object is deflated once and written whole, except
// - a tree with an earlier version of the same path in the pack, written as an OFS_DELTA
//   against it: one copy of the common prefix, the changed bytes, one copy of the common
//   suffix (a commit changes one entry of each tree along its path, so this is small).
// Pure apart from the files: no libgit2 here; the delta and the formats are unit tested
// against git itself (tests/unit/gitwriter/pack_test.cpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// git's object types, as a pack numbers them.
enum class PackType : std::uint8_t { commit = 1, tree = 2, blob = 3, tag = 4 };

// A git delta (the format of pack OFS_DELTA/REF_DELTA data) that rebuilds `target` from
// `base`: copy of the common prefix, insert of the rest, copy of the common suffix.
std::string prefix_suffix_delta(std::string_view base, std::string_view target);

// A pack being built in memory, object by object, then written with its index.
class PackWriter {
public:
    // Deltas are chained at most this deep (git's own default for pack.depth).
    static constexpr int k_max_depth = 50;

    PackWriter();

    // Adds an object whole. `id` is its 20-byte SHA-1 (the caller computed it). Returns
    // the object's position, usable as a delta base for later objects.
    std::size_t add(const unsigned char* id, PackType type, std::string_view data);
    // Adds an object as a delta against an earlier one (position from add/add_delta) when
    // that is smaller than the object whole; whole otherwise. `base_data` is the base's
    // content. Returns the object's position.
    std::size_t add_delta(const unsigned char* id, PackType type, std::string_view data,
                          std::size_t base, std::string_view base_data);
    // How many deltas deep the object at `position` is (0: written whole).
    int depth(std::size_t position) const { return entries_[position].depth; }
    std::size_t size() const { return entries_.size(); }

    // Writes pack-<checksum>.pack, then its .idx, into pack_dir, each durably (temporary
    // name, fsync, rename, fsync of pack_dir): a reader sees the pack only once its index
    // is there, and both are on disk by then. Returns the pack's name (the checksum, hex).
    // `after_pack` (may be empty) runs between the two (tests stage a crash there).
    Result<std::string> write(const std::string& pack_dir,
                              const std::function<void()>& after_pack = {});

private:
    struct Entry {
        unsigned char id[20];
        std::uint64_t offset = 0;
        std::uint32_t crc = 0;
        int depth = 0;
    };
    std::size_t append(const unsigned char* id, std::uint8_t type, std::uint64_t size,
                       std::string_view header_extra, std::string_view data, int depth);
    std::string index(const unsigned char* pack_checksum) const;

    std::string pack_;  // header, then the objects; the count is filled in by write()
    std::vector<Entry> entries_;
    std::unique_ptr<unsigned char[]> scratch_;  // deflate's output, reused
    std::size_t scratch_size_ = 0;
};

}  // namespace netkeep::gitwriter
