// Tokens and roles against the real netkeepd and netkeepctl: 401 without or with a bad
// token, 403 for the wrong role or tag, a completion only from the lease's holder (and
// after expiry from a token whose tags cover the device), nothing spooled for a refused
// upload, revocation on SIGHUP, the loopback rule without --auth, and no token in clear
// anywhere netkeepd writes.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
using netkeep::http::ClientResponse;
using netkeep::http::Headers;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

std::size_t spool_files(const fs::path& data) {
    std::size_t n = 0;
    if (!fs::exists(data / "spool")) return 0;
    for (const auto& e : fs::recursive_directory_iterator(data / "spool"))
        if (e.is_regular_file()) ++n;
    return n;
}

constexpr std::string_view k_password = "Dev1ce-pa55word-c0ffee";

// Devices in two tags (a: r1, r2; b: r3), a job once a year with a short timeout, and
// tokens: worker-a (tag a), worker-a2 (tag a), worker-b (tag b), reader (read), ops (admin).
struct Fixture {
    TempDir root = TempDir::create("auth-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path auth = root / "tokens.json";
    std::string worker_a, worker_a2, worker_b, reader, admin;

    Fixture() {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json") << fmt::format(
            R"({{"credentials": {{"c": {{"user": "u", "pass": {{"env": "NK_AUTH_PASS"}}}}}},
                 "devices": [{{"name": "r1", "tags": ["a"], "credentials": "c"}},
                             {{"name": "r2", "tags": ["a"], "credentials": "c"}},
                             {{"name": "r3", "tags": ["b"], "credentials": "c"}}]}})");
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"cron": "0 0 1 1 *"}, "command": {"inline": ["show run"]},
                             "timeout": 2, "retry_delay": 1}]})";
        worker_a = add("worker-a", "worker", {"a"});
        worker_a2 = add("worker-a2", "worker", {"a"});
        worker_b = add("worker-b", "worker", {"b"});
        reader = add("reader", "read", {});
        admin = add("ops", "admin", {});
    }

    std::string add(const std::string& name, const std::string& role,
                    const std::vector<std::string>& tags) {
        std::vector<std::string> args{"token",  "add", "--auth", auth.string(),
                                      "--name", name,  "--role", role};
        for (const auto& t : tags) args.insert(args.end(), {"--tag", t});
        CtlResult r = ctl(args);
        REQUIRE_MESSAGE(r.code == 0, r.err);
        return trim(r.out);
    }

    RunningServer start() {
        auto server = start_netkeepd(
            {"--data-dir", data.string(), "--inventory", inventory.string(), "--listen",
             "127.0.0.1:0", "--auth", auth.string()},
            SpawnOptions{.env = {fmt::format("NK_AUTH_PASS={}", k_password)}, .working_dir = {}});
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
};

Headers bearer(const std::string& token) {
    Headers h;
    h.add("Authorization", "Bearer " + token);
    return h;
}

ClientResponse call(Client& c, std::string_view method, const std::string& target,
                    const std::string& token, std::string_view body = {}) {
    auto r = c.request(method, target, body, token.empty() ? Headers{} : bearer(token));
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return std::move(*r);
}

std::vector<Lease> lease_as(Client& c, const std::string& token, const std::string& query = "") {
    ClientResponse r = call(c, "GET", "/worker/next" + query, token);
    std::vector<Lease> out;
    if (r.status == 204) return out;
    REQUIRE_MESSAGE(r.status == 200, r.body);
    simdjson::dom::parser parser;
    for (simdjson::dom::element item : parser.parse(r.body).get_array())
        out.push_back({std::string(item["device"]["name"].get_string().value()),
                       item["timestamp"].get_int64().value(),
                       item["lease"]["attempt"].get_int64().value()});
    return out;
}

std::string completion_body(const Lease& l, const std::string& content) {
    return multipart_field("device", l.device) +
           multipart_field("job_timestamp", std::to_string(l.timestamp)) +
           multipart_field("start_timestamp", std::to_string(l.timestamp)) +
           multipart_field("end_timestamp", std::to_string(l.timestamp + 1)) +
           multipart_file_head("show_run") + content + multipart_closing();
}

ClientResponse complete_as(Client& c, const std::string& token, const Lease& l,
                           const std::string& content, const std::string& worker_header = "") {
    Headers h = multipart_headers();
    h.add("Authorization", "Bearer " + token);
    if (!worker_header.empty()) h.add("X-Netkeep-Worker", worker_header);
    auto r = c.request("POST", "/worker/complete", completion_body(l, content), h);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return std::move(*r);
}

}  // namespace

TEST_CASE("no token or a bad token gets 401 with WWW-Authenticate on every route but /healthz") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    CHECK(call(c, "GET", "/healthz", "").status == 200);
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"GET", "/worker/next"},
        {"POST", "/admin/reload"},
        {"GET", "/metrics"},
        {"GET", "/api/v1/tasks"},
        {"POST", "/api/v1/tasks/r1/show_run/run"},
        {"GET", "/api/v1/events"},
        {"GET", "/api/v1/devices/r1/history"}};
    for (const auto& [method, path] : routes) {
        CAPTURE(path);
        for (const std::string& token :
             {std::string(), std::string("nk_not-a-token"), f.worker_a + "x"}) {
            ClientResponse r = call(c, method, path, token);
            CHECK(r.status == 401);
            CHECK(r.headers.get("WWW-Authenticate").value_or("").starts_with("Bearer"));
            CHECK(r.body.find("\"error\"") != std::string::npos);
        }
        // Another scheme is not a bearer token.
        Headers basic;
        basic.add("Authorization", "Basic dTpw");
        auto r = c.request(method, path, {}, basic);
        REQUIRE(r.is_ok());
        CHECK(r->status == 401);
    }
    // The upload route refuses before reading the body.
    Headers h = multipart_headers();
    auto r = c.request("POST", "/worker/complete", completion_body({"r1", 1, 1}, "x"), h);
    REQUIRE(r.is_ok());
    CHECK(r->status == 401);
    CHECK(spool_files(f.data) == 0);
}

TEST_CASE("each role reaches only its routes") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    // read: the operator API and metrics, nothing that changes state.
    CHECK(call(c, "GET", "/api/v1/tasks", f.reader).status == 200);
    CHECK(call(c, "GET", "/metrics", f.reader).status == 200);
    CHECK(call(c, "GET", "/api/v1/events", f.reader).status == 200);
    CHECK(call(c, "POST", "/admin/reload", f.reader).status == 403);
    CHECK(call(c, "POST", "/api/v1/tasks/r1/show_run/run", f.reader).status == 403);
    CHECK(call(c, "GET", "/worker/next", f.reader).status == 403);
    // worker: only the worker routes.
    CHECK(call(c, "GET", "/api/v1/tasks", f.worker_a).status == 403);
    CHECK(call(c, "GET", "/metrics", f.worker_a).status == 403);
    CHECK(call(c, "POST", "/admin/reload", f.worker_a).status == 403);
    // admin: everything an operator does, but it is not a worker.
    CHECK(call(c, "GET", "/api/v1/tasks", f.admin).status == 200);
    CHECK(call(c, "POST", "/admin/reload", f.admin).status == 200);
    CHECK(call(c, "GET", "/worker/next", f.admin).status == 403);
    ClientResponse forbidden = call(c, "POST", "/admin/reload", f.reader);
    CHECK(forbidden.body.find("admin") != std::string::npos);
    // The refusals are counted.
    std::string metrics = call(c, "GET", "/metrics", f.admin).body;
    CHECK(metrics.find("netkeep_auth_refused_total{reason=\"forbidden\"} 8") != std::string::npos);
}

TEST_CASE("a worker token leases and sees only devices with its tags") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    CHECK(call(c, "GET", "/worker/next?tag=b", f.worker_a).status == 403);
    CHECK(call(c, "GET", "/worker/next?tag=a&tag=b", f.worker_a).status == 403);
    std::vector<Lease> a = lease_as(c, f.worker_a, "?max=10");
    REQUIRE(a.size() == 2);
    for (const Lease& l : a) CHECK(l.device != "r3");
    std::vector<Lease> b = lease_as(c, f.worker_b, "?tag=b");
    REQUIRE(b.size() == 1);
    CHECK(b[0].device == "r3");
    // The lease records the token as its holder and worker (not a header).
    auto tasks = call(c, "GET", "/api/v1/tasks", f.reader);
    CHECK(tasks.body.find("\"worker-a\"") != std::string::npos);
    CHECK(tasks.body.find("\"worker-b\"") != std::string::npos);
}

TEST_CASE(
    "only the lease's holder completes; the holder's post lands; after expiry a same-tag token "
    "may") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    std::vector<Lease> leases = lease_as(c, f.worker_a, "?max=1");
    REQUIRE(leases.size() == 1);
    const Lease held = leases[0];

    // Another worker of the same tag, and one of another tag: 403, nothing stored.
    ClientResponse r = complete_as(c, f.worker_a2, held, "stolen config\n");
    CHECK(r.status == 403);
    CHECK(complete_as(c, f.worker_b, held, "stolen config\n").status == 403);
    CHECK(spool_files(f.data) == 0);
    // The holder's post still lands, and git names the token, not the free header.
    r = complete_as(c, f.worker_a, held, "hostname r1\n", "spoofed-name");
    CHECK_MESSAGE(r.status == 200, r.body);
    REQUIRE(eventually([&] { return commit_count(f.data / "repo.git") == 1; }));
    auto message = git_output(f.data / "repo.git", {"log", "-1", "--format=%B", "main"});
    REQUIRE(message);
    CHECK(message->find("worker-a") != std::string::npos);
    CHECK(message->find("spoofed-name") == std::string::npos);
    // A re-post by the holder is the idempotent repeat; by another token, 403.
    CHECK(complete_as(c, f.worker_a, held, "hostname r1\n").status == 200);
    CHECK(complete_as(c, f.worker_a2, held, "hostname r1\n").status == 403);

    // The other device's lease expires (timeout 2 s): then worker-a2 (same tag) may
    // complete it, worker-b (other tag) may not.
    leases = lease_as(c, f.worker_a, "?max=1");
    REQUIRE(leases.size() == 1);
    const Lease expiring = leases[0];
    CHECK(complete_as(c, f.worker_a2, expiring, "early\n").status == 403);
    REQUIRE(eventually(
        [&] {
            // The task's status, not the "leased" key of the answer's counts.
            return call(c, "GET", "/api/v1/tasks", f.reader).body.find("\"status\":\"leased\"") ==
                   std::string::npos;
        },
        8s));
    CHECK(complete_as(c, f.worker_b, expiring, "other tag\n").status == 403);
    r = complete_as(c, f.worker_a2, expiring, "hostname r2\n");
    CHECK_MESSAGE(r.status == 200, r.body);
}

TEST_CASE("device and job_timestamp must precede the file part") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    std::vector<Lease> leases = lease_as(c, f.worker_a, "?max=1");
    REQUIRE(leases.size() == 1);
    std::string body = multipart_file_head("show_run") + "config\n" + "\r\n" +
                       multipart_field("device", leases[0].device) +
                       multipart_field("job_timestamp", std::to_string(leases[0].timestamp)) +
                       multipart_field("start_timestamp", "1") +
                       multipart_field("end_timestamp", "2");
    body += fmt::format("--{}--\r\n", k_boundary);
    Headers h = multipart_headers();
    h.add("Authorization", "Bearer " + f.worker_a);
    auto r = c.request("POST", "/worker/complete", body, h);
    REQUIRE(r.is_ok());
    CHECK(r->status == 400);
    CHECK(r->body.find("must precede the file part") != std::string::npos);
    CHECK(r->body.find(R"("field": "device")") != std::string::npos);
    CHECK(spool_files(f.data) == 0);
}

TEST_CASE(
    "a revoked token is refused after SIGHUP; a bad token file is refused and the old one stays") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    CHECK(call(c, "GET", "/api/v1/tasks", f.reader).status == 200);
    CtlResult revoked = ctl({"token", "revoke", "--auth", f.auth.string(), "--name", "reader"});
    REQUIRE_MESSAGE(revoked.code == 0, revoked.err);
    // Until the reload the old set is in force.
    CHECK(call(c, "GET", "/api/v1/tasks", f.reader).status == 200);
    REQUIRE(server.process.send_signal(SIGHUP).is_ok());
    CHECK(eventually([&] { return call(c, "GET", "/api/v1/tasks", f.reader).status == 401; }));
    CHECK(call(c, "GET", "/api/v1/tasks", f.admin).status == 200);

    // A broken token file: the reload is refused (422) and every token keeps working.
    std::string good;
    {
        std::ifstream in(f.auth);
        std::stringstream ss;
        ss << in.rdbuf();
        good = ss.str();
    }
    std::ofstream(f.auth) << R"({"tokens": [{"name": "x", "role": "root", "sha256": "00"}]})";
    ClientResponse r = call(c, "POST", "/admin/reload", f.admin);
    CHECK(r.status == 422);
    CHECK(r.body.find("tokens.json") != std::string::npos);
    CHECK(call(c, "GET", "/api/v1/tasks", f.admin).status == 200);
    CHECK(lease_as(c, f.worker_a, "?max=1").size() == 1);
    std::ofstream(f.auth) << good;
    CHECK(call(c, "POST", "/admin/reload", f.admin).status == 200);
}

TEST_CASE("without --auth netkeepd listens on loopback only") {
    Fixture f;
    for (const std::string listen : {"0.0.0.0:0", "[::]:0"}) {
        CAPTURE(listen);
        auto binary = netkeepd_path();
        REQUIRE(binary.is_ok());
        auto p = Process::spawn(
            {binary->string(), "--data-dir", f.data.string(), "--inventory", f.inventory.string(),
             "--listen", listen},
            SpawnOptions{.env = {fmt::format("NK_AUTH_PASS={}", k_password)}, .working_dir = {}});
        REQUIRE(p.is_ok());
        auto status = p->wait(10s);
        REQUIRE(status.is_ok());
        CHECK(status->code == 2);
        CHECK(p->stderr_text().find("--auth") != std::string::npos);
    }
    // A lab may say so explicitly, and is warned.
    auto server = start_netkeepd(
        {"--data-dir", f.data.string(), "--inventory", f.inventory.string(), "--listen",
         "0.0.0.0:0", "--insecure-no-auth"},
        SpawnOptions{.env = {fmt::format("NK_AUTH_PASS={}", k_password)}, .working_dir = {}});
    REQUIRE_MESSAGE(server, server.status().to_string());
    CHECK(server->process.stderr_text().find("auth.disabled") != std::string::npos);
    // Loopback without tokens serves as before.
    server->process.kill();
    auto local = start_netkeepd(
        {"--data-dir", f.data.string(), "--inventory", f.inventory.string(), "--listen",
         "127.0.0.1:0"},
        SpawnOptions{.env = {fmt::format("NK_AUTH_PASS={}", k_password)}, .working_dir = {}});
    REQUIRE_MESSAGE(local, local.status().to_string());
    Client c = connect(*local);
    CHECK(call(c, "GET", "/api/v1/tasks", "").status == 200);
}

TEST_CASE("tokens are never stored or logged in clear") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    std::vector<Lease> leases = lease_as(c, f.worker_a, "?max=1");
    REQUIRE(leases.size() == 1);
    CHECK(complete_as(c, f.worker_a, leases[0], "hostname r1\n").status == 200);
    CHECK(call(c, "GET", "/api/v1/tasks", "nk_wrong").status == 401);
    CHECK(call(c, "GET", "/api/v1/tasks", f.worker_b).status == 403);
    CHECK(call(c, "POST", "/admin/reload", f.admin).status == 200);
    std::string answers = call(c, "GET", "/api/v1/events", f.reader).body +
                          call(c, "GET", "/metrics", f.admin).body +
                          call(c, "GET", "/api/v1/tasks", f.admin).body;
    REQUIRE(eventually([&] { return commit_count(f.data / "repo.git") == 1; }));
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    REQUIRE(server.process.wait(10s).is_ok());
    const std::string logs = server.process.stderr_text() + server.process.stdout_text();
    for (const std::string& token : {f.worker_a, f.worker_a2, f.worker_b, f.reader, f.admin}) {
        CHECK(files_containing(f.data, token).empty());
        CHECK(files_containing(f.root / "tokens.json", token).empty());
        CHECK(logs.find(token) == std::string::npos);
        CHECK(answers.find(token) == std::string::npos);
    }
}

TEST_CASE("netkeepctl token: add prints the token once, list and revoke, bad input refused") {
    TempDir root = TempDir::create("auth-ctl-it").value();
    const std::string file = (root / "tokens.json").string();
    CtlResult added =
        ctl({"token", "add", "--auth", file, "--name", "w1", "--role", "worker", "--tag", "dc1"});
    REQUIRE_MESSAGE(added.code == 0, added.err);
    const std::string token = trim(added.out);
    CHECK(token.size() == 67);
    CHECK(added.err.find("shown only this once") != std::string::npos);
    CHECK((fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all)) ==
          fs::perms::none);
    CHECK(files_containing(root.path(), token).empty());

    CHECK(ctl({"token", "add", "--auth", file, "--name", "w1", "--role", "read"}).code ==
          1);  // taken
    CHECK(ctl({"token", "add", "--auth", file, "--name", "bad name", "--role", "read"}).code == 2);
    CHECK(ctl({"token", "add", "--auth", file, "--name", "x", "--role", "root"}).code == 2);
    CHECK(ctl({"token", "add", "--auth", file, "--name", "x", "--role", "worker"}).code ==
          2);  // no tag
    CHECK(ctl({"token", "add", "--auth", file, "--name", "r", "--role", "read"}).code == 0);

    CtlResult list = ctl({"token", "list", "--auth", file});
    CHECK(list.code == 0);
    CHECK(list.out.find("w1") != std::string::npos);
    CHECK(list.out.find("dc1") != std::string::npos);
    CHECK(list.out.find(token) == std::string::npos);

    CHECK(ctl({"token", "revoke", "--auth", file, "--name", "w1"}).code == 0);
    CHECK(ctl({"token", "revoke", "--auth", file, "--name", "w1"}).code == 1);
    list = ctl({"--json", "token", "list", "--auth", file});
    CHECK(list.out == "[{\"name\":\"r\",\"role\":\"read\",\"tags\":[]}]\n");
}

TEST_CASE(
    "a flood of wrong tokens and oversized headers: refused, logged a few lines a second, server "
    "up") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);
    for (int i = 0; i < 200; ++i)
        CHECK(call(c, "GET", "/worker/next", fmt::format("nk_guess{}", i)).status == 401);
    // An Authorization header past the head limit is refused by the server itself.
    auto huge = Client::connect(server.host, server.port);
    REQUIRE(huge.is_ok());
    auto r = huge->request("GET", "/api/v1/tasks", {}, bearer(std::string(100 * 1024, 'a')));
    if (r.is_ok()) CHECK(r->status == 431);
    // A worker asking for many tags it does not have leases nothing.
    std::string query = "/worker/next?max=10";
    for (int i = 0; i < 300; ++i) query += fmt::format("&tag=t{}", i);
    CHECK(call(c, "GET", query, f.worker_a).status == 403);
    // Still serving, with the right answers.
    Client again = connect(server);
    CHECK(call(again, "GET", "/api/v1/tasks", f.reader).status == 200);
    CHECK(lease_as(again, f.worker_a, "?max=10").size() == 2);
    const std::string err = server.process.stderr_text();
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = err.find("auth.unauthenticated", at)) != std::string::npos; ++at)
        ++lines;
    CHECK(lines >= 1);
    CHECK(lines <= 5 * 10);  // 5 a second; the flood takes well under 10 s
    CHECK(err.find("nk_guess") == std::string::npos);
    std::string metrics = call(again, "GET", "/metrics", f.reader).body;
    CHECK(metrics.find("netkeep_auth_refused_total{reason=\"unauthenticated\"} 200\n") !=
          std::string::npos);
}

// ---- the web UI's sessions (docs/security.md#web-ui-sessions) ----

namespace {

struct Login {
    std::string cookie;  // "nk_session=..."
    std::string csrf;
    ClientResponse response;
};

Login login(Client& c, std::string_view body, std::string_view content_type = "application/json") {
    Headers h;
    h.add("Content-Type", std::string(content_type));
    auto r = c.request("POST", "/ui/login", body, h);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    Login out{{}, {}, std::move(*r)};
    if (out.response.status != 200) return out;
    std::string set = std::string(out.response.header("Set-Cookie").value_or(""));
    out.cookie = set.substr(0, set.find(';'));
    simdjson::dom::parser parser;
    out.csrf = std::string(parser.parse(out.response.body)["csrf"].get_string().value());
    return out;
}

ClientResponse with_session(Client& c, std::string_view method, const std::string& target,
                            const std::string& cookie, const std::string& csrf = "") {
    Headers h;
    h.add("Cookie", "theme=x; " + cookie);
    if (!csrf.empty()) h.add("X-CSRF-Token", csrf);
    auto r = c.request(method, target, {}, h);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return std::move(*r);
}

}  // namespace

TEST_CASE("web UI login: a read or admin token buys an HttpOnly, SameSite=Strict session") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);

    auto none = c.get("/ui/session");
    REQUIRE(none.is_ok());
    CHECK(none->body.find(R"("auth_required":true,"authenticated":false)") != std::string::npos);

    Login reader = login(c, fmt::format(R"({{"token": "{}"}})", f.reader));
    REQUIRE_MESSAGE(reader.response.status == 200, reader.response.body);
    const std::string set = std::string(reader.response.header("Set-Cookie").value_or(""));
    CHECK(set.starts_with("nk_session=nks_"));
    CHECK(set.find("; HttpOnly") != std::string::npos);
    CHECK(set.find("; SameSite=Strict") != std::string::npos);
    CHECK(set.find("; Path=/") != std::string::npos);
    CHECK(set.find("Secure") == std::string::npos);  // plain HTTP here
    CHECK(reader.response.body.find(R"("role":"read")") != std::string::npos);
    // The token itself is in neither the cookie nor the answer.
    CHECK(set.find(f.reader) == std::string::npos);
    CHECK(reader.response.body.find(f.reader) == std::string::npos);

    auto who = with_session(c, "GET", "/ui/session", reader.cookie);
    CHECK(who.body.find(R"("authenticated":true,"name":"reader","role":"read")") !=
          std::string::npos);
    CHECK(with_session(c, "GET", "/api/v1/tasks", reader.cookie).status == 200);
    // A read session may not run a task, CSRF token or not.
    CHECK(with_session(c, "POST", "/api/v1/tasks/r1/show_run/run", reader.cookie, reader.csrf)
              .status == 403);
    // The session is no worker: worker routes take bearer tokens only.
    CHECK(with_session(c, "GET", "/worker/next", reader.cookie).status == 401);

    // A form post works too (the page without JavaScript).
    Login admin = login(c, "token=" + f.admin, "application/x-www-form-urlencoded");
    REQUIRE_MESSAGE(admin.response.status == 200, admin.response.body);
    CHECK(admin.csrf != reader.csrf);
    CHECK(admin.cookie != reader.cookie);

    // CSRF: a POST the cookie authenticates needs the session's own token.
    CHECK(with_session(c, "POST", "/api/v1/tasks/r1/show_run/run", admin.cookie).status == 403);
    CHECK(with_session(c, "POST", "/api/v1/tasks/r1/show_run/run", admin.cookie, reader.csrf)
              .status == 403);
    CHECK(
        with_session(c, "POST", "/api/v1/tasks/r1/show_run/run", admin.cookie, admin.csrf).status ==
        200);

    // Logout ends the session and clears the cookie.
    CHECK(with_session(c, "POST", "/ui/logout", admin.cookie).status == 403);  // no CSRF token
    auto out = with_session(c, "POST", "/ui/logout", admin.cookie, admin.csrf);
    CHECK(out.status == 204);
    CHECK(std::string(out.header("Set-Cookie").value_or("")).find("Max-Age=0") !=
          std::string::npos);
    CHECK(with_session(c, "GET", "/api/v1/tasks", admin.cookie).status == 401);
}

TEST_CASE("web UI login refuses bad, worker and cross-site logins; revocation ends sessions") {
    Fixture f;
    RunningServer server = f.start();
    Client c = connect(server);

    CHECK(login(c, R"({"token": "nk_0000"})").response.status == 401);
    CHECK(login(c, R"({"tok": 1})").response.status == 400);
    CHECK(login(c, "{not json").response.status == 400);
    CHECK(login(c, std::string(5000, 'x')).response.status == 413);
    Login worker = login(c, fmt::format(R"({{"token": "{}"}})", f.worker_a));
    CHECK(worker.response.status == 403);
    CHECK(worker.response.header("Set-Cookie") == std::nullopt);
    {
        Headers h;
        h.add("Content-Type", "application/json");
        h.add("Origin", "http://evil.example");
        auto r = c.request("POST", "/ui/login", fmt::format(R"({{"token": "{}"}})", f.admin), h);
        REQUIRE(r.is_ok());
        CHECK(r->status == 403);
    }
    // A made-up session id is nobody.
    CHECK(with_session(c, "GET", "/api/v1/tasks", "nk_session=nks_forged").status == 401);

    Login reader = login(c, fmt::format(R"({{"token": "{}"}})", f.reader));
    REQUIRE(reader.response.status == 200);
    CHECK(with_session(c, "GET", "/api/v1/tasks", reader.cookie).status == 200);
    CtlResult revoked = ctl({"token", "revoke", "--auth", f.auth.string(), "--name", "reader"});
    REQUIRE_MESSAGE(revoked.code == 0, revoked.err);
    REQUIRE(server.process.send_signal(SIGHUP).is_ok());
    CHECK(eventually(
        [&] { return with_session(c, "GET", "/api/v1/tasks", reader.cookie).status == 401; }));
    // Neither the token, the session id nor the CSRF token reaches the log lines.
    const std::string id = reader.cookie.substr(reader.cookie.find('=') + 1);
    const std::string logs = server.process.stderr_text() + server.process.stdout_text();
    CHECK(logs.find("ui.login") != std::string::npos);
    for (const std::string& secret : {id, reader.csrf, f.reader, f.admin}) {
        CAPTURE(secret);
        CHECK(logs.find(secret) == std::string::npos);
    }
}

TEST_CASE("without --auth there is no login and the UI may do everything") {
    Fixture f;
    auto server = start_netkeepd(
        {"--data-dir", f.data.string(), "--inventory", f.inventory.string(), "--listen",
         "127.0.0.1:0"},
        SpawnOptions{.env = {fmt::format("NK_AUTH_PASS={}", k_password)}, .working_dir = {}});
    REQUIRE(server.is_ok());
    Client c = connect(*server);
    auto who = c.get("/ui/session");
    REQUIRE(who.is_ok());
    CHECK(who->body.find(R"("auth_required":false)") != std::string::npos);
    CHECK(who->body.find(R"("role":"admin")") != std::string::npos);
    CHECK(login(c, R"({"token": "x"})").response.status == 404);
}
