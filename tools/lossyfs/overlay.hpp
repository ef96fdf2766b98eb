#pragma once
// The unsynced contents of one file in lossyfs: what the disk cache of a real drive holds
// between a write and the fsync that makes it durable.
//
// The backing file holds only synced data. An overlay sits on top of it: dirty pages
// (4 KiB, whole pages, so a page read-modify-write needs no extent arithmetic), the
// logical size, and how much of the backing file is still current (`valid_`: a truncate
// below the backing size makes the rest stale, even if the file grows again before the
// next sync). Reads combine the three; flush_to() writes the overlay into the backing
// file, after which the overlay is discarded; dropping it is a power cut for this file.
//
// Pure apart from pread/pwrite/ftruncate on the descriptor it is given, so the unit
// tests drive it over a temporary file. Not thread-safe: lossyfs runs single-threaded.

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

namespace lossyfs {

inline constexpr std::uint64_t k_page_size = 4096;

class Overlay {
public:
    // A file whose backing copy has `backing_size` bytes, all of them current.
    explicit Overlay(std::uint64_t backing_size) : size_(backing_size), valid_(backing_size) {}

    std::uint64_t size() const { return size_; }
    // Bytes held in dirty pages (what a cut loses, beyond truncates).
    std::uint64_t dirty_bytes() const { return pages_.size() * k_page_size; }
    // Whether anything differs from the backing file as it was when the overlay began.
    bool changed() const { return !pages_.empty() || size_ != valid_ || truncated_; }

    // Reads up to `len` bytes at `offset` (fewer at the end of the file): dirty pages from
    // memory, the rest from `fd` up to valid_, zeros beyond. -errno on a backing error.
    ssize_t read(int fd, char* out, std::size_t len, std::uint64_t offset) const;
    // Writes into dirty pages; a page touched for the first time is loaded from `fd`.
    ssize_t write(int fd, const char* data, std::size_t len, std::uint64_t offset);
    void truncate(std::uint64_t size);

    // Makes the backing file `fd` hold exactly the logical contents: first cut it to the
    // part still current, then write the dirty pages, then set the size. 0 or -errno.
    int flush_to(int fd) const;

private:
    using Page = std::array<char, k_page_size>;
    // Fills `out` with backing bytes [offset, offset+len) that are still current, zeros
    // for the rest.
    int read_backing(int fd, char* out, std::size_t len, std::uint64_t offset) const;
    Page& page_for_write(int fd, std::uint64_t index, int& error);

    std::uint64_t size_;
    std::uint64_t valid_;     // backing bytes [0, valid_) are current; valid_ <= size_
    bool truncated_ = false;  // a truncate happened (even one that the size later hides)
    std::map<std::uint64_t, std::unique_ptr<Page>> pages_;
};

}  // namespace lossyfs
