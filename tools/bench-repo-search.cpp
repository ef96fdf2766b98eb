// bench-repo-search: the config search behind GET /api/v1/search (netkeep/repo_reader.hpp)
// against `git grep` on the same tree, in the same run.
//
// Builds a bare repository the way the git writer does (gitwriter::Repo: a commit per
// file, objects published as one pack per batch) with N configs of about B bytes of
// router-like text, then times the reader's search for a literal and a regex over the
// newest blob of every file, and `git grep -c` for the same patterns at main.
//
//   build/tools/bench-repo-search [--files N] [--bytes B] [--threads T] [--keep DIR]
//
// --keep DIR builds the repository in DIR and keeps it; a later run with the same DIR
// reuses it (its --files and --bytes are then ignored).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "gitwriter/git.hpp"
#include "netkeep/regex.hpp"
#include "netkeep/repo_reader.hpp"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// A router config of about `bytes` bytes: a header, then interface stanzas, with the
// device's own addresses and descriptions (so that files differ as real ones do).
std::string config_text(std::size_t device, std::size_t bytes, std::mt19937& rng) {
    std::string s = fmt::format(
        "!\nversion 15.2\nhostname r{:05}\nservice timestamps debug datetime msec\n"
        "logging host 10.0.0.{}\nntp server 10.1.1.{}\nsnmp-server community {} RO\n!\n",
        device, device % 250 + 1, rng() % 250 + 1, rng() % 3 ? "public" : "s3cret");
    for (std::size_t i = 0; s.size() < bytes; ++i) {
        s += fmt::format(
            "interface GigabitEthernet{}/{}\n description link to r{:05} port {}\n"
            " ip address 10.{}.{}.{} 255.255.255.252\n mtu {}\n {}\n!\n",
            i / 48, i % 48, rng() % 10000, rng() % 48, device / 250, device % 250, (i * 4) % 252,
            rng() % 2 ? 1500 : 9000, rng() % 5 ? "no shutdown" : "shutdown");
        if (i % 16 == 15) s += fmt::format("vlan {}\n name vlan-{}\n!\n", i, rng() % 4000);
    }
    s += "end\n";
    return s;
}

// CPU seconds (user + system) of this process, or of its waited-for children: on a
// shared machine wall time varies with the load, CPU time much less.
double cpu_seconds(int who) {
    rusage u{};
    ::getrusage(who, &u);
    auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

double rss_mib() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double mib = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::string_view(line).starts_with("VmRSS:")) mib = std::atof(line + 6) / 1024.0;
    std::fclose(f);
    return mib;
}

struct Options {
    std::size_t files = 10'000;
    std::size_t bytes = 50'000;
    unsigned threads = 2;
    std::string keep;  // reuse/keep the repository here
};

int build(const std::string& path, const Options& o, std::vector<netkeep::SearchTarget>& targets) {
    auto repo = netkeep::gitwriter::Repo::open_or_create(path);
    if (!repo) return fmt::print(stderr, "{}\n", repo.status().to_string()), 1;
    std::mt19937 rng(42);
    const auto t0 = clock_type::now();
    std::uint64_t total = 0;
    for (std::size_t d = 0; d < o.files; ++d) {
        const std::string text = config_text(d, o.bytes, rng);
        total += text.size();
        auto writer = repo->blob_writer(text.size());
        if (!writer || !writer->write(text)) return fmt::print(stderr, "blob write failed\n"), 1;
        auto blob = writer->finish();
        if (!blob) return fmt::print(stderr, "{}\n", blob.status().to_string()), 1;
        auto c = repo->commit_file(fmt::format("r{:05}/running", d), *blob, 1'700'000'000 + d,
                                   "bench", false);
        if (!c) return fmt::print(stderr, "{}\n", c.status().to_string()), 1;
        targets.push_back({netkeep::gitwriter::hex_of(*blob), d});
        // As the writer: a batch is published every 64 commits (src/gitwriter/apply.cpp).
        if (repo->pending_commits() >= 64 || d + 1 == o.files)
            if (netkeep::Status s = repo->publish(); !s)
                return fmt::print(stderr, "{}\n", s.to_string()), 1;
    }
    std::uintmax_t disk = 0;
    for (const auto& e : fs::recursive_directory_iterator(path))
        if (e.is_regular_file()) disk += e.file_size();
    fmt::print("built {} files, {:.0f} MB of text, in {:.1f} s; repository {:.0f} MB on disk\n",
               o.files, double(total) / 1e6, ms_since(t0) / 1000.0, double(disk) / 1e6);
    return 0;
}

void run_search(const netkeep::RepoReader& reader,
                const std::vector<netkeep::SearchTarget>& targets, const char* what,
                const std::string& pattern, bool literal, unsigned threads) {
    auto re = netkeep::Regex::compile("(?m)" + (literal ? netkeep::Regex::quote(pattern) : pattern),
                                      2048);
    if (!re) return (void)fmt::print(stderr, "{}: {}\n", pattern, re.status().to_string());
    for (int round = 0; round < 3; ++round) {
        const auto t0 = clock_type::now();
        const double cpu0 = cpu_seconds(RUSAGE_SELF);
        auto r = reader.search(targets, *re, {.threads = threads});
        const double ms = ms_since(t0);
        const double cpu_ms = (cpu_seconds(RUSAGE_SELF) - cpu0) * 1000.0;
        if (!r) return (void)fmt::print(stderr, "search: {}\n", r.status().to_string());
        fmt::print(
            "netkeep search  {:8} {:40} {:7.1f} ms (cpu {:7.1f} ms)  files {} matched {} lines "
            "{}{}  RSS {:.0f} MiB\n",
            what, pattern, ms, cpu_ms, r->files_searched, r->files_matched, r->matches,
            r->truncated ? " (truncated)" : "", rss_mib());
    }
}

void run_git_grep(const std::string& path, const char* what, const std::string& pattern,
                  bool literal) {
    for (int round = 0; round < 3; ++round) {
        const auto t0 = clock_type::now();
        const double cpu0 = cpu_seconds(RUSAGE_CHILDREN);
        auto out =
            netkeep::bench::output_of(fmt::format("git --git-dir='{}' grep -c {} -e '{}' main | "
                                                  "awk -F: '{{f++; n+=$NF}} END {{print f, n}}'",
                                                  path, literal ? "-F" : "-E", pattern));
        const double ms = ms_since(t0);
        const double cpu_ms = (cpu_seconds(RUSAGE_CHILDREN) - cpu0) * 1000.0;
        std::string counts = out.value_or("?");
        while (!counts.empty() && counts.back() == '\n') counts.pop_back();
        fmt::print("git grep -c     {:8} {:40} {:7.1f} ms (cpu {:7.1f} ms)  files, lines: {}\n",
                   what, pattern, ms, cpu_ms, counts);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--files")
            o.files = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--bytes")
            o.bytes = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--threads")
            o.threads = unsigned(std::strtoul(argv[i + 1], nullptr, 10));
        else if (a == "--keep")
            o.keep = argv[i + 1];
        else
            return fmt::print(stderr, "unknown option {}\n", a), 2;
    }
    const fs::path dir = o.keep.empty()
                             ? fs::temp_directory_path() / fmt::format("bench-repo-{}", ::getpid())
                             : fs::path(o.keep);
    const std::string path = (dir / "repo.git").string();
    std::vector<netkeep::SearchTarget> targets;
    if (!o.keep.empty() && fs::exists(path)) {
        // Reused as built by an earlier run: the newest blob of every file at main.
        std::istringstream tree(
            netkeep::bench::output_of(fmt::format("git --git-dir='{}' ls-tree -r main", path))
                .value_or(""));
        for (std::string line; std::getline(tree, line);)
            if (auto at = line.find(" blob "); at != std::string::npos)
                targets.push_back({line.substr(at + 6, 40), targets.size()});
        fmt::print("reusing {} with {} files\n", path, targets.size());
    } else {
        netkeep::gitwriter::Libgit2 libgit2;
        fs::remove_all(dir);
        fs::create_directories(dir);
        if (int rc = build(path, o, targets); rc != 0) return rc;
    }
    fmt::print("RSS after building: {:.0f} MiB; search threads {}\n", rss_mib(), o.threads);
    auto reader = netkeep::RepoReader::open(path, o.threads + 1);
    if (!reader) return fmt::print(stderr, "{}\n", reader.status().to_string()), 1;
    const std::pair<const char*, std::pair<std::string, bool>> patterns[] = {
        {"literal", {"snmp-server community s3cret", true}},
        {"literal", {"description link to r09999 port 7", true}},
        {"regex", {"^ ip address 10\\.3\\.[0-9]+\\.17 ", false}},
        {"regex", {"mtu 9[0-9]{3}$", false}},
    };
    for (const auto& [what, p] : patterns) {
        run_search(**reader, targets, what, p.first, p.second, o.threads);
        run_git_grep(path, what, p.first, p.second);
    }
    if (o.keep.empty()) fs::remove_all(dir);
    return 0;
}
