#pragma once
// bench-complete (b): the git writer against `git fast-import` (bench_git_writer.cpp).

#include <cstddef>
#include <filesystem>

namespace netkeep::bench {

struct GitWriterBenchOptions {
    std::size_t files = 10'000;   // files already in the repository
    std::size_t commits = 2'000;  // commits made by each side
};

void bench_git_writer(const std::filesystem::path& work, const GitWriterBenchOptions& options);

}  // namespace netkeep::bench
