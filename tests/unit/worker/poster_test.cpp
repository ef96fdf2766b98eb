// Posting completions against a scripted HTTP peer: the streamed multipart body arrives
// whole (also from a spilled buffer), 5xx and dropped connections are retried with
// backoff, a 4xx is not, and retries stop at the give-up time.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "worker/completion.hpp"
#include "worker/worker.hpp"

using namespace netkeep;
using namespace netkeep::worker;
using namespace std::chrono_literals;

namespace {

// Accepts one connection per scripted answer, reads one request (head + Content-Length
// body), answers it (an empty answer: close without one) and closes.
class Peer {
public:
    explicit Peer(std::vector<std::string> answers) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this, answers = std::move(answers)] {
            for (const auto& answer : answers) {
                int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;
                std::string request = read_request(c);
                {
                    std::lock_guard lock(mutex_);
                    requests_.push_back(request);
                }
                if (!answer.empty()) (void)::write(c, answer.data(), answer.size());
                ::close(c);
            }
        });
    }
    ~Peer() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }
    std::vector<std::string> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    static std::string read_request(int c) {
        std::string in;
        char buf[65536];
        std::size_t need = std::string::npos;
        while (need == std::string::npos || in.size() < need) {
            ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) break;
            in.append(buf, std::size_t(n));
            if (need == std::string::npos) {
                auto end = in.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                auto cl = in.find("Content-Length: ");
                if (cl == std::string::npos || cl > end) return in;
                need = end + 4 + std::stoull(in.substr(cl + 16));
            }
        }
        return in;
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> requests_;
};

std::string answer(int status, std::string_view body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           std::string(body);
}

const Completion k_completion{"r1", "show_run", 100, 101, 102, std::nullopt};

}  // namespace

TEST_CASE("a 300 KiB spilled output is streamed whole, after a 503 and a dropped connection") {
    Peer peer({answer(503, R"({"error": "busy"})"), "", answer(200, R"({"seq":7})")});
    OutputBuffer out(1024);
    std::string content;
    for (int i = 0; i < 300 * 1024 / 16; ++i)
        content += "line " + std::to_string(100000 + i) + "\r\n\n";
    REQUIRE(out.write(content).is_ok());
    REQUIRE(out.spilled());

    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 40ms});
    CHECK(poster.post(k_completion, &out, std::chrono::steady_clock::now() + 10s) ==
          Poster::Outcome::recorded);
    auto requests = peer.requests();
    REQUIRE(requests.size() == 3);
    for (const auto& r : requests) {
        CHECK(r.starts_with("POST /worker/complete HTTP/1.1\r\n"));
        CHECK(r.find("\r\nX-Netkeep-Worker: w1\r\n") != std::string::npos);
        const auto b = r.find("boundary=");
        REQUIRE(b != std::string::npos);
        const std::string boundary = r.substr(b + 9, r.find("\r\n", b) - b - 9);
        const std::string head =
            "filename=\"show_run\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        const auto start = r.find(head);
        REQUIRE(start != std::string::npos);
        const std::string tail = "\r\n--" + boundary + "--\r\n";
        REQUIRE(r.ends_with(tail));
        CHECK(r.substr(start + head.size(), r.size() - tail.size() - start - head.size()) ==
              content);
    }
}

TEST_CASE("a 4xx is not retried; retries stop at the give-up time") {
    {
        Peer peer({answer(409, R"({"error": "closed"})"), answer(200, "{}")});
        Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms});
        CHECK(poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
              Poster::Outcome::rejected);
        CHECK(peer.requests().size() == 1);
    }
    Peer peer({answer(500, "{}"), answer(500, "{}"), answer(500, "{}"), answer(500, "{}")});
    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{100ms, 100ms});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(poster.post(k_completion, nullptr, t0 + 250ms) == Poster::Outcome::gave_up);
    // Generous: it only tells a give-up from retrying on (the request count says when it
    // stopped); a tighter bound would measure the machine's load.
    CHECK(std::chrono::steady_clock::now() - t0 < 20s);
    CHECK(peer.requests().size() == 3);  // at 0, 100 and 200 ms
    // Let the peer's last accept finish.
    Poster other(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms});
    (void)other.post(k_completion, nullptr, std::chrono::steady_clock::now());
}

namespace {

// Sends what is written to stderr (the log lines) to a file while it lives; text() reads
// it back.
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        std::FILE* f = std::tmpfile();
        REQUIRE(f);
        file_ = f;
        ::dup2(::fileno(f), 2);
    }
    ~StderrCapture() {
        restore();
        std::fclose(file_);
    }
    std::string text() {
        restore();
        std::rewind(file_);
        std::string out;
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};

constexpr const char* k_token = "tok-Zq81-secret.value_x";

}  // namespace

TEST_CASE("the bearer token goes in every completion post and never into the log") {
    Peer peer({"", answer(503, R"({"error": "busy"})"), answer(409, R"({"error": "closed"})")});
    StderrCapture log;
    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms},
                  ServerAccess{nullptr, k_token});
    CHECK(poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
          Poster::Outcome::rejected);
    const std::string text = log.text();
    auto requests = peer.requests();
    REQUIRE(requests.size() == 3);
    for (const auto& r : requests)
        CHECK(r.find(std::string("\r\nAuthorization: Bearer ") + k_token + "\r\n") !=
              std::string::npos);
    CHECK(text.find("completion.retry") != std::string::npos);
    CHECK(text.find("completion.rejected") != std::string::npos);
    CHECK(text.find(k_token) == std::string::npos);

    // Without a token, no Authorization header at all.
    Peer plain({answer(200, "{}")});
    Poster anonymous(ServerUrl{"127.0.0.1", plain.port(), ""}, "w1", PostPolicy{10ms, 10ms});
    CHECK(anonymous.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
          Poster::Outcome::recorded);
    REQUIRE(plain.requests().size() == 1);
    CHECK(plain.requests()[0].find("Authorization") == std::string::npos);
}

TEST_CASE("the worker's polls carry the bearer token; its log lines do not") {
    const std::string no_jobs = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    Peer peer({answer(401, R"({"error": "unknown token"})"), no_jobs, no_jobs, no_jobs});
    char dir_template[] = "/tmp/netkeep-worker-poll-XXXXXX";
    REQUIRE(::mkdtemp(dir_template));
    auto options = parse_worker_args({"--server", "http://127.0.0.1:" + std::to_string(peer.port()),
                                      "--seconds", "1", "--concurrency", "1", "--known-hosts",
                                      std::string(dir_template) + "/kh"});
    REQUIRE(options.is_ok());
    REQUIRE(load_access(*options, k_token).is_ok());
    std::string text;
    {
        StderrCapture log;
        Worker worker(std::move(options.value()));
        std::thread poller([&] { CHECK(worker.run()); });
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (peer.requests().size() < 2 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(20ms);
        worker.request_stop();
        poller.join();
        text = log.text();
    }
    std::filesystem::remove_all(dir_template);
    auto requests = peer.requests();
    REQUIRE(requests.size() >= 2);
    for (const auto& r : requests) {
        CHECK(r.starts_with("GET /worker/next?"));
        CHECK(r.find(std::string("\r\nAuthorization: Bearer ") + k_token + "\r\n") !=
              std::string::npos);
    }
    CHECK(text.find("poll.failed") != std::string::npos);  // the 401
    CHECK(text.find("token=NETKEEP_TOKEN") != std::string::npos);
    CHECK(text.find(k_token) == std::string::npos);
}
