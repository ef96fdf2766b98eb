#pragma once
// What the integration tests do as a worker (connect, lease with GET /worker/next, build
// multipart bodies for POST /worker/complete) and as an operator (git, netkeepctl, grep
// over a data dir). Header-only and doctest-aware (a failed call fails the test), shared
// by the integration test programs.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace netkeep::testing {

inline http::Client connect(const RunningServer& server) {
    auto client = http::Client::connect(server.host, server.port);
    if (!client) FAIL(client.status().to_string());
    return std::move(client.value());
}

struct Lease {
    std::string device;
    std::int64_t timestamp = 0;
    std::int64_t attempt = 0;
};

// GET /worker/next + query; empty on 204.
inline std::vector<Lease> lease(http::Client& client, const std::string& query = "") {
    auto r = client.get("/worker/next" + query);
    REQUIRE(r.is_ok());
    std::vector<Lease> out;
    if (r->status == 204) return out;
    REQUIRE_MESSAGE(r->status == 200, r->body);
    simdjson::dom::parser parser;
    for (simdjson::dom::element item : parser.parse(r->body).get_array())
        out.push_back({std::string(item["device"]["name"].get_string().value()),
                       item["timestamp"].get_int64().value(),
                       item["lease"]["attempt"].get_int64().value()});
    return out;
}

// multipart/form-data pieces for POST /worker/complete.
inline constexpr std::string_view k_boundary = "netkeep-test-boundary-7d1f";

inline std::string multipart_field(std::string_view name, std::string_view value) {
    return fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                       k_boundary, name, value);
}

// The head of the `file` part; its content follows, then multipart_closing().
inline std::string multipart_file_head(std::string_view job) {
    return fmt::format(
        "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n",
        k_boundary, job);
}

inline std::string multipart_closing() { return fmt::format("\r\n--{}--\r\n", k_boundary); }

inline http::Headers multipart_headers() {
    http::Headers h;
    h.add("Content-Type", fmt::format("multipart/form-data; boundary={}", k_boundary));
    return h;
}

// The value of an unlabelled sample in GET /metrics, or -1 when absent: a counter a test
// waits on to know that something happened (an expiry, an apply) before it checks what
// did not.
inline double metric_value(http::Client& client, const std::string& name) {
    auto r = client.get("/metrics");
    REQUIRE(r.is_ok());
    REQUIRE(r->status == 200);
    std::string_view body = r->body;
    const std::string prefix = name + " ";
    for (std::size_t at = 0; at < body.size();) {
        std::size_t end = body.find('\n', at);
        if (end == std::string_view::npos) end = body.size();
        std::string_view line = body.substr(at, end - at);
        if (line.starts_with(prefix)) return std::stod(std::string(line.substr(prefix.size())));
        at = end + 1;
    }
    return -1;
}

// support/wait.hpp's wait_until under the name these tests use.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = k_wait_timeout) {
    return wait_until(pred, timeout, std::chrono::milliseconds(20));
}

// POST /worker/complete for a lease of job show_run, expecting 200; the seq of the
// recorded completion. The run starts at the occurrence's time and takes `took` seconds
// (its end is the commit's date): netkeepd refuses times out of that order or far ahead
// of its clock, so tests derive them from the lease.
inline std::int64_t complete(http::Client& client, const Lease& l, const std::string& content,
                             std::optional<std::string> failure = {}, std::int64_t took = 1) {
    std::string body = multipart_field("device", l.device) +
                       multipart_field("job_timestamp", std::to_string(l.timestamp)) +
                       multipart_field("start_timestamp", std::to_string(l.timestamp)) +
                       multipart_field("end_timestamp", std::to_string(l.timestamp + took));
    if (failure) body += multipart_field("failure", *failure);
    body += multipart_file_head("show_run") + content + multipart_closing();
    auto r = client.request("POST", "/worker/complete", body, multipart_headers());
    REQUIRE(r.is_ok());
    REQUIRE_MESSAGE(r->status == 200, r->body);
    simdjson::dom::parser parser;
    return parser.parse(r->body)["seq"].get_int64().value();
}

// git's stdout for `git --git-dir repo ARGS...`, or nullopt when git fails (e.g. main
// does not exist yet).
inline std::optional<std::string> git_output(const std::filesystem::path& repo,
                                             std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/git", "--git-dir", repo.string()});
    auto p = Process::spawn(args);
    REQUIRE(p.is_ok());
    auto status = p->wait(std::chrono::seconds(10));
    REQUIRE(status.is_ok());
    if (!status->exited() || status->code != 0) return std::nullopt;
    return p->stdout_text();
}

// netkeepctl (its path from $NETKEEPCTL) run to the end: exit code, stdout, stderr.
struct CtlResult {
    int code = -1;
    std::string out;
    std::string err;
};

inline CtlResult ctl(std::vector<std::string> args) {
    const char* path = std::getenv("NETKEEPCTL");
    REQUIRE_MESSAGE(path != nullptr, "NETKEEPCTL is not set: run through meson test");
    args.insert(args.begin(), path);
    auto p = Process::spawn(args);
    REQUIRE(p.is_ok());
    auto status = p->wait(std::chrono::seconds(60));
    REQUIRE(status.is_ok());
    REQUIRE(status->exited());
    return {status->code, p->stdout_text(), p->stderr_text()};
}

// The files at or under `path` that contain needle, as `grep -r -a -l -F` lists them
// (binary files included: RocksDB's tables and write-ahead logs, git's compressed
// objects); empty when none does.
inline std::string files_containing(const std::filesystem::path& path, const std::string& needle) {
    auto p = Process::spawn(
        {"/usr/bin/grep", "-r", "-a", "-l", "-F", "-s", "-e", needle, path.string()});
    REQUIRE(p.is_ok());
    auto status = p->wait(std::chrono::seconds(60));
    REQUIRE(status.is_ok());
    REQUIRE(status->exited());
    CHECK_MESSAGE(status->code != 2, p->stderr_text());
    return p->stdout_text();
}

// The number of commits on main; 0 before the first.
inline int commit_count(const std::filesystem::path& repo) {
    auto out = git_output(repo, {"rev-list", "--count", "main"});
    return out ? std::stoi(*out) : 0;
}

}  // namespace netkeep::testing
