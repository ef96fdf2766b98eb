// TLS in-process: the server with certificates made by test_certs.hpp, the blocking
// Client as the peer. Certificate verification (CA, host name, client certificates),
// loading errors, reload, and the handshake's place under the header timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <asio/post.hpp>

#include "http/client.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"
#include "test_certs.hpp"

using namespace netkeep::http;
using namespace std::chrono_literals;
using netkeep::testing::TestCerts;

namespace {

// A server with `tls`, run on its own thread; /who answers the request's TLS facts and
// /echo its body.
class TlsTestServer {
public:
    explicit TlsTestServer(std::shared_ptr<TlsServerContext> tls) : tls_(std::move(tls)) {
        Router router;
        REQUIRE(router
                    .add("GET", "/who",
                         [](Request& r) -> asio::awaitable<Response> {
                             if (!r.tls()) co_return text_response(200, "plain");
                             co_return text_response(200, "tls:" + r.tls()->client_subject);
                         })
                    .is_ok());
        REQUIRE(router
                    .add(
                        "POST", "/echo",
                        [](Request& r) -> asio::awaitable<Response> {
                            co_return text_response(200, r.body().text());
                        },
                        RouteOptions{.max_body = 4 << 20})
                    .is_ok());
        ServerOptions options;
        options.log = [](std::string_view) {};
        options.header_timeout = 500ms;
        options.linger_timeout = 200ms;
        options.tls = tls_;
        server_ = std::make_unique<Server>(io_, std::move(router), std::move(options));
        auto endpoint = server_->listen("127.0.0.1", 0);
        REQUIRE(endpoint);
        port_ = endpoint->port();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TlsTestServer() {
        asio::post(io_, [this] { server_->abort(); });
        thread_.join();
    }

    // Runs `f` on the server's thread (reload() belongs there).
    template <typename F>
    auto on_io(F f) {
        std::promise<decltype(f())> result;
        asio::post(io_, [&] { result.set_value(f()); });
        return result.get_future().get();
    }

    std::uint16_t port() const { return port_; }

private:
    std::shared_ptr<TlsServerContext> tls_;
    asio::io_context io_;
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

std::shared_ptr<asio::ssl::context> client_context(const TestCerts& certs, const std::string& ca,
                                                   const std::string& client = "") {
    TlsClientFiles files{certs.path(ca + ".crt"), "", ""};
    if (!client.empty()) {
        files.cert = certs.path(client + ".crt");
        files.key = certs.path(client + ".key");
    }
    auto ctx = make_client_context(files);
    REQUIRE_MESSAGE(ctx, ctx.status().to_string());
    return *ctx;
}

netkeep::Result<Client> connect(std::uint16_t port, std::shared_ptr<asio::ssl::context> tls,
                                std::string host = "127.0.0.1", std::string name = "") {
    ClientOptions options;
    options.tls = std::move(tls);
    options.tls_server_name = std::move(name);
    options.connect_timeout = 2s;
    options.io_timeout = 2s;
    return Client::connect(std::move(host), port, options);
}

// ca, server (localhost, 127.0.0.1, ::1), client (worker-1); other_ca, other_client.
struct Pki {
    TestCerts certs;
    Pki() {
        auto ca = certs.ca("ca");
        certs.leaf("server", ca, "DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth");
        certs.leaf("client", ca, "", "clientAuth");
        auto other = certs.ca("other_ca");
        certs.leaf("other_client", other, "", "clientAuth");
        certs.leaf("other_server", other, "DNS:localhost,IP:127.0.0.1", "serverAuth");
        certs.leaf("elsewhere", ca, "DNS:backup.example.net", "serverAuth");
    }
    TlsServerFiles files(const std::string& server, bool mtls = false) const {
        return {certs.path(server + ".crt"), certs.path(server + ".key"),
                mtls ? certs.path("ca.crt") : ""};
    }
};

// Sends what netkeep::log_line writes (to fd 2) into a file while it lives.
class StderrCapture {
public:
    StderrCapture() : path_(capture_path()) {
        std::fflush(stderr);
        saved_ = ::dup(STDERR_FILENO);
        int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }
    ~StderrCapture() {
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        std::remove(path_.c_str());
    }
    std::string text() const {
        std::ifstream in(path_);
        std::ostringstream out;
        out << in.rdbuf();
        return out.str();
    }

private:
    static std::string capture_path() {
        return (std::filesystem::temp_directory_path() /
                ("netkeep-tls-test-stderr-" + std::to_string(::getpid())))
            .string();
    }
    std::string path_;
    int saved_ = -1;
};

// The tls.handshake_failed lines in `log`, and the sum of their suppressed= counts.
std::pair<int, long> handshake_lines(const std::string& log) {
    std::istringstream in(log);
    std::string line;
    int lines = 0;
    long suppressed = 0;
    while (std::getline(in, line)) {
        if (line.find(" tls.handshake_failed ") == std::string::npos) continue;
        ++lines;
        if (auto at = line.find(" suppressed="); at != std::string::npos)
            suppressed += std::atol(line.c_str() + at + 12);
    }
    return {lines, suppressed};
}

std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("tls: loading errors name the file; a key must match its certificate") {
    Pki pki;
    auto& c = pki.certs;
    auto r = TlsServerContext::load({c.path("missing.crt"), c.path("server.key"), ""});
    REQUIRE_FALSE(r);
    CHECK(r.status().message().find("missing.crt") != std::string::npos);
    r = TlsServerContext::load({c.path("server.key"), c.path("server.key"), ""});
    REQUIRE_FALSE(r);
    CHECK(r.status().message().find("certificate '" + c.path("server.key")) != std::string::npos);
    r = TlsServerContext::load({c.path("server.crt"), c.path("client.key"), ""});
    REQUIRE_FALSE(r);
    CHECK(r.status().message().find("does not belong to") != std::string::npos);
    r = TlsServerContext::load({c.path("server.crt"), c.path("server.key"), c.path("none.crt")});
    REQUIRE_FALSE(r);
    CHECK(r.status().message().find("none.crt") != std::string::npos);
    auto client = make_client_context({c.path("none.crt"), "", ""});
    REQUIRE_FALSE(client);
    CHECK(client.status().message().find("none.crt") != std::string::npos);
    client = make_client_context({c.path("ca.crt"), c.path("client.crt"), ""});
    CHECK_FALSE(client);

    auto ok = TlsServerContext::load(pki.files("server"));
    REQUIRE(ok);
    CHECK((*ok)->cert_info().subject == "CN=server");
    CHECK((*ok)->cert_info().sha256_fingerprint.size() == 32 * 3 - 1);
}

TEST_CASE("tls: requests over TLS; keep-alive; a large body; Request::tls()") {
    Pki pki;
    auto tls = TlsServerContext::load(pki.files("server"));
    REQUIRE(tls);
    TlsTestServer server(*tls);
    auto client = connect(server.port(), client_context(pki.certs, "ca"));
    REQUIRE_MESSAGE(client, client.status().to_string());
    const auto port = client->local_port();
    auto r = client->get("/who");
    REQUIRE(r);
    CHECK(r->body == "tls:");  // no client certificate asked for
    std::string big(1 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = char('a' + i % 26);
    r = client->request("POST", "/echo", big);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == big);
    CHECK(client->local_port() == port);  // one connection throughout

    // By name: the certificate says localhost.
    auto named = connect(server.port(), client_context(pki.certs, "ca"), "localhost");
    REQUIRE_MESSAGE(named, named.status().to_string());
    CHECK(named->get("/who")->status == 200);
}

TEST_CASE("tls: the client refuses an unknown CA and a certificate for another name") {
    Pki pki;
    auto tls = TlsServerContext::load(pki.files("elsewhere"));
    REQUIRE(tls);
    TlsTestServer server(*tls);
    auto wrong_ca = connect(server.port(), client_context(pki.certs, "other_ca"));
    REQUIRE_FALSE(wrong_ca);
    CHECK(wrong_ca.status().message().find("certificate verify failed") != std::string::npos);

    auto wrong_name = connect(server.port(), client_context(pki.certs, "ca"));
    REQUIRE_FALSE(wrong_name);
    CHECK(wrong_name.status().message().find("certificate verify failed") != std::string::npos);

    auto right_name =
        connect(server.port(), client_context(pki.certs, "ca"), "127.0.0.1", "backup.example.net");
    REQUIRE_MESSAGE(right_name, right_name.status().to_string());
    CHECK(right_name->get("/who")->status == 200);
}

TEST_CASE("tls: mTLS requires a client certificate from the client CA") {
    Pki pki;
    auto tls = TlsServerContext::load(pki.files("server", true));
    REQUIRE(tls);
    CHECK((*tls)->requires_client_cert());
    TlsTestServer server(*tls);

    // Without a certificate, or with one from another CA: TLS 1.3 clients learn it from
    // the server's alert after their side of the handshake, so on the first request.
    for (std::string who : {"", "other_client"}) {
        INFO(who);
        auto c = connect(server.port(), client_context(pki.certs, "ca", who));
        if (c) CHECK_FALSE(c->get("/who").is_ok());
    }
    auto c = connect(server.port(), client_context(pki.certs, "ca", "client"));
    REQUIRE_MESSAGE(c, c.status().to_string());
    auto r = c->get("/who");
    REQUIRE(r);
    CHECK(r->body == "tls:CN=client");
}

TEST_CASE("tls: reload swaps the certificate for new connections; a bad file keeps the old") {
    Pki pki;
    auto& c = pki.certs;
    const auto live_crt = c.path("live.crt");
    const auto live_key = c.path("live.key");
    std::filesystem::copy_file(c.path("server.crt"), live_crt);
    std::filesystem::copy_file(c.path("server.key"), live_key);
    auto tls = TlsServerContext::load({live_crt, live_key, ""});
    REQUIRE(tls);
    TlsTestServer server(*tls);
    const auto first = (*tls)->cert_info().sha256_fingerprint;

    auto old_conn = connect(server.port(), client_context(c, "ca"));
    REQUIRE(old_conn);

    // A key that does not match: refused, old context stays.
    std::filesystem::copy_file(c.path("other_server.crt"), live_crt,
                               std::filesystem::copy_options::overwrite_existing);
    CHECK_FALSE(server.on_io([&] { return (*tls)->reload().is_ok(); }));
    CHECK(server.on_io([&] { return (*tls)->cert_info().sha256_fingerprint; }) == first);
    CHECK(connect(server.port(), client_context(c, "ca")).is_ok());

    std::filesystem::copy_file(c.path("other_server.key"), live_key,
                               std::filesystem::copy_options::overwrite_existing);
    CHECK(server.on_io([&] { return (*tls)->reload().is_ok(); }));
    CHECK(server.on_io([&] { return (*tls)->cert_info().sha256_fingerprint; }) != first);
    CHECK_FALSE(connect(server.port(), client_context(c, "ca")).is_ok());
    CHECK(connect(server.port(), client_context(c, "other_ca")).is_ok());
    // A connection made before the reload goes on with its context.
    CHECK(old_conn->get("/who")->status == 200);
}

TEST_CASE("tls: no handshake, a trickled one, and plain HTTP are closed; the server stays up") {
    Pki pki;
    auto tls = TlsServerContext::load(pki.files("server"));
    REQUIRE(tls);
    TlsTestServer server(*tls);

    auto silent = Client::connect("127.0.0.1", server.port());
    REQUIRE(silent);
    // Closed by the header timeout (500 ms): the generous read timeout only bounds a failing
    // test, and is still far below the idle timeout (60 s). No upper bound on the time:
    // that would measure the machine's load, not the server.
    CHECK(silent->read_until_close(10s).is_ok());

    // The deadline is absolute: bytes arriving do not extend it. Shown by the order of
    // events, not a stopwatch: the server closes while the trickle still goes on (a byte
    // every 100 ms for up to 5 s, ten times the deadline), so a send fails.
    auto slow = Client::connect("127.0.0.1", server.port());
    REQUIRE(slow);
    (void)slow->send_raw(std::string("\x16\x03\x01\x02\x00", 5));
    bool cut = false;
    for (int i = 0; i < 50 && !cut; ++i) {
        std::this_thread::sleep_for(100ms);  // kept: the trickle's pace is the test
        cut = !slow->send_raw(std::string(1, '\x01')).is_ok();
    }
    CHECK(cut);
    CHECK(slow->read_until_close(10s).is_ok());

    auto plain = Client::connect("127.0.0.1", server.port());
    REQUIRE(plain);
    CHECK_FALSE(plain->get("/who").is_ok());

    auto good = connect(server.port(), client_context(pki.certs, "ca"));
    REQUIRE(good);
    CHECK(good->get("/who")->status == 200);
}

// Any client can fail handshakes at will (plain HTTP to the TLS port): a flood writes a few
// lines a second, and every failure is still either logged or counted in a later line.
TEST_CASE("tls: a flood of failed handshakes writes a few lines a second, the rest counted") {
    Pki pki;
    auto tls = TlsServerContext::load(pki.files("server"));
    REQUIRE(tls);
    TlsTestServer server(*tls);
    constexpr int k_failures = 40;
    constexpr int k_budget = 5;  // LogBudget's default: lines a second

    StderrCapture capture;
    const std::int64_t first_second = unix_seconds();
    for (int i = 0; i < k_failures; ++i) {
        auto plain = Client::connect("127.0.0.1", server.port());
        REQUIRE(plain);
        CHECK_FALSE(plain->get("/who").is_ok());
    }
    const std::int64_t last_second = unix_seconds();
    // One more in a later second: its line carries the count of those left out before it.
    while (unix_seconds() <= last_second + 1) std::this_thread::sleep_for(20ms);
    auto plain = Client::connect("127.0.0.1", server.port());
    REQUIRE(plain);
    CHECK_FALSE(plain->get("/who").is_ok());

    // The server logs after the client saw its connection fail: wait for the last line.
    std::pair<int, long> seen;
    for (int i = 0; i < 100; ++i) {
        seen = handshake_lines(capture.text());
        if (seen.first + seen.second >= k_failures + 1) break;
        std::this_thread::sleep_for(20ms);
    }
    const auto [lines, suppressed] = seen;
    INFO("lines " << lines << ", suppressed " << suppressed);
    // The seconds the flood took, one more for lines the server wrote just after the
    // client saw its failure, and the probe's line.
    CHECK(lines <= k_budget * (last_second - first_second + 2) + 1);
    CHECK(lines < k_failures);
    CHECK(lines + suppressed == k_failures + 1);
}
