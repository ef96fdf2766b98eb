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
    for (const char* name :
         {"HEAD", "config", "description", "netkeep-pack.config", "refs/heads/main"}) {
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

    // Every acknowledged completion in git exactly once, after the writer caught up.
    std::multimap<std::int64_t, Commit> commits;
    std::string git_error;
    auto until = std::chrono::steady_clock::now() + 30s;
    int caught_up_polls = 0;
    while (true) {
        std::optional<std::multimap<std::int64_t, Commit>> found;
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
    if (!git_error.empty() && commits.empty() && !ledger.acks.empty())
        result.problems.push_back("git log main fails: " + first_lines(git_error, 2));
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
    // A loss is reported once; later cycles go on checking the rest.
    ledger.acks = std::move(kept);

    // Every acknowledged lease still held.
    auto client = netkeep::http::Client::connect(server.host, server.port);
    std::optional<netkeep::http::ClientResponse> tasks;
    if (client) {
        auto r = client->get("/api/v1/tasks");
        if (r && r->status == 200) tasks = std::move(r.value());
    }
    if (!tasks) {
        result.problems.push_back("GET /api/v1/tasks failed");
    } else {
        simdjson::dom::parser parser;
        std::map<std::string, std::tuple<std::string, std::int64_t, std::int64_t>> state;
        for (simdjson::dom::element t : parser.parse(tasks->body)["tasks"].get_array()) {
            std::int64_t attempt = 0;
            simdjson::dom::element lease = t["lease"];
            if (!lease.is_null()) attempt = lease["attempt"].get_int64().value();
            state[std::string(t["device"].get_string().value())] = {
                std::string(t["status"].get_string().value()), t["timestamp"].get_int64().value(),
                attempt};
        }
        for (auto it = ledger.held.begin(); it != ledger.held.end();) {
            const auto& [device, held] = *it;
            auto s = state.find(device);
            bool still = s != state.end() && std::get<0>(s->second) == "leased" &&
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
                    s == state.end()
                        ? "gone"
                        : fmt::format("{} at {}", std::get<0>(s->second), std::get<1>(s->second))));
            }
            it = ledger.held.erase(it);  // an unanswered completion closed it, or it is reported
        }
    }

    // netkeepctl verify: the writer's records against git (pending completions are fine;
    // a cursor behind the newest trailer settles once the writer writes it: try again).
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
    Run fsck = run({"/usr/bin/git", "--git-dir", repo.string(), "fsck", "--no-progress"}, 120s);
    if (fsck.code != 0)
        result.problems.push_back(
            fmt::format("git fsck exits {}:\n{}", fsck.code, first_lines(fsck.err, 6)));
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

int run_loop(const Options& o) {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {
        fmt::print("powerloss: SKIP: /dev/fuse is not usable here\n");
        return k_exit_skip;
    }
    if (::access("/usr/bin/fusermount3", X_OK) != 0 || ::access(o.lossyfs.c_str(), X_OK) != 0) {
        fmt::print("powerloss: SKIP: fusermount3 or lossyfs ({}) missing\n", o.lossyfs);
        return k_exit_skip;
    }
    ::setenv("NETKEEPD", o.netkeepd.c_str(), 0);
    auto work = TempDir::create("powerloss");
    if (!work) {
        fmt::print(stderr, "powerloss: {}\n", work.status().to_string());
        return k_exit_usage;
    }
    const fs::path backing = *work / "backing";
    const fs::path mnt = *work / "mnt";
    const fs::path data_dir = mnt / "var";  // created by netkeepd: its durability is tested too
    const fs::path inventory = *work / "inventory";
    const fs::path logs = *work / "logs";
    fs::create_directories(backing);
    fs::create_directories(mnt);
    fs::create_directories(logs);
    write_inventory(inventory, o.devices);

    std::uint64_t seed = o.seed ? *o.seed : std::random_device{}();
    std::mt19937_64 rng(seed);
    fmt::print("powerloss: {} cycles, {} devices, namespace {}, fsync {}, seed {}\n", o.cycles,
               o.devices, o.namespace_mode, o.ignore_fsync ? "IGNORED" : "honoured", seed);
    std::fflush(stdout);

    auto mounted = Mount::mount(o, backing, mnt);
    if (!mounted) {
        fmt::print("powerloss: SKIP: {}\n", mounted.status().to_string());
        return k_exit_skip;
    }
    std::optional<Mount> mount(std::move(mounted.value()));
    const std::vector<std::string> server_args{"--data-dir",  data_dir.string(),
                                               "--inventory", inventory.string(),
                                               "--listen",    "127.0.0.1:0"};
    auto first = netkeep::testing::start_netkeepd(server_args, {}, 60s);
    if (!first) {
        fmt::print(stderr, "powerloss: netkeepd does not start on lossyfs: {}\n",
                   first.status().to_string());
        return k_exit_usage;
    }
    std::optional<RunningServer> server(std::move(first.value()));

    Ledger ledger;
    int failed_cycles = 0;
    std::uint64_t checked_completions = 0;
    for (int cycle = 1; cycle <= o.cycles; ++cycle) {
        // What the cut interrupts: the first start, a busy server, or a start-up.
        std::uniform_int_distribution<int> pick(0, 99);
        std::string kind = cycle == 1 ? "early" : pick(rng) < 20 ? "startup" : "busy";
        int run_ms = 0;
        std::uint64_t acks_before = ledger.completions_acked;
        if (kind == "startup") {
            server->process.kill();
            auto p = Process::spawn({o.netkeepd, server_args[0], server_args[1], server_args[2],
                                     server_args[3], server_args[4], server_args[5]});
            run_ms = std::uniform_int_distribution<int>(0, 800)(rng);
            std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
            if (p) p->kill();
        } else {
            run_ms = kind == "early" ? std::uniform_int_distribution<int>(20, 400)(rng)
                                     : std::uniform_int_distribution<int>(200, o.max_run_ms)(rng);
            std::atomic<bool> stop{false};
            std::thread client(client_loop, server->host, server->port, std::ref(ledger), cycle,
                               rng(), std::cref(stop));
            std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
            server->process.kill();  // SIGKILL, with requests in flight
            stop = true;
            client.join();
        }
        server.reset();

        // The power cut.
        std::string drop_log = mount->drop();
        std::string counters = mount->counters();
        { std::ofstream(logs / fmt::format("cut-{}.log", cycle)) << drop_log << counters; }
        mount.reset();  // unmount
        auto again = Mount::mount(o, backing, mnt);
        if (!again) {
            fmt::print("cycle {}: cannot remount: {}\n", cycle, again.status().to_string());
            return k_exit_usage;
        }
        mount.emplace(std::move(again.value()));

        auto dropped = summarize_drop(drop_log);
        auto restarted = netkeep::testing::start_netkeepd(server_args, {}, 60s);
        CheckResult result;
        if (!restarted) {
            result.problems.push_back("netkeepd does not start after the cut: " +
                                      first_lines(restarted.status().message(), 8));
        } else {
            server.emplace(std::move(restarted.value()));
            result = check(o, *server, data_dir, ledger);
        }
        checked_completions += static_cast<std::uint64_t>(result.completions_found);
        for (const auto& a : ledger.anomalies) result.problems.push_back("protocol: " + a);
        ledger.anomalies.clear();

        fmt::print(
            "cycle {}: {} cut after {} ms: {} completions and {} leases acknowledged so far ({} "
            "new); "
            "lossyfs dropped {} unsynced changes; after restart: {} completions in git once, {} "
            "leases "
            "held: {}\n",
            cycle, kind, run_ms, ledger.completions_acked, ledger.leases_acked,
            ledger.completions_acked - acks_before, dropped.size(), result.completions_found,
            result.leases_held, result.problems.empty() ? "ok" : "FAILED");
        if (!result.problems.empty()) {
            ++failed_cycles;
            for (const auto& p : result.problems) fmt::print("    {}\n", p);
            fmt::print("    what lossyfs dropped at this cut ({} entries; all in {}):\n",
                       dropped.size(), (logs / fmt::format("cut-{}.log", cycle)).string());
            int shown = 0;
            for (const auto& line : dropped)
                if (o.verbose || shown < 25) {
                    fmt::print("      {}\n", line);
                    ++shown;
                }
        } else if (o.verbose) {
            for (const auto& line : dropped) fmt::print("      {}\n", line);
        }
        std::fflush(stdout);
        if (!server) break;  // nothing more can be learned
        if (!result.problems.empty() && o.expect_loss) break;
    }
    server.reset();
    mount.reset();

    bool loss = failed_cycles > 0;
    if (loss)
        fmt::print("powerloss: FAIL: loss or damage after {} of the cuts (seed {})\n",
                   failed_cycles, seed);
    else
        fmt::print(
            "powerloss: PASS: {} cuts, {} acknowledged completions checked in git, no loss (seed "
            "{})\n",
            o.cycles, checked_completions, seed);
    if (o.keep || (loss && !o.expect_loss)) {
        fs::path kept = fs::temp_directory_path() / fmt::format("powerloss-kept-{}", seed);
        std::error_code ec;
        fs::rename(work->path(), kept, ec);
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
