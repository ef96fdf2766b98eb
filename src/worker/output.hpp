#pragma once
// A job's output on its way to POST /worker/complete: kept in memory up to a threshold,
// then moved to an unlinked temp file, so a 20 MiB config costs 20 MiB of disk, not of
// memory, and the file vanishes with the process whatever happens.
//
// Threads: one buffer per job, used by one thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"
#include "util/posix.hpp"

namespace netkeep::worker {

class OutputBuffer {
public:
    static constexpr std::size_t k_default_memory = 1024 * 1024;

    explicit OutputBuffer(std::size_t memory_limit = k_default_memory);
    OutputBuffer(const OutputBuffer&) = delete;
    OutputBuffer& operator=(const OutputBuffer&) = delete;
    ~OutputBuffer();

    Status write(std::string_view bytes);
    std::uint64_t size() const { return size_; }
    bool spilled() const { return fd_.get() >= 0; }
    // Calls `piece` with the content in order, in pieces of at most 64 KiB.
    Status read_all(const std::function<Status(std::string_view)>& piece) const;
    // Forgets the content (a failed job posts no output).
    void clear();

private:
    Status spill();
    Status flush();

    std::size_t memory_limit_;
    std::string memory_;  // the content, or while spilled the bytes not written yet
    UniqueFd fd_;         // the temp file once spilled
    std::uint64_t size_ = 0;
};

}  // namespace netkeep::worker
