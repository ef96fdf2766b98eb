// powerloss: netkeepd through simulated power cuts (docs/powerloss.md).
//
// Mounts tools/lossyfs over a temporary backing directory and runs netkeepd with its data
// dir on it. A client leases (GET /worker/next) and completes (POST /worker/complete)
// continuously, recording every lease and completion the server acknowledged. At a random
// moment netkeepd is killed (SIGKILL), lossyfs drops everything that was not fsync'd, the
// file system is remounted and netkeepd started again. Then, once the git writer has
// caught up: every acknowledged completion is in git exactly once (its Netkeep-Seq, at its
// device's path with its job timestamp), every acknowledged lease is still held (GET
// /api/v1/tasks), `netkeepctl verify` passes and git opens the repository (`git
// count-objects`, `git fsck`). One line per cycle, a verdict at the end.
//
// Exit: 0 no loss; 1 loss or damage found; 2 usage or set-up error; 77 skipped (no
// /dev/fuse, or lossyfs cannot mount). With --expect-loss (for the negative test, run with
// --ignore-fsync) 0 and 1 swap: finding loss is the expected outcome.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using netkeep::Result;
using netkeep::Status;
using netkeep::testing::Process;
using netkeep::testing::RunningServer;
using netkeep::testing::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int k_exit_ok = 0;
constexpr int k_exit_loss = 1;
constexpr int k_exit_usage = 2;
constexpr int k_exit_skip = 77;
constexpr std::string_view k_job = "show_run";

struct Options {
    int cycles = 20;
    int devices = 12;
    bool ignore_fsync = false;
    bool expect_loss = false;
    bool keep = false;
    bool verbose = false;
    std::string namespace_mode = "strict";
    std::optional<std::uint64_t> seed;
    int max_run_ms = 2500;
    std::string netkeepd = NETKEEPD_PATH;
    std::string netkeepctl = NETKEEPCTL_PATH;
    std::string lossyfs = LOSSYFS_PATH;
};

int usage() {
    fmt::print(
        stderr,
        "usage: powerloss [CYCLES] [--cycles N] [--devices N] [--max-run-ms MS] [--seed S]\n"
        "                 [--namespace strict|journal|immediate] [--ignore-fsync] [--expect-loss]\n"
        "                 [--keep] [--verbose] [--netkeepd PATH] [--netkeepctl PATH] [--lossyfs "
        "PATH]\n");
    return k_exit_usage;
}

// --- running programs -------------------------------------------------------------------

struct Run {
    int code = -1;
    std::string out;
    std::string err;
};

Run run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 60s) {
    auto p = Process::spawn(std::move(argv));
    if (!p) return {-1, {}, p.status().to_string()};
    auto status = p->wait(timeout);
    if (!status) return {-1, p->stdout_text(), "timed out: " + p->stderr_text()};
    return {status->exited() ? status->code : 128 + status->signal, p->stdout_text(),
            p->stderr_text()};
}

std::string first_lines(const std::string& text, int n) {
    std::istringstream in(text);
    std::string line, out;
    for (int i = 0; i < n && std::getline(in, line); ++i) out += "      " + line + "\n";
    return out;
}

// --- the file system ------------------------------------------------------------------------

// One mount of lossyfs; the destructor unmounts (lazily if it must) so that a failing run
// does not leave a mount behind.
class Mount {
public:
    static Result<Mount> mount(const Options& o, const fs::path& backing,
                               const fs::path& mountpoint) {
        std::vector<std::string> argv{o.lossyfs, "--namespace", o.namespace_mode};
        if (o.ignore_fsync) argv.emplace_back("--ignore-fsync");
        argv.push_back(backing.string());
        argv.push_back(mountpoint.string());
        auto p = Process::spawn(argv);
        if (!p) return p.status();
        Mount m(std::move(p.value()), mountpoint);
        auto until = std::chrono::steady_clock::now() + 10s;
        struct stat st {};
        while (::stat(m.ctl().c_str(), &st) != 0) {
            if (std::chrono::steady_clock::now() > until || m.exited())
                return Status::unavailable("lossyfs did not mount: " + m.process_->stderr_text());
            std::this_thread::sleep_for(20ms);
        }
        return m;
    }

    Mount(Mount&& other) noexcept
        : process_(std::exchange(other.process_, std::nullopt)),
          mountpoint_(std::move(other.mountpoint_)) {}
    Mount& operator=(Mount&&) = delete;
    Mount(const Mount&) = delete;
    Mount& operator=(const Mount&) = delete;
    ~Mount() { unmount(); }

    // The power cut: lossyfs forgets what was not synced. Returns its log of what it dropped.
    std::string drop() {
        std::size_t before = process_->stderr_text().size();
        {
            std::ofstream ctl_file(ctl());
            ctl_file << "drop\n";
        }
        return process_->stderr_text().substr(before);
    }

    std::string counters() const {
        std::ifstream in(ctl());
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    void unmount() {
        if (!process_) return;
        if (run({"/usr/bin/fusermount3", "-u", mountpoint_.string()}, 10s).code != 0) {
            // Still busy (a straggler of the killed server): the disk is gone anyway.
            process_->kill();
            run({"/usr/bin/fusermount3", "-u", "-z", mountpoint_.string()}, 10s);
        }
        if (!process_->wait(10s)) process_->kill();
        process_.reset();
    }

    bool exited() {
        auto s = process_->wait(0ms);
        return s.is_ok();
    }

private:
    Mount(Process p, fs::path mountpoint)
        : process_(std::move(p)), mountpoint_(std::move(mountpoint)) {}
    std::string ctl() const { return (mountpoint_ / ".lossyfs-ctl").string(); }

    std::optional<Process> process_;
    fs::path mountpoint_;
};

// --- what the server acknowledged -------------------------------------------------------------

struct Ack {
    std::int64_t seq = 0;
    std::string device;
    std::int64_t job_timestamp = 0;
    int cycle = 0;
};

struct Held {
    std::int64_t timestamp = 0;
    std::int64_t attempt = 0;
    int cycle = 0;
    // A completion was posted and no answer came: it may have been recorded.
    bool uncertain = false;
    // Never completed in the cycle that leased it, so that every cut finds leases that are
    // only held (completing them a little later each round emptied the set before cuts).
    bool kept = false;
};

struct Ledger {
    std::vector<Ack> acks;
    std::map<std::string, Held> held;  // by device (one job: one open occurrence per device)
    std::uint64_t leases_acked = 0;
    std::uint64_t completions_acked = 0;
    std::vector<std::string> anomalies;  // 4xx answers the protocol does not allow here
};

std::string multipart_field(std::string_view boundary, std::string_view name,
                            std::string_view value) {
    return fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                       boundary, name, value);
}

// The client: leases and completes until `stop`, or until the server goes away.
void client_loop(const std::string& host, std::uint16_t port, Ledger& ledger, int cycle,
                 std::uint64_t seed, const std::atomic<bool>& stop) {
    std::mt19937_64 rng(seed);
    netkeep::http::ClientOptions options;
    options.connect_timeout = 2s;
    options.io_timeout = 10s;
    auto client = netkeep::http::Client::connect(host, port, options);
    if (!client) return;
    constexpr std::string_view boundary = "powerloss-boundary-5c2e";
    netkeep::http::Headers headers;
    headers.add("Content-Type", fmt::format("multipart/form-data; boundary={}", boundary));
    headers.add("X-Netkeep-Worker", "powerloss");
    simdjson::dom::parser parser;
    std::uint64_t counter = 0;
    while (!stop.load()) {
        auto r = client->get("/worker/next?seconds=1&max=4");
        if (!r) return;  // killed
        if (r->status == 200) {
            simdjson::dom::element doc;
            if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return;
            for (simdjson::dom::element item : doc.get_array()) {
                std::string device(item["device"]["name"].get_string().value());
                ledger.held[device] = {item["timestamp"].get_int64().value(),
                                       item["lease"]["attempt"].get_int64().value(), cycle, false,
                                       rng() % 4 == 0};
                ++ledger.leases_acked;
            }
        } else if (r->status != 204) {
            ledger.anomalies.push_back(
                fmt::format("GET /worker/next answered {}: {}", r->status, r->body));
        }
        // A quarter of this cycle's leases stay held until the next cycle.
        std::vector<std::string> devices;
        for (const auto& [device, held] : ledger.held)
            if (!held.uncertain && !(held.kept && held.cycle == cycle)) devices.push_back(device);
        std::shuffle(devices.begin(), devices.end(), rng);
        for (const auto& device : devices) {
            if (stop.load()) return;
            Held& held = ledger.held[device];
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            std::int64_t start = std::max<std::int64_t>(now, held.timestamp);
            std::string content =
                fmt::format("hostname {}\n! powerloss cycle {} completion {} nonce {:016x}\n",
                            device, cycle, ++counter, rng());
            for (int i = 0; i < 40; ++i)
                content += fmt::format("interface Gi0/{}\n description line {}\n", i, rng() % 1000);
            std::string body =
                multipart_field(boundary, "device", device) +
                multipart_field(boundary, "job_timestamp", std::to_string(held.timestamp)) +
                multipart_field(boundary, "start_timestamp", std::to_string(start)) +
                multipart_field(boundary, "end_timestamp", std::to_string(start)) +
                fmt::format(
                    "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n",
                    boundary, k_job) +
                content + fmt::format("\r\n--{}--\r\n", boundary);
            held.uncertain = true;  // until an answer says otherwise
            auto c = client->request("POST", "/worker/complete", body, headers);
            if (!c) return;
            if (c->status == 200) {
                simdjson::dom::element doc;
                if (parser.parse(c->body).get(doc) != simdjson::SUCCESS) return;
                ledger.acks.push_back(
                    {doc["seq"].get_int64().value(), device, held.timestamp, cycle});
                ++ledger.completions_acked;
                ledger.held.erase(device);
            } else if (c->status >= 500) {
                held.uncertain = false;  // nothing kept: the lease stands
            } else {
                ledger.anomalies.push_back(
                    fmt::format("POST /worker/complete for {} at {} answered {}: {}", device,
                                held.timestamp, c->status, c->body));
                ledger.held.erase(device);
            }
        }
        if (devices.empty()) std::this_thread::sleep_for(50ms);
    }
}

// --- checks after a restart ---------------------------------------------------------------------

struct Commit {
    std::string device;
    std::int64_t job_timestamp = 0;
};

// Netkeep-Seq -> commits carrying it, from main's history; nullopt (and `error`) when git
// cannot read it.
std::optional<std::multimap<std::int64_t, Commit>> read_commits(const fs::path& repo,
                                                                std::string& error) {
    Run r = run({"/usr/bin/git", "--git-dir", repo.string(), "log",
                 "--format=%s%x09%(trailers:key=Netkeep-Seq,valueonly,separator=%x2C)%x09"
                 "%(trailers:key=Netkeep-Job-Timestamp,valueonly,separator=%x2C)",
                 "main", "--"});
    if (r.code != 0) {
        error = r.err;
        return std::nullopt;
    }
    std::multimap<std::int64_t, Commit> commits;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        auto tab1 = line.find('\t');
        auto tab2 = line.find('\t', tab1 + 1);
        if (tab1 == std::string::npos || tab2 == std::string::npos) continue;
        std::string subject = line.substr(0, tab1);
        Commit c{subject.substr(0, subject.find(':')), std::atoll(line.c_str() + tab2 + 1)};
        commits.emplace(std::atoll(line.c_str() + tab1 + 1), c);
    }
    return commits;
}

std::string repo_files(const fs::path& repo) {
    std::string out;
    for (const char* name : {"HEAD", "config", "description", "refs/heads/main"}) {
        std::error_code ec;
        auto size = fs::file_size(repo / name, ec);
        out += ec ? fmt::format(" {}=missing", name) : fmt::format(" {}={}B", name, size);
    }
    return out;
}

// The git writer has applied everything in the log (netkeep_git_lag_seconds is 0).
bool writer_caught_up(const RunningServer& server) {
    auto client = netkeep::http::Client::connect(server.host, server.port);
    if (!client) return false;
    auto r = client->get("/metrics");
    if (!r || r->status != 200) return false;
    return r->body.find("\nnetkeep_git_lag_seconds 0\n") != std::string::npos;
}

struct CheckResult {
    std::vector<std::string> problems;
    int leases_held = 0;
    int completions_found = 0;
};

using CommitsBySeq = std::multimap<std::int64_t, Commit>;

// Every acknowledged completion's commit, once the writer caught up: polls git until all
// are there, the writer has caught up without them, or 30 s pass. `git_error` says why
// git could not be read.
CommitsBySeq wait_for_commits(const RunningServer& server, const fs::path& repo,
                              const Ledger& ledger, std::string& git_error) {
    CommitsBySeq commits;
    auto until = std::chrono::steady_clock::now() + 30s;
    int caught_up_polls = 0;
    while (true) {
        std::optional<CommitsBySeq> found;
        if (ledger.acks.empty())
            found.emplace();
        else
            found = read_commits(repo, git_error);
        bool complete = false;
        if (found) {
            commits = std::move(*found);
            complete = true;
            for (const auto& a : ledger.acks) complete = complete && commits.contains(a.seq);
        }
        if (complete || std::chrono::steady_clock::now() > until) break;
        // Caught up and still missing some: lost, no need to wait longer.
        if (writer_caught_up(server) && ++caught_up_polls >= 3) break;
        std::this_thread::sleep_for(200ms);
    }
    return commits;
}

// Every acknowledged completion in git exactly once. A loss is reported once: it leaves
// the ledger, and later cycles go on checking the rest.
void check_completions(const CommitsBySeq& commits, Ledger& ledger, CheckResult& result) {
    std::vector<Ack> kept;
    for (const auto& a : ledger.acks) {
        auto [first, last] = commits.equal_range(a.seq);
        int matching = 0;
        for (auto it = first; it != last; ++it)
            matching +=
                it->second.device == a.device && it->second.job_timestamp == a.job_timestamp;
        if (matching == 1) {
            ++result.completions_found;
            kept.push_back(a);
        } else if (matching == 0) {
            result.problems.push_back(
                fmt::format("LOST: completion seq {} ({}/{} job_timestamp {}, acknowledged in "
                            "cycle {}) is not in git",
                            a.seq, a.device, k_job, a.job_timestamp, a.cycle));
        } else {
            result.problems.push_back(fmt::format(
                "DUPLICATE: completion seq {} ({}) is in git {} times", a.seq, a.device, matching));
            kept.push_back(a);
        }
    }
    for (auto it = commits.begin(); it != commits.end(); it = commits.upper_bound(it->first))
        if (commits.count(it->first) > 1 && it->first != 0)
            result.problems.push_back(fmt::format("DUPLICATE: Netkeep-Seq {} on {} commits",
                                                  it->first, commits.count(it->first)));
    ledger.acks = std::move(kept);
}

// A task's state from GET /api/v1/tasks: status, timestamp, lease attempt.
using TaskState = std::tuple<std::string, std::int64_t, std::int64_t>;

// By device; nullopt when the server does not answer.
std::optional<std::map<std::string, TaskState>> read_tasks(const RunningServer& server) {
    auto client = netkeep::http::Client::connect(server.host, server.port);
    if (!client) return std::nullopt;
    auto r = client->get("/api/v1/tasks");
    if (!r || r->status != 200) return std::nullopt;
    simdjson::dom::parser parser;
    std::map<std::string, TaskState> state;
    for (simdjson::dom::element t : parser.parse(r->body)["tasks"].get_array()) {
        std::int64_t attempt = 0;
        simdjson::dom::element lease = t["lease"];
        if (!lease.is_null()) attempt = lease["attempt"].get_int64().value();
        state[std::string(t["device"].get_string().value())] = {
            std::string(t["status"].get_string().value()), t["timestamp"].get_int64().value(),
            attempt};
    }
    return state;
}

// Every acknowledged lease still held.
void check_leases(const RunningServer& server, Ledger& ledger, CheckResult& result) {
    auto state = read_tasks(server);
    if (!state) {
        result.problems.push_back("GET /api/v1/tasks failed");
        return;
    }
    for (auto it = ledger.held.begin(); it != ledger.held.end();) {
        const auto& [device, held] = *it;
        auto s = state->find(device);
        bool still = s != state->end() && std::get<0>(s->second) == "leased" &&
                     std::get<1>(s->second) == held.timestamp &&
                     std::get<2>(s->second) == held.attempt;
        if (still) {
            ++result.leases_held;
            it->second.uncertain = false;
            ++it;
            continue;
        }
        if (!held.uncertain) {
            result.problems.push_back(fmt::format(
                "LOST: lease of {}/{} at {} (attempt {}, acknowledged in cycle {}) is no "
                "longer held: task is {}",
                device, k_job, held.timestamp, held.attempt, held.cycle,
                s == state->end()
                    ? "gone"
                    : fmt::format("{} at {}", std::get<0>(s->second), std::get<1>(s->second))));
        }
        it = ledger.held.erase(it);  // an unanswered completion closed it, or it is reported
    }
}

// netkeepctl verify and git fsck.
void check_verify_and_fsck(const Options& o, const fs::path& data_dir, CheckResult& result) {
    // The writer's records against git (pending completions are fine; a cursor behind the
    // newest trailer settles once the writer writes it: try again).
    Run verify;
    for (int attempt = 0; attempt < 5; ++attempt) {
        verify = run({o.netkeepctl, "--data-dir", data_dir.string(), "verify"});
        if (verify.code == 0) break;
        std::this_thread::sleep_for(1s);
    }
    if (verify.code != 0)
        result.problems.push_back(fmt::format("netkeepctl verify exits {}:\n{}{}", verify.code,
                                              first_lines(verify.out, 6),
                                              first_lines(verify.err, 4)));
    const fs::path repo = data_dir / "repo.git";
    Run fsck = run({"/usr/bin/git", "--git-dir", repo.string(), "fsck", "--no-progress"}, 120s);
    if (fsck.code != 0)
        result.problems.push_back(
            fmt::format("git fsck exits {}:\n{}", fsck.code, first_lines(fsck.err, 6)));
}

CheckResult check(const Options& o, const RunningServer& server, const fs::path& data_dir,
                  Ledger& ledger) {
    CheckResult result;
    const fs::path repo = data_dir / "repo.git";

    // The repository opens with git.
    Run opened = run({"/usr/bin/git", "--git-dir", repo.string(), "count-objects"});
    if (opened.code != 0) {
        result.problems.push_back(fmt::format("git cannot open repo.git ({}): {}", repo_files(repo),
                                              first_lines(opened.err, 2)));
    }

    std::string git_error;
    CommitsBySeq commits = wait_for_commits(server, repo, ledger, git_error);
    if (!git_error.empty() && commits.empty() && !ledger.acks.empty())
        result.problems.push_back("git log main fails: " + first_lines(git_error, 2));
    check_completions(commits, ledger, result);
    check_leases(server, ledger, result);
    check_verify_and_fsck(o, data_dir, result);
    return result;
}

// The lines of lossyfs's drop log worth showing: the top-most undone directory or file per
// path (an undone mkdir hides everything under it), the repository's own files.
std::vector<std::string> summarize_drop(const std::string& log) {
    std::vector<std::string> lines;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line))
        if (line.find("drop: ") != std::string::npos &&
            line.find("drop: done") == std::string::npos)
            lines.push_back(line.substr(line.find("drop: ") + 6));
    // Shallow paths first: an undone `mkdir var` explains everything below it.
    auto depth = [](const std::string& l) { return std::count(l.begin(), l.end(), '/'); };
    std::stable_sort(lines.begin(), lines.end(), [&](const std::string& a, const std::string& b) {
        return depth(a) < depth(b);
    });
    return lines;
}

void write_inventory(const fs::path& dir, int devices) {
    fs::create_directories(dir);
    std::ofstream d(dir / "devices.json");
    d << "{\"devices\": [\n";
    for (int i = 1; i <= devices; ++i)
        d << fmt::format(
            "  {{\"name\": \"r{}\", \"host\": \"127.0.0.1\", \"credentials\": {{\"user\": \"u\", "
            "\"pass\": \"p\", "
            "\"prompt\": {{\"ends_with\": \"#\"}}}}}}{}\n",
            i, i < devices ? "," : "");
    d << "]}\n";
    // interval 1: a completed task is due again a second later. timeout 3600: a lease
    // outlives every cut of the run, so "still held" is well defined.
    std::ofstream j(dir / "jobs.json");
    j << fmt::format(
        "{{\"jobs\": [{{\"name\": \"{}\", \"schedule\": {{\"interval\": 1}}, \"command\": "
        "{{\"inline\": "
        "[\"show running-config\"]}}, \"timeout\": 3600, \"max_attempts\": 100, \"retry_delay\": "
        "1}}]}}\n",
        k_job);
}

// False (after saying why) when the loop cannot run here: the run is skipped.
bool fuse_usable(const Options& o) {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {
        fmt::print("powerloss: SKIP: /dev/fuse is not usable here\n");
        return false;
    }
    if (::access("/usr/bin/fusermount3", X_OK) != 0 || ::access(o.lossyfs.c_str(), X_OK) != 0) {
        fmt::print("powerloss: SKIP: fusermount3 or lossyfs ({}) missing\n", o.lossyfs);
        return false;
    }
    return true;
}

// What the cycles share: the directories, the file system, the server and what it
// acknowledged.
struct Rig {
    Rig(const Options& options, TempDir dir)
        : o(options),
          work(std::move(dir)),
          backing(work / "backing"),
          mnt(work / "mnt"),
          data_dir(mnt / "var"),  // created by netkeepd: its durability is tested too
          inventory(work / "inventory"),
          logs(work / "logs"),
          server_args{"--data-dir",       data_dir.string(), "--inventory",
                      inventory.string(), "--listen",        "127.0.0.1:0"},
          seed(o.seed ? *o.seed : std::random_device{}()),
          rng(seed) {}

    const Options& o;
    TempDir work;
    const fs::path backing, mnt, data_dir, inventory, logs;
    const std::vector<std::string> server_args;
    const std::uint64_t seed;
    std::mt19937_64 rng;
    std::optional<Mount> mount;
    std::optional<RunningServer> server;
    Ledger ledger;
};

// Mounts lossyfs and starts the first netkeepd; an exit code when it cannot.
std::optional<int> start(Rig& rig) {
    auto mounted = Mount::mount(rig.o, rig.backing, rig.mnt);
    if (!mounted) {
        fmt::print("powerloss: SKIP: {}\n", mounted.status().to_string());
        return k_exit_skip;
    }
    rig.mount.emplace(std::move(mounted.value()));
    auto first = netkeep::testing::start_netkeepd(rig.server_args, {}, 60s);
    if (!first) {
        fmt::print(stderr, "powerloss: netkeepd does not start on lossyfs: {}\n",
                   first.status().to_string());
        return k_exit_usage;
    }
    rig.server.emplace(std::move(first.value()));
    return std::nullopt;
}

// What a cut interrupted: the first start ("early"), a busy server, or a start-up.
struct Cut {
    std::string kind;
    int run_ms = 0;
};

// Runs the server (and the client against it) for a random while, then kills it.
Cut run_until_cut(Rig& rig, int cycle) {
    std::uniform_int_distribution<int> pick(0, 99);
    Cut cut;
    cut.kind = cycle == 1 ? "early" : pick(rig.rng) < 20 ? "startup" : "busy";
    if (cut.kind == "startup") {
        rig.server->process.kill();
        const auto& args = rig.server_args;
        auto p =
            Process::spawn({rig.o.netkeepd, args[0], args[1], args[2], args[3], args[4], args[5]});
        cut.run_ms = std::uniform_int_distribution<int>(0, 800)(rig.rng);
        std::this_thread::sleep_for(std::chrono::milliseconds(cut.run_ms));
        if (p) p->kill();
    } else {
        cut.run_ms = cut.kind == "early"
                         ? std::uniform_int_distribution<int>(20, 400)(rig.rng)
                         : std::uniform_int_distribution<int>(200, rig.o.max_run_ms)(rig.rng);
        std::atomic<bool> stop{false};
        std::thread client(client_loop, rig.server->host, rig.server->port, std::ref(rig.ledger),
                           cycle, rig.rng(), std::cref(stop));
        std::this_thread::sleep_for(std::chrono::milliseconds(cut.run_ms));
        rig.server->process.kill();  // SIGKILL, with requests in flight
        stop = true;
        client.join();
    }
    rig.server.reset();
    return cut;
}

// The power cut: lossyfs drops what was not fsync'd and is mounted again. Its drop log
// (also kept in logs/cut-N.log), or why it could not remount.
Result<std::string> power_cut(Rig& rig, int cycle) {
    std::string drop_log = rig.mount->drop();
    std::string counters = rig.mount->counters();
    { std::ofstream(rig.logs / fmt::format("cut-{}.log", cycle)) << drop_log << counters; }
    rig.mount.reset();  // unmount
    auto again = Mount::mount(rig.o, rig.backing, rig.mnt);
    if (!again) return again.status();
    rig.mount.emplace(std::move(again.value()));
    return drop_log;
}

CheckResult restart_and_check(Rig& rig) {
    CheckResult result;
    auto restarted = netkeep::testing::start_netkeepd(rig.server_args, {}, 60s);
    if (!restarted) {
        result.problems.push_back("netkeepd does not start after the cut: " +
                                  first_lines(restarted.status().message(), 8));
    } else {
        rig.server.emplace(std::move(restarted.value()));
        result = check(rig.o, *rig.server, rig.data_dir, rig.ledger);
    }
    for (const auto& a : rig.ledger.anomalies) result.problems.push_back("protocol: " + a);
    rig.ledger.anomalies.clear();
    return result;
}

void report_cycle(const Rig& rig, int cycle, const Cut& cut, std::uint64_t acks_before,
                  const std::vector<std::string>& dropped, const CheckResult& result) {
    const Ledger& ledger = rig.ledger;
    fmt::print(
        "cycle {}: {} cut after {} ms: {} completions and {} leases acknowledged so far ({} "
        "new); "
        "lossyfs dropped {} unsynced changes; after restart: {} completions in git once, {} "
        "leases "
        "held: {}\n",
        cycle, cut.kind, cut.run_ms, ledger.completions_acked, ledger.leases_acked,
        ledger.completions_acked - acks_before, dropped.size(), result.completions_found,
        result.leases_held, result.problems.empty() ? "ok" : "FAILED");
    if (!result.problems.empty()) {
        for (const auto& p : result.problems) fmt::print("    {}\n", p);
        fmt::print("    what lossyfs dropped at this cut ({} entries; all in {}):\n",
                   dropped.size(), (rig.logs / fmt::format("cut-{}.log", cycle)).string());
        int shown = 0;
        for (const auto& line : dropped)
            if (rig.o.verbose || shown < 25) {
                fmt::print("      {}\n", line);
                ++shown;
            }
    } else if (rig.o.verbose) {
        for (const auto& line : dropped) fmt::print("      {}\n", line);
    }
    std::fflush(stdout);
}

// The verdict line and exit code; keeps the data when asked or when loss was found.
int verdict(Rig& rig, int failed_cycles, std::uint64_t checked_completions) {
    const Options& o = rig.o;
    bool loss = failed_cycles > 0;
    if (loss)
        fmt::print("powerloss: FAIL: loss or damage after {} of the cuts (seed {})\n",
                   failed_cycles, rig.seed);
    else
        fmt::print(
            "powerloss: PASS: {} cuts, {} acknowledged completions checked in git, no loss (seed "
            "{})\n",
            o.cycles, checked_completions, rig.seed);
    if (o.keep || (loss && !o.expect_loss)) {
        fs::path kept = fs::temp_directory_path() / fmt::format("powerloss-kept-{}", rig.seed);
        std::error_code ec;
        fs::rename(rig.work.path(), kept, ec);
        if (!ec)
            fmt::print("powerloss: data kept in {} (backing/ holds the disk, logs/ each cut)\n",
                       kept.string());
    }
    if (o.expect_loss) {
        fmt::print("powerloss: --expect-loss: {}\n",
                   loss ? "loss detected, as expected" : "NO loss detected");
        return loss ? k_exit_ok : k_exit_loss;
    }
    return loss ? k_exit_loss : k_exit_ok;
}

int run_loop(const Options& o) {
    if (!fuse_usable(o)) return k_exit_skip;
    ::setenv("NETKEEPD", o.netkeepd.c_str(), 0);
    auto work = TempDir::create("powerloss");
    if (!work) {
        fmt::print(stderr, "powerloss: {}\n", work.status().to_string());
        return k_exit_usage;
    }
    Rig rig(o, std::move(work.value()));
    fs::create_directories(rig.backing);
    fs::create_directories(rig.mnt);
    fs::create_directories(rig.logs);
    write_inventory(rig.inventory, o.devices);
    fmt::print("powerloss: {} cycles, {} devices, namespace {}, fsync {}, seed {}\n", o.cycles,
               o.devices, o.namespace_mode, o.ignore_fsync ? "IGNORED" : "honoured", rig.seed);
    std::fflush(stdout);
    if (auto failed = start(rig)) return *failed;

    int failed_cycles = 0;
    std::uint64_t checked_completions = 0;
    for (int cycle = 1; cycle <= o.cycles; ++cycle) {
        std::uint64_t acks_before = rig.ledger.completions_acked;
        Cut cut = run_until_cut(rig, cycle);
        auto drop_log = power_cut(rig, cycle);
        if (!drop_log) {
            fmt::print("cycle {}: cannot remount: {}\n", cycle, drop_log.status().to_string());
            return k_exit_usage;
        }
        auto dropped = summarize_drop(*drop_log);
        CheckResult result = restart_and_check(rig);
        checked_completions += static_cast<std::uint64_t>(result.completions_found);
        report_cycle(rig, cycle, cut, acks_before, dropped, result);
        if (!result.problems.empty()) ++failed_cycles;
        if (!rig.server) break;  // nothing more can be learned
        if (!result.problems.empty() && o.expect_loss) break;
    }
    rig.server.reset();
    rig.mount.reset();
    return verdict(rig, failed_cycles, checked_completions);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a(argv[i]);
        auto next = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        auto number = [&](auto& target) {
            auto v = next();
            if (!v) return false;
            try {
                target = static_cast<std::remove_reference_t<decltype(target)>>(std::stoull(*v));
            } catch (const std::exception&) {
                return false;
            }
            return true;
        };
        if (a == "--cycles") {
            if (!number(o.cycles)) return usage();
        } else if (a == "--devices") {
            if (!number(o.devices)) return usage();
        } else if (a == "--max-run-ms") {
            if (!number(o.max_run_ms)) return usage();
        } else if (a == "--seed") {
            std::uint64_t s = 0;
            if (!number(s)) return usage();
            o.seed = s;
        } else if (a == "--namespace") {
            auto v = next();
            if (!v || (*v != "strict" && *v != "journal" && *v != "immediate")) return usage();
            o.namespace_mode = *v;
        } else if (a == "--ignore-fsync") {
            o.ignore_fsync = true;
        } else if (a == "--expect-loss") {
            o.expect_loss = true;
        } else if (a == "--keep") {
            o.keep = true;
        } else if (a == "--verbose") {
            o.verbose = true;
        } else if (a == "--netkeepd" || a == "--netkeepctl" || a == "--lossyfs") {
            auto v = next();
            if (!v) return usage();
            (a == "--netkeepd" ? o.netkeepd : a == "--netkeepctl" ? o.netkeepctl : o.lossyfs) = *v;
        } else if (!a.empty() && a[0] != '-' &&
                   a.find_first_not_of("0123456789") == std::string_view::npos) {
            o.cycles = std::atoi(argv[i]);
        } else {
            return usage();
        }
    }
    if (o.cycles < 1 || o.devices < 1 || o.devices > 1000 || o.max_run_ms < 200) return usage();
    ::signal(SIGPIPE, SIG_IGN);
    return run_loop(o);
}
