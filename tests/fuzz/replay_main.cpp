// Runs a fuzz target over files, without libFuzzer: the normal (gcc) build links each
// target with this main and registers it as a test, so every seed and every past crash
// input is replayed on every test run, and a fixed bug that comes back fails the suite.
//
//   <target>_replay [--optional] DIR_OR_FILE...
//
// Directories are read recursively, files in name order so runs are reproducible. A run
// that finds no input at all fails: a wrong path must not pass as "nothing to replay".
// --optional: the next path may not exist (regressions/<target>/ before the target's
// first crash); it is read at run time, so a new crash input needs no meson reconfigure.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

bool collect(const fs::path& path, std::vector<fs::path>& files) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        files.push_back(path);
        return true;
    }
    if (!fs::is_directory(path, ec)) {
        std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", path.c_str());
        return false;
    }
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        // README files describe a corpus; they are not inputs.
        if (it->is_regular_file() && it->path().filename() != "README.md")
            files.push_back(it->path());
    }
    if (ec) {
        std::fprintf(stderr, "replay: cannot read %s: %s\n", path.c_str(), ec.message().c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--optional") {
            std::error_code ec;
            if (++i < argc && !fs::exists(argv[i], ec)) continue;
            if (i == argc) break;
        }
        if (!collect(argv[i], files)) return 2;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        std::fprintf(stderr, "replay: no input files given\n");
        return 2;
    }
    std::size_t bytes = 0;
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
            return 2;
        }
        // Named before it runs: if the target aborts, the log says which input did it.
        std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.c_str(), data.size());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
        bytes += data.size();
    }
    std::printf("replayed %zu inputs, %zu bytes\n", files.size(), bytes);
    return 0;
}
