// The libcurl layer against a scripted loopback server: one thread accepts one
// connection, reads what the client sends, and answers a canned script.

#include "netkeep/http_client.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Listens on 127.0.0.1 at an ephemeral port; serve() runs on a thread and hands the
// accepted socket to the script.
class LoopbackServer {
public:
    LoopbackServer() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        socklen_t length = sizeof address;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        REQUIRE(::listen(fd_, 4) == 0);
    }
    ~LoopbackServer() {
        join();
        ::close(fd_);
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    std::uint16_t port() const { return port_; }

    void serve(std::function<void(int)> script) {
        thread_ = std::thread([this, script = std::move(script)] {
            int client = ::accept(fd_, nullptr, nullptr);
            if (client < 0) return;
            script(client);
            ::close(client);
        });
    }

private:
    int fd_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

// Reads until `end` was seen (or the peer closed); returns what came.
std::string read_until(int fd, std::string_view end) {
    std::string got;
    char buffer[4096];
    while (got.find(end) == std::string::npos) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
}

void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n <= 0) return;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string url(const LoopbackServer& server, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
}

}  // namespace

TEST_CASE("a POST sends its headers and body and returns status, headers and body") {
    LoopbackServer server;
    std::string request_seen;
    server.serve([&](int fd) {
        request_seen = read_until(fd, "{\"a\":1}");
        write_all(fd, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Thing: yes\r\n\r\nok");
    });
    netkeep::HttpRequest request;
    request.method = "POST";
    request.url = url(server, "/hook");
    request.headers = {{"Content-Type", "application/json"}};
    request.body = "{\"a\":1}";
    auto response = netkeep::http_request(request);
    REQUIRE(response.is_ok());
    CHECK(response->status == 201);
    CHECK(response->body == "ok");
    CHECK(response->header("x-thing") == "yes");
    CHECK(request_seen.starts_with("POST /hook HTTP/1.1\r\n"));
    CHECK(request_seen.find("Content-Type: application/json\r\n") != std::string::npos);
    CHECK(request_seen.find("Expect:") == std::string::npos);
}

TEST_CASE("an answer over max_response is too_large, not truncated") {
    LoopbackServer server;
    server.serve([&](int fd) {
        read_until(fd, "\r\n\r\n");
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
    });
    netkeep::HttpRequest request;
    request.url = url(server, "/big");
    request.max_response = 1000;
    auto response = netkeep::http_request(request);
    REQUIRE_FALSE(response.is_ok());
    CHECK(response.status().code() == netkeep::Status::Code::too_large);
}

TEST_CASE("a server that never answers is cut at the timeout, and the error hides the path") {
    LoopbackServer server;
    std::atomic<bool> done = false;
    server.serve([&](int fd) {
        read_until(fd, "\r\n\r\n");
        while (!done) std::this_thread::sleep_for(10ms);
    });
    netkeep::HttpRequest request;
    request.url = url(server, "/services/T000/SECRET-TOKEN");
    request.timeout = 300ms;
    auto started = std::chrono::steady_clock::now();
    auto response = netkeep::http_request(request);
    done = true;
    REQUIRE_FALSE(response.is_ok());
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(response.status().code() == netkeep::Status::Code::unavailable);
    CHECK(response.status().message().find("SECRET-TOKEN") == std::string::npos);
    CHECK(response.status().message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("a request in flight ends soon after its cancel flag is set, long before its timeout") {
    LoopbackServer server;
    std::atomic<bool> done = false;
    server.serve([&](int fd) {
        read_until(fd, "\r\n\r\n");
        while (!done) std::this_thread::sleep_for(10ms);
    });
    std::atomic<bool> cancel = false;
    netkeep::HttpRequest request;
    request.url = url(server, "/services/T000/SECRET-TOKEN");
    request.timeout = 60s;
    request.cancel = &cancel;
    std::thread stopper([&] {
        std::this_thread::sleep_for(300ms);
        cancel = true;
    });
    auto started = std::chrono::steady_clock::now();
    auto response = netkeep::http_request(request);
    stopper.join();
    done = true;
    REQUIRE_FALSE(response.is_ok());
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(response.status().message().find("cancelled") != std::string::npos);
    CHECK(response.status().message().find("SECRET-TOKEN") == std::string::npos);
}

TEST_CASE("a closed port is unavailable; other schemes are refused before any I/O") {
    std::uint16_t port = 0;
    {
        LoopbackServer server;  // bound then closed: nothing listens there now
        port = server.port();
    }
    netkeep::HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    auto response = netkeep::http_request(request);
    REQUIRE_FALSE(response.is_ok());
    CHECK(response.status().code() == netkeep::Status::Code::unavailable);

    for (const char* bad : {"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x/", ""}) {
        request.url = bad;
        auto refused = netkeep::http_request(request);
        REQUIRE_FALSE(refused.is_ok());
        CHECK(refused.status().code() == netkeep::Status::Code::invalid_argument);
    }
}

TEST_CASE("a redirect is not followed unless asked, and never to another protocol") {
    LoopbackServer server;
    server.serve([&](int fd) {
        read_until(fd, "\r\n\r\n");
        write_all(
            fd, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n");
    });
    netkeep::HttpRequest request;
    request.url = url(server, "/");
    auto response = netkeep::http_request(request);
    REQUIRE(response.is_ok());
    CHECK(response->status == 302);
    CHECK(response->body.empty());
}

namespace {

// Plays a relay without STARTTLS: EHLO, MAIL, RCPT, DATA; keeps what DATA carried.
void smtp_script(int fd, std::string& data, bool offer_auth) {
    write_all(fd, "220 sink ESMTP\r\n");
    read_until(fd, "\r\n");  // EHLO
    write_all(fd, offer_auth ? "250-sink\r\n250 AUTH PLAIN\r\n" : "250 sink\r\n");
    for (;;) {
        std::string line = read_until(fd, "\r\n");
        if (line.empty()) return;
        if (line.starts_with("DATA")) {
            write_all(fd, "354 go ahead\r\n");
            data = read_until(fd, "\r\n.\r\n");
            write_all(fd, "250 queued\r\n");
        } else if (line.starts_with("QUIT")) {
            write_all(fd, "221 bye\r\n");
            return;
        } else if (line.starts_with("AUTH")) {
            write_all(fd, "235 ok\r\n");
        } else {
            write_all(fd, "250 ok\r\n");
        }
    }
}

}  // namespace

TEST_CASE("mail reaches a plain relay; STARTTLS required fails when the relay has none") {
    netkeep::MailRequest mail;
    mail.from = "netkeep@example.net";
    mail.to = {"noc@example.net"};
    mail.message = "From: netkeep@example.net\r\nSubject: test\r\n\r\nconfig changed\r\n";
    mail.timeout = 5s;
    {
        LoopbackServer server;
        std::string data;
        server.serve([&](int fd) { smtp_script(fd, data, false); });
        mail.url = "smtp://127.0.0.1:" + std::to_string(server.port());
        mail.tls = netkeep::MailRequest::Tls::none;
        auto sent = netkeep::send_mail(mail);
        CHECK_MESSAGE(sent.is_ok(), sent.message());
        server.join();  // the script has kept all of DATA
        CHECK(data.find("config changed") != std::string::npos);
    }
    {
        LoopbackServer server;
        std::string data;
        server.serve([&](int fd) { smtp_script(fd, data, false); });
        mail.url = "smtp://127.0.0.1:" + std::to_string(server.port());
        mail.tls = netkeep::MailRequest::Tls::starttls_required;
        auto sent = netkeep::send_mail(mail);
        CHECK_FALSE(sent.is_ok());
    }
}

TEST_CASE("mail addresses cannot inject SMTP commands") {
    netkeep::MailRequest mail;
    mail.url = "smtp://127.0.0.1:1";
    mail.from = "a@b\r\nRCPT TO:<evil@x>";
    mail.to = {"noc@example.net"};
    CHECK(netkeep::send_mail(mail).code() == netkeep::Status::Code::invalid_argument);
    mail.from = "a@b";
    mail.to = {"noc@example.net>\r\nDATA"};
    CHECK(netkeep::send_mail(mail).code() == netkeep::Status::Code::invalid_argument);
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2") {
    CHECK(netkeep::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
