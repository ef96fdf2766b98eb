// Measures POST /worker/complete on the real netkeepd.
//
//   bench-complete [--only a|b|c] [--clients C] [--per-client N] [--size BYTES]
//                  [--files F] [--commits K] [--big-mib M] [--parallel-mib P]
//
// (a) C clients (default 32) each post N (default 100) completions of SIZE bytes
//     (default 50 KB) for occurrences leased beforehand: durable completions/s (each
//     answer follows the fsync of its spool file and of its CompletionRecorded), with
//     the git writer off (ingest alone) and on (committing meanwhile, on the same cores),
//     each plaintext without tokens and then HTTPS with a worker token (bench_secure.hpp).
//     Targets: >= 1,500/s (issue 4); tokens + TLS cost <= 25% of that (issue 10).
// (c) one upload of M MiB (default 1024): MB/s, against write + fsync of the same size
//     on the same filesystem (target >= 0.5x); then 8 concurrent uploads of P MiB
//     (default 256): the server's peak RSS growth (target < 64 MiB).
// (b) the git writer: K commits (default 2,000) into a repository of F files (default
//     10,000), against `git fast-import` making the same commits (target ratio >= 0.3),
//     for each path layout; bench_git_writer.cpp.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_git_writer.hpp"
#include "bench_secure.hpp"
#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using netkeep::bench::SecureSetup;
using netkeep::http::Client;
using netkeep::http::ClientOptions;
using netkeep::http::Headers;

namespace {

struct options {
    int clients = 32;
    int per_client = 100;
    std::size_t size = 50'000;
    std::size_t big_mib = 1024;
    std::size_t parallel_mib = 256;
    netkeep::bench::GitWriterBenchOptions git;
    std::string only = "abc";
};

[[noreturn]] void die(std::string_view why) {
    fmt::print(stderr, "bench-complete: {}\n", why);
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    if (argc % 2 == 0)
        die("usage: bench-complete [--only a|b|c] [--clients C] [--per-client N] [--size BYTES] "
            "[--files F] "
            "[--commits K] [--big-mib M] [--parallel-mib P]");
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--only") {
            o.only = argv[i + 1];
            continue;
        }
        long v = std::atol(argv[i + 1]);
        if (v <= 0) die(fmt::format("{} wants a positive number", a));
        if (a == "--clients")
            o.clients = int(v);
        else if (a == "--per-client")
            o.per_client = int(v);
        else if (a == "--size")
            o.size = std::size_t(v);
        else if (a == "--big-mib")
            o.big_mib = std::size_t(v);
        else if (a == "--parallel-mib")
            o.parallel_mib = std::size_t(v);
        else if (a == "--files")
            o.git.files = std::size_t(v);
        else if (a == "--commits")
            o.git.commits = std::size_t(v);
        else
            die(fmt::format("unknown option {}", a));
    }
    return o;
}

constexpr std::string_view k_boundary = "bench-complete-boundary";

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

long status_kib(pid_t pid, std::string_view field) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field)) return std::atol(line.c_str() + field.size());
    return -1;
}

struct occurrence {
    std::string device;
    std::string timestamp;
};

std::string form_head(const occurrence& o) {
    std::string body;
    auto field = [&](std::string_view name, std::string_view value) {
        body += fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                            k_boundary, name, value);
    };
    field("device", o.device);
    field("job_timestamp", o.timestamp);
    field("start_timestamp", o.timestamp);
    field("end_timestamp", o.timestamp);
    body += fmt::format(
        "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"show_run\"\r\n\r\n",
        k_boundary);
    return body;
}

std::string form_tail() { return fmt::format("\r\n--{}--\r\n", k_boundary); }

// `secure`: with its worker token; null: without.
Headers multipart(std::size_t content_length, const SecureSetup* secure = nullptr) {
    Headers h;
    if (secure) secure->add_to(h);
    h.add("Content-Type", fmt::format("multipart/form-data; boundary={}", k_boundary));
    if (content_length) h.add("Content-Length", std::to_string(content_length));
    return h;
}

// Leases every due occurrence (the baseline of every device) and returns them.
std::vector<occurrence> lease_all(const netkeep::testing::RunningServer& server,
                                  const SecureSetup* secure = nullptr) {
    auto client =
        Client::connect(server.host, server.port, secure ? secure->client : ClientOptions{});
    if (!client) die(client.status().to_string());
    Headers headers;
    if (secure) secure->add_to(headers);
    std::vector<occurrence> out;
    for (;;) {
        auto r = client->request("GET", "/worker/next?max=1000", {}, headers);
        if (!r || (r->status != 200 && r->status != 204)) die("leasing failed");
        if (r->status == 204) return out;
        // Cheap extraction: device names and timestamps appear in order.
        std::string_view body = r->body;
        for (std::size_t pos = 0;
             (pos = body.find(R"({"device":{"name":")", pos)) != std::string_view::npos;) {
            pos += 19;
            auto end = body.find('"', pos);
            std::string device(body.substr(pos, end - pos));
            auto ts = body.find(R"("timestamp":)", end) + 12;
            auto ts_end = body.find_first_not_of("0123456789", ts);
            out.push_back({std::move(device), std::string(body.substr(ts, ts_end - ts))});
            pos = ts_end;
        }
    }
}

netkeep::testing::RunningServer start(const fs::path& work, int devices, bool git_writer = true,
                                      const SecureSetup* secure = nullptr) {
    fs::create_directories(work / "inventory");
    std::string list;
    for (int i = 0; i < devices; ++i)
        list += fmt::format(R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "p"}}}})",
                            i ? "," : "", i);
    std::ofstream(work / "inventory" / "devices.json") << R"({"devices": [)" + list + "]}";
    std::ofstream(work / "inventory" / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 86400}, "command": {"inline": ["show run"]}}]})";
    std::vector<std::string> args{"--data-dir",   (work / "data").string(),
                                  "--inventory",  (work / "inventory").string(),
                                  "--listen",     "127.0.0.1:0",
                                  "--max-upload", std::to_string(std::size_t(4) << 30)};
    if (!git_writer) args.push_back("--no-git-writer");
    if (secure) args.insert(args.end(), secure->server_args.begin(), secure->server_args.end());
    auto server = netkeep::testing::start_netkeepd(args, {}, 120s);
    if (!server) die(server.status().to_string());
    return std::move(server.value());
}

// Streams one completion of `size` bytes; returns false on any error.
bool upload(Client& client, const occurrence& o, std::size_t size, const std::string& block,
            const SecureSetup* secure = nullptr) {
    std::string head = form_head(o), tail = form_tail();
    if (!client.send_request("POST", "/worker/complete", {},
                             multipart(head.size() + size + tail.size(), secure)))
        return false;
    if (!client.send_raw(head)) return false;
    for (std::size_t sent = 0; sent < size; sent += block.size())
        if (!client.send_raw(
                std::string_view(block).substr(0, std::min(block.size(), size - sent))))
            return false;
    if (!client.send_raw(tail)) return false;
    auto r = client.read_response();
    if (!r || r->status != 200) {
        fmt::print(stderr, "bench-complete: {}\n",
                   r ? fmt::format("HTTP {}: {}", r->status, r->body) : r.status().to_string());
        return false;
    }
    return true;
}

// Durable completions/s.
double bench_small(const options& o, const fs::path& work, bool git_writer,
                   const SecureSetup* secure) {
    const int total = o.clients * o.per_client;
    auto server =
        start(work / fmt::format("small{}{}", git_writer ? "-git" : "", secure ? "-tls" : ""),
              total, git_writer, secure);
    auto occurrences = lease_all(server, secure);
    if (int(occurrences.size()) != total) die("not every occurrence was leased");
    std::string block(o.size, 'c');
    std::atomic<bool> failed{false};
    auto t0 = clock_type::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c)
        threads.emplace_back([&, c] {
            auto client = Client::connect(server.host, server.port,
                                          secure ? secure->client : ClientOptions{});
            if (!client) return void(failed = true);
            for (int i = c; i < total; i += o.clients)
                if (!upload(*client, occurrences[std::size_t(i)], o.size, block, secure))
                    return void(failed = true);
        });
    for (auto& t : threads) t.join();
    double elapsed = seconds_since(t0);
    if (failed) die("an upload failed");
    (void)server.process.send_signal(SIGTERM);
    (void)server.process.wait(60s);
    fmt::print(
        "(a) POST /worker/complete: {} clients x {} completions of {} bytes, git writer {}, {}\n",
        o.clients, o.per_client, o.size,
        git_writer ? "on (sharing the 2 cores)" : "off (ingest alone)",
        secure ? "HTTPS + worker token" : "plaintext, no tokens");
    fmt::print("  {:<34} {:>10.0f} /s   (target >= 1,500)\n", "durable completions",
               total / elapsed);
    fmt::print("  {:<34} {:>10.1f} MB/s\n", "payload", total * double(o.size) / elapsed / 1e6);
    return total / elapsed;
}

double write_fsync_rate(const fs::path& file, std::size_t bytes) {
    std::string block(1 << 20, 'd');
    auto t0 = clock_type::now();
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    for (std::size_t done = 0; done < bytes; done += block.size())
        if (::write(fd, block.data(), block.size()) != ssize_t(block.size())) die("write");
    if (::fdatasync(fd) != 0) die("fdatasync");
    ::close(fd);
    double rate = double(bytes) / seconds_since(t0) / 1e6;
    fs::remove(file);
    return rate;
}

void bench_big(const options& o, const fs::path& work) {
    auto server = start(work / "big", 9);
    auto occurrences = lease_all(server);
    std::string block(1 << 20, 'b');
    const std::size_t big = o.big_mib << 20;
    long rss_before = status_kib(server.process.pid(), "VmRSS:");
    auto client = Client::connect(server.host, server.port);
    if (!client) die(client.status().to_string());
    auto t0 = clock_type::now();
    if (!upload(*client, occurrences[0], big, block)) die("the big upload failed");
    double upload_rate = double(big) / seconds_since(t0) / 1e6;
    double reference = write_fsync_rate(work / "big" / "reference.bin", big);

    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (int i = 1; i <= 8; ++i)
        threads.emplace_back([&, i] {
            auto c = Client::connect(server.host, server.port);
            if (!c || !upload(*c, occurrences[std::size_t(i)], o.parallel_mib << 20, block))
                failed = true;
        });
    for (auto& t : threads) t.join();
    if (failed) die("a parallel upload failed");
    long peak = status_kib(server.process.pid(), "VmHWM:");
    (void)server.process.send_signal(SIGTERM);
    (void)server.process.wait(60s);
    fmt::print("(c) large uploads\n");
    fmt::print("  {:<34} {:>10.0f} MB/s\n", fmt::format("one {} MiB upload", o.big_mib),
               upload_rate);
    fmt::print("  {:<34} {:>10.0f} MB/s\n", "write + fdatasync, same size", reference);
    fmt::print("  {:<34} {:>10.2f}x    (target >= 0.5x)\n", "upload / write+fsync",
               upload_rate / reference);
    fmt::print("  {:<34} {:>10.1f} MiB  (target < 64)\n",
               fmt::format("RSS growth, 8 x {} MiB at once", o.parallel_mib),
               double(peak - rss_before) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    ::setenv("NETKEEPD", NETKEEPD_PATH, 0);
    auto work = netkeep::testing::TempDir::create("bench-complete");
    if (!work) die(work.status().to_string());
    if (o.only.find('a') != std::string::npos) {
        auto secure = netkeep::bench::make_secure_setup(work->path() / "secure", DEV_CA_PATH);
        if (!secure) die(secure.status().to_string());
        for (bool git_writer : {false, true}) {
            double plain = bench_small(o, work->path(), git_writer, nullptr);
            double tls = bench_small(o, work->path(), git_writer, &*secure);
            fmt::print("  {:<34} {:>10.1f} %    (target <= 25)\n",
                       "tokens + TLS: completions/s lost", 100 * (1 - tls / plain));
        }
    }
    if (o.only.find('b') != std::string::npos)
        netkeep::bench::bench_git_writer(work->path(), o.git);
    if (o.only.find('c') != std::string::npos) bench_big(o, work->path());
    return 0;
}
