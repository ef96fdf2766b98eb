// TLS end to end: the real netkeepd with certificates from tools/dev-ca, probed with curl
// and openssl s_client (what an operator would use), with the project's own client for
// the slow-handshake attacks, and the real netkeep-worker over https against
// tools/fake-device.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e_support.hpp"
#include "http/client.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

constexpr const char* k_password = "tls-Secret-pw-17";
constexpr const char* k_token = "tok-7f3a9c1e5b2d4f6a8c0e2b4d6f8a1c3e";

// A CA made by tools/dev-ca in `dir`.
void make_ca(const fs::path& dir) {
    auto out = run_program({"/bin/bash", env_path("DEV_CA"), dir.string()});
    REQUIRE_MESSAGE(out, "tools/dev-ca failed");
    REQUIRE(fs::exists(dir / "server.crt"));
}

struct Certs {
    TempDir root = TempDir::create("netkeep-tls").value();
    fs::path ca = root / "ca";        // the server's CA
    fs::path other = root / "other";  // an unrelated CA
    Certs() {
        make_ca(ca);
        make_ca(other);
    }
};

// Runs argv; its exit code (stdout and stderr in `out` when given).
int exit_code(std::vector<std::string> argv, std::string* out = nullptr) {
    auto p = Process::spawn(std::move(argv));
    REQUIRE(p.is_ok());
    auto st = p->wait(30s);
    REQUIRE(st.is_ok());
    if (out) *out = p->stdout_text() + p->stderr_text();
    return st->exited() ? st->code : 128 + st->signal;
}

// netkeepd on an ephemeral port with `tls_args`, a one-device inventory, no git writer.
RunningServer start_tls_server(const fs::path& dir, const std::vector<std::string>& tls_args,
                               const std::string& header_timeout) {
    fs::create_directories(dir / "inventory");
    std::ofstream(dir / "inventory" / "devices.json")
        << R"({"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}}]})";
    std::ofstream(dir / "inventory" / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})";
    std::vector<std::string> args{
        "--data-dir",  (dir / "data").string(), "--inventory",     (dir / "inventory").string(),
        "--listen",    "127.0.0.1:0",           "--no-git-writer", "--header-timeout",
        header_timeout};
    args.insert(args.end(), tls_args.begin(), tls_args.end());
    auto s = start_netkeepd(args);
    REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
    return std::move(s.value());
}

struct TlsServer {
    TempDir dir = TempDir::create("netkeep-tls-srv").value();
    RunningServer server;

    explicit TlsServer(const std::vector<std::string>& tls_args, std::string header_timeout = "1")
        : server(start_tls_server(dir.path(), tls_args, header_timeout)) {}

    std::string https(std::string_view path = "/healthz") const {
        return fmt::format("https://127.0.0.1:{}{}", server.port, path);
    }
    std::string address() const { return fmt::format("127.0.0.1:{}", server.port); }

    // curl's exit code (0: a 2xx answer; 35: handshake failed; 60: certificate not trusted).
    int curl(std::vector<std::string> extra, std::string* out = nullptr) const {
        std::vector<std::string> argv{"/usr/bin/curl", "-sS", "--fail", "--max-time", "10"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return exit_code(argv, out);
    }

    // The SHA-256 fingerprint of the certificate the server presents now.
    std::string served_fingerprint() const {
        auto out = run_program(
            {"/bin/sh", "-c",
             fmt::format("openssl s_client -connect {} -servername localhost </dev/null "
                         "2>/dev/null | openssl x509 -noout -fingerprint -sha256",
                         address())});
        return out ? *out : std::string();
    }
};

std::string fingerprint(const fs::path& cert) {
    auto out = run_program(
        {"/usr/bin/openssl", "x509", "-in", cert.string(), "-noout", "-fingerprint", "-sha256"});
    REQUIRE(out);
    return *out;
}

}  // namespace

TEST_CASE(
    "tls: curl with the CA gets /healthz; plain HTTP, a wrong CA, old TLS and weak ciphers fail") {
    Certs certs;
    TlsServer s({"--tls-cert", (certs.ca / "server.crt").string(), "--tls-key",
                 (certs.ca / "server.key").string()});

    std::string out;
    CHECK(s.curl({"--cacert", (certs.ca / "ca.crt").string(), s.https()}, &out) == 0);
    CHECK(out == R"({"status":"ok"})");
    // By name too: the certificate carries DNS:localhost.
    CHECK(s.curl({"--cacert", (certs.ca / "ca.crt").string(), "--resolve",
                  fmt::format("localhost:{}:127.0.0.1", s.server.port),
                  fmt::format("https://localhost:{}/healthz", s.server.port)}) == 0);

    // Plain HTTP to the TLS port: no answer, the connection just ends.
    CHECK(s.curl({fmt::format("http://{}/healthz", s.address())}) != 0);
    {
        auto client = http::Client::connect("127.0.0.1", s.server.port);
        REQUIRE(client);
        auto r = client->get("/healthz");
        CHECK_FALSE(r.is_ok());
    }
    // A CA that did not sign the server's certificate.
    CHECK(s.curl({"--cacert", (certs.other / "ca.crt").string(), s.https()}) == 60);
    // The system store does not know the dev CA either.
    CHECK(s.curl({s.https()}) == 60);

    // TLS 1.1 and a CBC suite are refused even when the client offers nothing else.
    CHECK(exit_code({"/usr/bin/openssl", "s_client", "-connect", s.address(), "-tls1_1", "-cipher",
                     "DEFAULT:@SECLEVEL=0"},
                    &out) != 0);
    CHECK(exit_code({"/usr/bin/openssl", "s_client", "-connect", s.address(), "-tls1_2", "-cipher",
                     "ECDHE-ECDSA-AES128-SHA"},
                    &out) != 0);
    // TLS 1.2 with ECDHE + AES-GCM, and TLS 1.3, are served.
    CHECK(exit_code({"/usr/bin/curl", "-sS", "--fail", "--tlsv1.2", "--tls-max", "1.2", "--cacert",
                     (certs.ca / "ca.crt").string(), s.https()}) == 0);
    CHECK(exit_code({"/usr/bin/curl", "-sS", "--fail", "--tlsv1.3", "--cacert",
                     (certs.ca / "ca.crt").string(), s.https()}) == 0);

    // Still up after all of that.
    CHECK(s.curl({"--cacert", (certs.ca / "ca.crt").string(), s.https()}) == 0);
    CHECK(s.server.process.stderr_text().find("tls.handshake_failed") != std::string::npos);
}

TEST_CASE(
    "tls: a client that never handshakes, or trickles it, is closed within the header timeout") {
    Certs certs;
    TlsServer s({"--tls-cert", (certs.ca / "server.crt").string(), "--tls-key",
                 (certs.ca / "server.key").string()});

    // Silent: connects and sends nothing.
    auto silent = http::Client::connect("127.0.0.1", s.server.port);
    REQUIRE(silent);
    // Closed by the header timeout (1 s), far below the idle timeout (60 s); the read's
    // timeout only bounds a failing test. No stopwatch: it would measure the load.
    auto closed = silent->read_until_close(20s);
    CHECK(closed.is_ok());

    // Trickling: the first bytes of a TLS record, one every 200 ms, for ever.
    auto slow = http::Client::connect("127.0.0.1", s.server.port);
    REQUIRE(slow);
    const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    bool cut = false;
    for (char c : hello) {
        if (!slow->send_raw(std::string(1, c)).is_ok()) {
            cut = true;
            break;
        }
        std::this_thread::sleep_for(200ms);  // kept: the trickle's pace is the test
    }
    // Cut while the trickle goes on (up to 20 s more): the deadline is not extended by
    // bytes arriving. A failed send shows it; a stopwatch would measure the load.
    for (int i = 0; !cut && i < 100; ++i) {
        if (!slow->send_raw("\x00").is_ok()) cut = true;
        std::this_thread::sleep_for(200ms);
    }
    CHECK(cut);

    // The server is still there for a real client.
    CHECK(s.curl({"--cacert", (certs.ca / "ca.crt").string(), s.https()}) == 0);
    CHECK(s.server.process.stderr_text().find("timed out") != std::string::npos);
}

TEST_CASE("tls: the web UI's session cookie is Secure over TLS") {
    Certs certs;
    TempDir auth_dir = TempDir::create("netkeep-tls-auth").value();
    const std::string token = "nk_tls_session_test_token";
    auto hash = run_program({"/bin/sh", "-c", fmt::format("printf %s {} | sha256sum", token)});
    REQUIRE(hash);
    const fs::path auth = auth_dir.path() / "tokens.json";
    std::ofstream(auth) << fmt::format(
        R"({{"tokens": [{{"name": "ops", "role": "admin", "sha256": "{}"}}]}})",
        hash->substr(0, 64));
    fs::permissions(auth, fs::perms::owner_read | fs::perms::owner_write);
    TlsServer s({"--tls-cert", (certs.ca / "server.crt").string(), "--tls-key",
                 (certs.ca / "server.key").string(), "--auth", auth.string()});
    std::string out;
    CHECK(s.curl({"--cacert", (certs.ca / "ca.crt").string(), "-i", "-H",
                  "Content-Type: application/json", "--data",
                  fmt::format(R"({{"token": "{}"}})", token), s.https("/ui/login")},
                 &out) == 0);
    CHECK(out.find("Set-Cookie: nk_session=nks_") != std::string::npos);
    CHECK(out.find("HttpOnly; SameSite=Strict; Secure") != std::string::npos);
}

TEST_CASE("tls: --tls-client-ca requires a client certificate from that CA") {
    Certs certs;
    TlsServer s({"--tls-cert", (certs.ca / "server.crt").string(), "--tls-key",
                 (certs.ca / "server.key").string(), "--tls-client-ca",
                 (certs.ca / "ca.crt").string()});
    const std::string cacert = (certs.ca / "ca.crt").string();

    std::string out;
    // No client certificate (TLS 1.3 reports the refusal after the handshake: any nonzero).
    CHECK(s.curl({"--cacert", cacert, s.https()}) != 0);
    // A certificate from another CA.
    CHECK(s.curl({"--cacert", cacert, "--cert", (certs.other / "client.crt").string(), "--key",
                  (certs.other / "client.key").string(), s.https()}) != 0);
    // The server's own certificate is not a client certificate (extendedKeyUsage).
    CHECK(s.curl({"--cacert", cacert, "--cert", (certs.ca / "server.crt").string(), "--key",
                  (certs.ca / "server.key").string(), s.https()}) != 0);
    // The right one.
    CHECK(s.curl({"--cacert", cacert, "--cert", (certs.ca / "client.crt").string(), "--key",
                  (certs.ca / "client.key").string(), s.https()},
                 &out) == 0);
    CHECK(out == R"({"status":"ok"})");
}

TEST_CASE("tls: SIGHUP serves a replaced certificate; a broken one is refused and the old stays") {
    Certs certs;
    TempDir live = TempDir::create("netkeep-tls-live").value();
    const auto crt = live / "server.crt";
    const auto key = live / "server.key";
    fs::copy_file(certs.ca / "server.crt", crt);
    fs::copy_file(certs.ca / "server.key", key);
    TlsServer s({"--tls-cert", crt.string(), "--tls-key", key.string()});

    const std::string first = fingerprint(certs.ca / "server.crt");
    const std::string second = fingerprint(certs.other / "server.crt");
    REQUIRE(first != second);
    CHECK(s.served_fingerprint() == first);

    // Rotation: the other CA's pair.
    fs::copy_file(certs.other / "server.crt", crt, fs::copy_options::overwrite_existing);
    fs::copy_file(certs.other / "server.key", key, fs::copy_options::overwrite_existing);
    REQUIRE(s.server.process.send_signal(SIGHUP).is_ok());
    CHECK(eventually([&] { return s.served_fingerprint() == second; }, 10s));
    CHECK(s.curl({"--cacert", (certs.other / "ca.crt").string(), s.https()}) == 0);

    // A broken certificate, then a certificate whose key does not match: both refused.
    std::ofstream(crt, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot base64\n";
    REQUIRE(s.server.process.send_signal(SIGHUP).is_ok());
    CHECK(eventually(
        [&] { return count(s.server.process.stderr_text(), "tls.reload_failed") == 1; }, 10s));
    CHECK(s.served_fingerprint() == second);
    fs::copy_file(certs.ca / "server.crt", crt, fs::copy_options::overwrite_existing);
    REQUIRE(s.server.process.send_signal(SIGHUP).is_ok());
    CHECK(eventually(
        [&] { return count(s.server.process.stderr_text(), "tls.reload_failed") == 2; }, 10s));
    CHECK(s.server.process.stderr_text().find("does not belong to") != std::string::npos);
    CHECK(s.served_fingerprint() == second);
    CHECK(s.curl({"--cacert", (certs.other / "ca.crt").string(), s.https()}) == 0);
}

TEST_CASE("tls: netkeepd refuses incomplete or unreadable TLS settings with exit 2") {
    Certs certs;
    TempDir dir = TempDir::create("netkeep-tls-args").value();
    fs::create_directories(dir / "inventory");
    std::ofstream(dir / "inventory" / "devices.json") << R"({"devices": []})";
    std::ofstream(dir / "inventory" / "jobs.json") << R"({"jobs": []})";
    auto run = [&](std::vector<std::string> tls_args, std::string& err) {
        std::vector<std::string> argv{env_path("NETKEEPD"),
                                      "--data-dir",
                                      (dir / "data").string(),
                                      "--inventory",
                                      (dir / "inventory").string(),
                                      "--listen",
                                      "127.0.0.1:0"};
        argv.insert(argv.end(), tls_args.begin(), tls_args.end());
        return exit_code(argv, &err);
    };
    const std::string crt = (certs.ca / "server.crt").string();
    const std::string key = (certs.ca / "server.key").string();
    std::string err;
    CHECK(run({"--tls-cert", crt}, err) == 2);
    CHECK(err.find("--tls-cert and --tls-key go together") != std::string::npos);
    CHECK(run({"--tls-cert", crt, "--tls-key", (dir / "nope.key").string()}, err) == 2);
    CHECK(err.find("--tls-key " + (dir / "nope.key").string()) != std::string::npos);
    CHECK(run({"--tls-cert", key, "--tls-key", key}, err) == 2);  // a key where the cert goes
    CHECK(err.find("--tls-cert") != std::string::npos);
    CHECK(run({"--tls-cert", crt, "--tls-key", (certs.other / "server.key").string()}, err) == 2);
    CHECK(err.find("does not belong to") != std::string::npos);
    CHECK(run({"--tls-client-ca", crt}, err) == 2);
}

TEST_CASE("tls: the worker backs up over https with --ca-file, and fails clearly with a wrong CA") {
    Certs certs;
    TempDir state = TempDir::create("fake-state").value();
    FakeDevice fake =
        start_fake_device({"--password", k_password, "--state-dir", state.path().string()});
    DeviceEntry d{"r1"};
    d.port = fake.ssh_port;
    d.pass = k_password;
    Backup b(
        {d}, R"("schedule": {"interval": 2}, "timeout": 20)",
        R"(["terminal length 0", "show run"])",
        {"--tls-cert", (certs.ca / "server.crt").string(), "--tls-key",
         (certs.ca / "server.key").string(), "--tls-client-ca", (certs.ca / "ca.crt").string()});
    REQUIRE(b.url().starts_with("https://"));

    // A worker that trusts the wrong CA never gets a lease, and says why.
    {
        Process bad = b.start_worker({"--ca-file", (certs.other / "ca.crt").string(),
                                      "--client-cert", (certs.ca / "client.crt").string(),
                                      "--client-key", (certs.ca / "client.key").string()});
        CHECK(eventually(
            [&] {
                return bad.stderr_text().find("certificate verify failed") != std::string::npos;
            },
            10s));
        CHECK(stop(bad).code == 0);
    }
    // Right CA, no client certificate: the server refuses it.
    {
        Process anon = b.start_worker({"--ca-file", (certs.ca / "ca.crt").string()});
        CHECK(eventually(
            [&] { return anon.stderr_text().find("poll.failed") != std::string::npos; }, 10s));
        CHECK(stop(anon).code == 0);
    }
    CHECK(b.commits() == 0);

    SpawnOptions env;
    env.env.push_back(std::string("NETKEEP_TOKEN=") + k_token);
    Process worker = b.start_worker(
        {"--ca-file", (certs.ca / "ca.crt").string(), "--client-cert",
         (certs.ca / "client.crt").string(), "--client-key", (certs.ca / "client.key").string()},
        env);
    REQUIRE_MESSAGE(eventually([&] { return b.commits() >= 1; }, 30s), worker.stderr_text());
    CHECK(b.file("r1") == print_config("r1"));
    CHECK(stop(worker).code == 0);
    const std::string log = worker.stderr_text();
    CHECK(log.find("token=NETKEEP_TOKEN") != std::string::npos);
    CHECK(log.find(k_token) == std::string::npos);
    CHECK(log.find(k_password) == std::string::npos);
    CHECK(log.find("poll.failed") == std::string::npos);
}

TEST_CASE("tls: the worker refuses --token on the command line and TLS flags without https") {
    auto run = [](std::vector<std::string> args, std::string& err) {
        args.insert(args.begin(), env_path("NETKEEP_WORKER"));
        return exit_code(args, &err);
    };
    std::string err;
    CHECK(run({"--server", "https://127.0.0.1:1", "--token", k_token}, err) == 2);
    CHECK(err.find("--token-file") != std::string::npos);
    CHECK(err.find(k_token) == std::string::npos);
    CHECK(run({"--server", "http://127.0.0.1:1", "--ca-file", "/etc/hostname"}, err) == 2);
    CHECK(err.find("https://") != std::string::npos);
    CHECK(run({"--server", "https://127.0.0.1:1", "--ca-file", "/nonexistent/ca.crt"}, err) == 2);
    CHECK(err.find("/nonexistent/ca.crt") != std::string::npos);
}
