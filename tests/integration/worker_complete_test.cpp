// POST /worker/complete against the real netkeepd: streamed to the spool, durable before
// the answer, matched to the leased occurrence, idempotent, and refused cleanly.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "netkeep/sha256.hpp"
#include "support/netkeepd.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
using netkeep::http::ClientResponse;
using netkeep::http::Headers;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    TempDir root = TempDir::create("worker-complete-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";

    explicit Fixture(int devices, const std::string& job_fields = "") {
        fs::create_directories(inventory);
        std::string list;
        for (int i = 0; i < devices; ++i)
            list +=
                fmt::format(R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "p"}}}})",
                            i ? "," : "", i);
        std::ofstream(inventory / "devices.json") << R"({"devices": [)" + list + "]}";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]})" +
                   job_fields + "}]}";
    }
    // The git writer is off: these tests look at the spool, which it empties.
    RunningServer start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--data-dir",       data.string(), "--inventory",
                                      inventory.string(), "--listen",    "127.0.0.1:0",
                                      "--no-git-writer"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto server = start_netkeepd(args);
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    std::size_t spool_files() const {
        if (!fs::exists(data / "spool")) return 0;
        return std::size_t(
            std::distance(fs::directory_iterator(data / "spool"), fs::directory_iterator()));
    }
};

// The one occurrence of a one-device fixture, leased.
Lease lease_one(Client& client) {
    auto leases = lease(client);
    REQUIRE(leases.size() == 1);
    return leases[0];
}

// Every member has a default initializer, so tests name only what they change.
struct Form {
    std::string device = {};
    std::string job = "show_run";
    std::string job_timestamp = {};
    // Empty: derived from job_timestamp (a run that starts when due and takes a second),
    // as netkeepd wants job_timestamp <= start <= end <= its time + 300 s.
    std::string start_timestamp = {};
    std::string end_timestamp = {};
    std::optional<std::string> failure = {};
    std::string content = {};
    bool with_file = true;
};

std::string fields_of(const Form& f) {
    std::string body;
    if (!f.device.empty()) body += multipart_field("device", f.device);
    if (!f.job_timestamp.empty()) body += multipart_field("job_timestamp", f.job_timestamp);
    const bool numeric = !f.job_timestamp.empty() &&
                         f.job_timestamp.find_first_not_of("0123456789") == std::string::npos;
    const std::int64_t job = numeric ? std::stoll(f.job_timestamp) : 0;
    body += multipart_field("start_timestamp",
                            f.start_timestamp.empty() ? std::to_string(job) : f.start_timestamp);
    body += multipart_field("end_timestamp",
                            f.end_timestamp.empty() ? std::to_string(job + 1) : f.end_timestamp);
    if (f.failure) body += multipart_field("failure", *f.failure);
    return body;
}

std::string body_of(const Form& f) {
    std::string body = fields_of(f);
    if (f.with_file)
        body += multipart_file_head(f.job) + f.content + multipart_closing();
    else
        body += fmt::format("--{}--\r\n", k_boundary);
    return body;
}

ClientResponse complete(Client& client, const Form& f) {
    auto r = client.request("POST", "/worker/complete", body_of(f), multipart_headers());
    if (!r) FAIL(r.status().to_string());
    return std::move(r.value());
}

std::string json_string(const std::string& body, const char* key) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) return "<not json: " + body + ">";
    std::string_view v;
    if (doc[key].get_string().get(v)) return "<no " + std::string(key) + ">";
    return std::string(v);
}

std::int64_t json_int(const std::string& body, const char* key) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(!parser.parse(body).get(doc), body);
    std::int64_t v = -1;
    REQUIRE_MESSAGE(!doc[key].get_int64().get(v), body);
    return v;
}

std::string spool_content(const Fixture& f) {
    for (const auto& e : fs::directory_iterator(f.data / "spool")) {
        std::ifstream in(e.path(), std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    return "<no spool file>";
}

long rss_kib(pid_t pid, const char* field) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field)) return std::atol(line.c_str() + std::strlen(field));
    return -1;
}

}  // namespace

TEST_CASE(
    "a leased occurrence is completed: 200 with its seq, content spooled, occurrence closed") {
    Fixture f(1);
    auto server = f.start();
    auto client = connect(server);
    const Lease leased = lease_one(client);

    Form form{.device = "r0",
              .job_timestamp = std::to_string(leased.timestamp),
              .content = "hostname r0\r\n--" + std::string(k_boundary.substr(0, 10)) +
                         "\ninterface Gi0/1\n"};
    auto r = complete(client, form);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    std::int64_t seq = json_int(r.body, "seq");
    CHECK(seq > 0);
    CHECK(f.spool_files() == 1);
    CHECK(spool_content(f) == form.content);

    // Closed: never offered again. (The task's next slot may, by chance of its phase,
    // fall in the next second: that is a new occurrence with a later timestamp.)
    for (const auto& l : lease(client, "?seconds=1")) CHECK(l.timestamp > leased.timestamp);

    // The same completion again: the same answer, nothing new kept.
    auto again = complete(client, form);
    CHECK(again.status == 200);
    CHECK(json_int(again.body, "seq") == seq);
    CHECK(f.spool_files() == 1);

    // A different completion for the closed occurrence conflicts.
    Form other = form;
    other.end_timestamp = std::to_string(leased.timestamp + 2);
    auto conflict = complete(client, other);
    CHECK(conflict.status == 409);
    CHECK(f.spool_files() == 1);
}

TEST_CASE("completions that do not match a leased occurrence are refused and leave nothing") {
    Fixture f(2);
    auto server = f.start();
    auto client = connect(server);
    auto leases = lease(client, "?max=1");
    REQUIRE(leases.size() == 1);
    std::string ts = std::to_string(leases[0].timestamp);
    std::string other = leases[0].device == "r0" ? "r1" : "r0";

    CHECK(complete(client, {.device = "nope", .job_timestamp = ts}).status == 404);
    CHECK(complete(client, {.device = leases[0].device, .job = "nojob", .job_timestamp = ts})
              .status == 404);
    CHECK(complete(client, {.device = other, .job_timestamp = ts}).status == 409);  // never leased
    CHECK(complete(client, {.device = leases[0].device, .job_timestamp = "12345"}).status == 409);
    CHECK(f.spool_files() == 0);
}

TEST_CASE("malformed completions get 400 naming the field, and leave nothing") {
    Fixture f(1);
    auto server = f.start();
    auto client = connect(server);
    const Lease leased = lease_one(client);
    std::string ts = std::to_string(leased.timestamp);

    auto missing_device = complete(client, {.job_timestamp = ts});
    CHECK(missing_device.status == 400);
    CHECK(json_string(missing_device.body, "field") == "device");
    auto bad_time = complete(client, {.device = "r0", .job_timestamp = "yesterday"});
    CHECK(bad_time.status == 400);
    CHECK(json_string(bad_time.body, "field") == "job_timestamp");
    auto no_file = complete(client, {.device = "r0", .job_timestamp = ts, .with_file = false});
    CHECK(no_file.status == 400);
    CHECK(json_string(no_file.body, "field") == "file");

    Headers plain;
    plain.add("Content-Type", "application/json");
    auto wrong_type = client.request("POST", "/worker/complete", "{}", plain);
    REQUIRE(wrong_type.is_ok());
    CHECK(wrong_type->status == 400);

    auto garbage =
        client.request("POST", "/worker/complete", "not multipart at all", multipart_headers());
    REQUIRE(garbage.is_ok());
    CHECK(garbage->status == 400);
    CHECK(f.spool_files() == 0);

    // Still good after all that.
    CHECK(complete(client, {.device = "r0", .job_timestamp = ts}).status == 200);
}

TEST_CASE("a file over the size limit gets 413 and nothing of it is kept") {
    Fixture f(1);
    auto server = f.start({"--max-upload", "1000"});
    auto client = connect(server);
    const Lease leased = lease_one(client);
    auto r = complete(client, {.device = "r0",
                               .job_timestamp = std::to_string(leased.timestamp),
                               .content = std::string(1001, 'x')});
    CHECK(r.status == 413);
    CHECK(f.spool_files() == 0);
    auto ok = connect(server);
    CHECK(complete(ok, {.device = "r0",
                        .job_timestamp = std::to_string(leased.timestamp),
                        .content = std::string(1000, 'x')})
              .status == 200);
}

TEST_CASE("a completion with a failure is a failed attempt and the occurrence is offered again") {
    Fixture f(1, R"(, "retry_delay": 1, "max_attempts": 3)");
    auto server = f.start();
    auto client = connect(server);
    auto first = lease(client);
    REQUIRE(first.size() == 1);
    auto r = complete(client, {.device = "r0",
                               .job_timestamp = std::to_string(first[0].timestamp),
                               .failure = std::string("authentication failed")});
    REQUIRE_MESSAGE(r.status == 200, r.body);
    std::vector<Lease> again;
    REQUIRE(eventually([&] {
        again = lease(client, "?seconds=1");  // after retry_delay
        return !again.empty();
    }));
    REQUIRE(again.size() == 1);
    CHECK(again[0].timestamp == first[0].timestamp);
    CHECK(again[0].attempt == 2);
}

TEST_CASE("a client that disconnects mid-upload leaves no spool file and no event") {
    Fixture f(1);
    auto server = f.start();
    {
        auto client = connect(server);
        const Lease leased = lease_one(client);
        Form form{.device = "r0", .job_timestamp = std::to_string(leased.timestamp)};
        std::string head = fields_of(form) + multipart_file_head(form.job);
        Headers h = multipart_headers();
        h.add("Content-Length", std::to_string(head.size() + 10'000'000));
        REQUIRE(client.send_request("POST", "/worker/complete", {}, h).is_ok());
        REQUIRE(client.send_raw(head).is_ok());
        REQUIRE(client.send_raw(std::string(1'000'000, 'c')).is_ok());
        CHECK(eventually([&] { return f.spool_files() == 1; }));  // the upload is in progress
    }                                                             // the client goes away
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    auto client = connect(server);
    CHECK(client.get("/healthz")->status == 200);
    // No completion was recorded: the occurrence is still leased, not closed.
    CHECK(lease(client, "?seconds=3600").empty());
}

TEST_CASE("a 300 MB upload streams to the spool without the server's memory growing with it") {
    Fixture f(1);
    auto server = f.start();
    auto client = connect(server);
    const Lease leased = lease_one(client);
    Form form{.device = "r0", .job_timestamp = std::to_string(leased.timestamp)};
    const std::size_t size = 300u << 20;
    std::string head = fields_of(form) + multipart_file_head(form.job);
    std::string tail = multipart_closing();
    Headers h = multipart_headers();
    h.add("Content-Length", std::to_string(head.size() + size + tail.size()));

    long rss_before = rss_kib(server.process.pid(), "VmRSS:");
    REQUIRE(client.send_request("POST", "/worker/complete", {}, h).is_ok());
    REQUIRE(client.send_raw(head).is_ok());
    netkeep::Sha256 hash;
    std::string block(1 << 20, '\0');
    for (std::size_t sent = 0; sent < size; sent += block.size()) {
        for (std::size_t i = 0; i < block.size(); i += 64)
            block[i] = char((sent + i) / 64);  // not all zero
        hash.update(block);
        REQUIRE(client.send_raw(block).is_ok());
    }
    REQUIRE(client.send_raw(tail).is_ok());
    auto r = client.read_response();
    REQUIRE(r.is_ok());
    REQUIRE_MESSAGE(r->status == 200, r->body);
    long peak = rss_kib(server.process.pid(), "VmHWM:");
    INFO("RSS before " << rss_before << " KiB, peak " << peak << " KiB");
    CHECK(peak - rss_before < 64 * 1024);

    auto digest = hash.finish();
    std::string expected =
        netkeep::to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), 32));
    for (const auto& e : fs::directory_iterator(f.data / "spool")) {
        CHECK(fs::file_size(e.path()) == size);
        std::ifstream in(e.path(), std::ios::binary);
        netkeep::Sha256 file_hash;
        std::string buf(1 << 20, '\0');
        while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0)
            file_hash.update(std::string_view(buf.data(), std::size_t(in.gcount())));
        auto d = file_hash.finish();
        CHECK(netkeep::to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 32)) ==
              expected);
    }
}

TEST_CASE("acknowledged completions survive kill -9") {
    Fixture f(20);
    std::vector<std::int64_t> seqs;
    std::map<std::string, std::int64_t> completed;  // device → occurrence timestamp
    {
        auto server = f.start();
        auto client = connect(server);
        auto leases = lease(client, "?max=100");
        REQUIRE(leases.size() == 20);
        for (const auto& l : leases) {
            completed[l.device] = l.timestamp;
            auto r = complete(client, {.device = l.device,
                                       .job_timestamp = std::to_string(l.timestamp),
                                       .content = "config of " + l.device});
            REQUIRE(r.status == 200);
            seqs.push_back(json_int(r.body, "seq"));
        }
        server.process.kill();
    }
    auto server = f.start();
    auto client = connect(server);
    // Every completed occurrence stayed closed: what is offered now (a task whose next
    // slot happens to be due) is a later occurrence.
    for (const auto& l : lease(client, "?max=100&seconds=1"))
        CHECK(l.timestamp > completed.at(l.device));
    CHECK(f.spool_files() == 20);
}
