#pragma once
// What every fuzz target shares: the invariant check and the way inputs are cut into the
// chunks a network peer would send.
//
// A target is built twice: with libFuzzer (meson -Dfuzz=true, clang) and, in every build,
// with replay_main.cpp, which runs it over its committed corpus and past crash inputs.
// FUZZ_CHECK therefore aborts in both: libFuzzer saves the input as a crash artifact, the
// replay test fails and names the broken invariant.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) ::netkeep::fuzz::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)

namespace netkeep::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", what, file, line);
    std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Cuts a byte string into chunks whose sizes follow from a one-byte seed taken from the
// input: seed 0 feeds byte by byte (every split position at once), other seeds give
// pseudo-random sizes up to a seed-dependent maximum, so one input is tried under up to 256
// cuttings. Deterministic: the same input always cuts the same way, which a crash replay
// needs.
class Chunker {
public:
    Chunker(std::string_view data, std::uint8_t seed)
        : data_(data), state_(0x9e3779b97f4a7c15ull ^ (seed * 0x100000001b3ull)) {
        max_ = seed == 0 ? 1 : (seed % 4 == 0 ? 4096 : 1 + seed % 61);
    }

    bool done() const { return data_.empty(); }

    std::string_view next() {
        std::size_t n = max_ == 1 ? 1 : 1 + static_cast<std::size_t>(random() % max_);
        if (n > data_.size()) n = data_.size();
        std::string_view piece = data_.substr(0, n);
        data_.remove_prefix(n);
        return piece;
    }

private:
    std::uint64_t random() {  // xorshift64*
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545f4914f6cdd1dull;
    }

    std::string_view data_;
    std::uint64_t state_;
    std::size_t max_;
};

}  // namespace netkeep::fuzz
