#pragma once
// Small helpers the benchmark programs share: running a shell command for its output,
// and reading a process's (or thread's) CPU time and peak RSS from /proc.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

namespace netkeep::bench {

// The command's stdout (through sh), or nullopt when it cannot be started.
inline std::optional<std::string> output_of(const std::string& command) {
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return std::nullopt;
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
    return out;
}

// User + system CPU seconds from a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file.
inline double cpu_seconds(const std::filesystem::path& stat_file) {
    std::ifstream stat(stat_file);
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');
    if (paren == std::string::npos) return 0;
    // After the parenthesised name: state is field 3; utime is 14, stime 15.
    std::istringstream rest(text.substr(paren + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i >= 14) ticks += std::stod(field);
    return ticks / double(::sysconf(_SC_CLK_TCK));
}

// Peak resident set (VmHWM) of a live process, in MiB.
inline double peak_rss_mib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

}  // namespace netkeep::bench
