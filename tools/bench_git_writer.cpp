// bench-complete (b): the git writer's throughput into a repository that already holds
// many files, against `git fast-import` making the same commits (the reference: git's
// own bulk importer, one pack, no per-commit fsync of loose objects).
//
// Both start from the same repository of F files (F devices x 1 job, 20 KB each), and
// make the same N commits, each changing a few lines of one device's file. The writer
// runs as in netkeepd (GitWriter on a real RocksDB log, spool files, fsync on, gc
// off during the timed run so its figure is the commit path alone); the loose-object
// bytes it leaves per commit and the root tree's size are printed for each path layout.

#include "bench_git_writer.hpp"

#include "bench_util.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/sha256.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace netkeep::bench {

namespace {

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "bench-complete (b): {}\n", why);
    std::exit(1);
}

std::string device_name(std::size_t i) { return fmt::format("dev{:05}", i); }
std::string group_name(std::size_t i) { return fmt::format("site{:03}", i % 100); }

// A 20 KB config whose `version` lines differ between revisions.
std::string config(std::size_t device, std::size_t revision) {
    std::string text = fmt::format("hostname {}\n!\n", device_name(device));
    for (std::size_t line = 0; text.size() < 20'000; ++line) {
        if (line % 97 == 0)
            text += fmt::format("! revision {} mark {}\n", revision, line);
        else
            text += fmt::format("interface GigabitEthernet0/{}\n description uplink {} of {}\n",
                                line, line, device_name(device));
    }
    return text;
}

std::string tree_path(bool grouped, std::size_t device) {
    return grouped ? fmt::format("{}/{}/show_run", group_name(device), device_name(device))
                   : fmt::format("{}/show_run", device_name(device));
}

void run(const std::string& command) {
    if (std::system(command.c_str()) != 0) die(fmt::format("failed: {}", command));
}

std::string output_of(const std::string& command) {
    auto out = bench::output_of(command);
    if (!out) die(fmt::format("cannot run {}", command));
    return *out;
}

std::uint64_t dir_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) total += e.file_size();
    return total;
}

// A fast-import stream: one commit of every device's revision 0 (the existing files),
// or N commits each changing one device (revision 1..), each on top of the previous.
void write_initial_import(const fs::path& stream_path, bool grouped, std::size_t files) {
    std::ofstream out(stream_path, std::ios::binary);
    out << "commit refs/heads/main\ncommitter netkeep <netkeep@localhost> 1700000000 +0000\n"
           "data 8\nimported\n";
    for (std::size_t d = 0; d < files; ++d) {
        std::string c = config(d, 0);
        out << "M 100644 inline " << tree_path(grouped, d) << "\ndata " << c.size() << "\n"
            << c << "\n";
    }
    out << "\n";
}

void write_commit_import(const fs::path& stream_path, bool grouped, std::size_t files,
                         std::size_t commits) {
    std::ofstream out(stream_path, std::ios::binary);
    for (std::size_t i = 0; i < commits; ++i) {
        std::size_t d = i % files;
        std::string c = config(d, 1 + i / files);
        std::string message =
            fmt::format("{}: show_run\n\nNetkeep-Seq: {}\n", device_name(d), i + 2);
        out << "commit refs/heads/main\ncommitter netkeep <netkeep@localhost> " << 1700000000 + i
            << " +0000\ndata " << message.size() << "\n"
            << message;
        if (i == 0) out << "from refs/heads/main^0\n";
        out << "M 100644 inline " << tree_path(grouped, d) << "\ndata " << c.size() << "\n"
            << c << "\n\n";
    }
}

std::string inventory_devices(bool grouped, std::size_t files) {
    std::string json = R"({"credentials": {"c": {"user": "u"}}, "devices": [)";
    for (std::size_t d = 0; d < files; ++d) {
        if (d) json += ',';
        json += fmt::format(R"({{"name": "{}", "credentials": "c"{}}})", device_name(d),
                            grouped ? fmt::format(R"(, "group": "{}")", group_name(d)) : "");
    }
    return json + "]}";
}

// CPU seconds used so far by this process's thread named `name` (the writer's): its
// own cost, apart from the other load on the machine.
double thread_cpu_seconds(std::string_view name) {
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string line;
        if (std::getline(comm, line) && line == name) return cpu_seconds(task.path() / "stat");
    }
    return 0;
}

struct layout_result {
    double writer_per_s = 0;
    double writer_cpu_ms_per_commit = 0;
    double import_per_s = 0;
    std::uint64_t root_tree_bytes = 0;
    double loose_kib_per_commit = 0;
    double packed_kib_per_commit = 0;
};

layout_result bench_layout(const fs::path& work, bool grouped, const GitWriterBenchOptions& o) {
    layout_result result;
    fs::path dir = work / (grouped ? "group" : "device");
    fs::create_directories(dir / "spool");
    fs::path base = dir / "base.git";
    run(fmt::format("git init -q --bare -b main {}", base.string()));
    write_initial_import(dir / "initial.fi", grouped, o.files);
    run(fmt::format("git --git-dir {} fast-import --quiet < {}", base.string(),
                    (dir / "initial.fi").string()));
    run(fmt::format("git --git-dir {} gc -q", base.string()));
    result.root_tree_bytes = std::stoull(
        output_of(fmt::format("git --git-dir {} cat-file -s main^{{tree}}", base.string())));

    // The reference: fast-import of the N commits into a copy.
    fs::path ref = dir / "reference.git";
    fs::copy(base, ref, fs::copy_options::recursive);
    write_commit_import(dir / "commits.fi", grouped, o.files, o.commits);
    auto started = clock_type::now();
    run(fmt::format("git --git-dir {} fast-import --quiet < {}", ref.string(),
                    (dir / "commits.fi").string()));
    result.import_per_s =
        double(o.commits) / std::chrono::duration<double>(clock_type::now() - started).count();

    // The writer: the same commits as CompletionRecorded events with spool files.
    fs::path repo = dir / "repo.git";
    fs::copy(base, repo, fs::copy_options::recursive);
    auto log = open_event_log((dir / "log").string(), {.sync = false});
    if (!log) die(log.status().to_string());
    if (auto s = (*log)->append({InventoryApplied{
            1, inventory_devices(grouped, o.files),
            R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})"}});
        !s)
        die(s.status().to_string());
    std::vector<Event> events;
    for (std::size_t i = 0; i < o.commits; ++i) {
        std::size_t d = i % o.files;
        std::string content = config(d, 1 + i / o.files);
        std::string name = fmt::format("c{}", i);
        std::ofstream(dir / "spool" / name, std::ios::binary) << content;
        Sha256 hash;
        hash.update(content);
        auto digest = hash.finish();
        auto t = unix_time(1700000000 + i);
        events.push_back(CompletionRecorded{
            t, device_name(d), "show_run", t, t, t, std::nullopt, content.size(),
            std::string(reinterpret_cast<const char*>(digest.data()), digest.size()), name,
            "bench"});
    }
    if (auto s = (*log)->append(events); !s) die(s.status().to_string());
    std::uint64_t loose_before = dir_bytes(repo / "objects");
    auto writer =
        open_git_writer(**log, {.repo_path = repo.string(),
                                .spool_dir = (dir / "spool").string(),
                                .state_dir = (dir / "gitwriter").string(),
                                .gc_every = 0,
                                .layout = grouped ? PathLayout::group : PathLayout::device});
    if (!writer) die(writer.status().to_string());
    started = clock_type::now();
    if (auto s = (*writer)->start(); !s) die(s.to_string());
    std::uint64_t last = (*log)->last_seq();
    while ((*writer)->applied_seq() < last) std::this_thread::sleep_for(1ms);
    double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    result.writer_cpu_ms_per_commit =
        thread_cpu_seconds("netkeep-git") * 1000.0 / double(o.commits);
    (*writer)->stop();
    result.writer_per_s = double(o.commits) / seconds;
    std::uint64_t loose_after = dir_bytes(repo / "objects");
    result.loose_kib_per_commit = double(loose_after - loose_before) / 1024.0 / double(o.commits);
    std::string count =
        output_of(fmt::format("git --git-dir {} rev-list --count main", repo.string()));
    if (std::stoull(count) != o.commits + 1)
        die(fmt::format("expected {} commits, found {}", o.commits + 1, count));
    run(fmt::format("git --git-dir {} gc -q", repo.string()));
    std::uint64_t packed = dir_bytes(repo / "objects");
    run(fmt::format("git --git-dir {} gc -q", base.string()));
    result.packed_kib_per_commit =
        (double(packed) - double(dir_bytes(base / "objects"))) / 1024.0 / double(o.commits);
    return result;
}

}  // namespace

void bench_git_writer(const fs::path& work, const GitWriterBenchOptions& o) {
    fmt::print("\n(b) git writer: {} commits into a repository of {} files (20 KB each)\n",
               o.commits, o.files);
    fmt::print("{:<26} {:>10} {:>13} {:>15} {:>6} {:>10} {:>12} {:>13}\n", "layout", "writer c/s",
               "writer CPU/c", "fast-import c/s", "ratio", "root tree", "unpacked/c", "after gc/c");
    for (bool grouped : {false, true}) {
        layout_result r = bench_layout(work, grouped, o);
        fmt::print(
            "{:<26} {:>10.0f} {:>10.1f} ms {:>15.0f} {:>6.2f} {:>8.0f}KB {:>8.1f} KiB {:>9.2f} "
            "KiB\n",
            grouped ? "group: <group>/<dev>/<job>" : "device: <dev>/<job>", r.writer_per_s,
            r.writer_cpu_ms_per_commit, r.import_per_s, r.writer_per_s / r.import_per_s,
            double(r.root_tree_bytes) / 1000.0, r.loose_kib_per_commit, r.packed_kib_per_commit);
    }
    fmt::print(
        "target: ratio >= 0.3 (issue 4); group layout: 100 groups of {} devices; unpacked/c: what "
        "the\n"
        "writer's packs add to the repository per commit, after gc/c: once `git gc` has repacked\n",
        o.files / 100);
}

}  // namespace netkeep::bench
