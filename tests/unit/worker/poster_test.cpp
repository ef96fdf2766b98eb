// Posting completions against a scripted HTTP peer: the streamed multipart body arrives
// whole (also from a spilled buffer), 5xx and dropped connections are retried with
// backoff, a 4xx is not, and retries stop at the give-up time. The connection pool:
// bounded, shared by threads that wait for a free connection, and never given back a
// connection after an error.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
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

// One request (head + Content-Length body); empty when the peer closed first.
std::string read_request(int c) {
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

namespace {

// A keep-alive HTTP peer: a thread per connection answers each request with 200 after
// `delay`, and counts the connections (at once and in total). With `close_after_answer`
// it closes each connection after one answer while saying keep-alive: a server whose
// idle timeout ended a pooled connection.
class KeepAlivePeer {
public:
    explicit KeepAlivePeer(std::chrono::milliseconds delay = 0ms, bool close_after_answer = false)
        : delay_(delay), close_after_answer_(close_after_answer) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 128) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~KeepAlivePeer() {
        ::shutdown(fd_, SHUT_RDWR);
        acceptor_.join();
        {
            std::lock_guard lock(mutex_);
            for (int c : open_fds_) ::shutdown(c, SHUT_RDWR);
        }
        for (auto& t : connections_) t.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }
    int accepted() {
        std::lock_guard lock(mutex_);
        return accepted_;
    }
    int most_open() {
        std::lock_guard lock(mutex_);
        return most_open_;
    }
    int requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void accept_loop() {
        for (;;) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            {
                std::lock_guard lock(mutex_);
                ++accepted_;
                open_fds_.push_back(c);
                most_open_ = std::max(most_open_, int(open_fds_.size()));
            }
            connections_.emplace_back([this, c] { serve(c); });
        }
    }
    void serve(int c) {
        const std::string ok =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        for (;;) {
            if (read_request(c).empty()) break;
            {
                std::lock_guard lock(mutex_);
                ++requests_;
            }
            std::this_thread::sleep_for(delay_);
            if (::write(c, ok.data(), ok.size()) != ssize_t(ok.size()) || close_after_answer_)
                break;
        }
        std::lock_guard lock(mutex_);
        open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), c));
        ::close(c);
    }

    const std::chrono::milliseconds delay_;
    const bool close_after_answer_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread acceptor_;
    std::vector<std::thread> connections_;  // the acceptor's only, then the destructor's
    std::mutex mutex_;
    std::vector<int> open_fds_;
    int accepted_ = 0;
    int most_open_ = 0;
    int requests_ = 0;
};

}  // namespace

namespace {

// Polls `pred` every 5 ms for up to 10 s.
template <typename Pred>
bool wait_for(Pred pred) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace

TEST_CASE("16 threads post 80 results over a pool of 3 connections, each kept alive") {
    KeepAlivePeer peer(5ms);
    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms}, {}, 3);
    std::atomic<int> recorded = 0;
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < 16; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 5; ++i)
                    if (poster.post(k_completion, nullptr,
                                    std::chrono::steady_clock::now() + 30s) ==
                        Poster::Outcome::recorded)
                        ++recorded;
            });
        for (auto& t : threads) t.join();
    }
    CHECK(recorded == 80);
    CHECK(peer.requests() == 80);
    // Never more than the pool's 3 at once, and none replaced: nothing went wrong.
    CHECK(peer.accepted() <= 3);
    CHECK(peer.most_open() <= 3);
    const auto stats = poster.pool_stats();
    CHECK(stats.size == 3);
    CHECK(stats.opened == peer.accepted());
    CHECK(stats.idle == peer.accepted());  // all back in the pool, open
    CHECK(stats.lent == 0);
    CHECK(stats.waits > 0);  // 16 threads, 3 places: some had to wait
}

TEST_CASE("a thread waits for a free connection, and stops waiting at its deadline") {
    KeepAlivePeer peer;
    ConnectionPool pool(ServerUrl{"127.0.0.1", peer.port(), ""}, {}, 1);
    std::uint16_t first_port = 0;
    std::optional<ConnectionPool::Slot> held;
    {
        auto slot = pool.acquire(std::chrono::steady_clock::now() + 1s);
        REQUIRE(slot.is_ok());
        CHECK_FALSE(slot->has_connection());
        auto client = slot->client();
        REQUIRE(client.is_ok());
        first_port = (*client)->local_port();
        held.emplace(std::move(slot.value()));
    }
    // The one place is taken: a deadline ends the wait.
    const auto t0 = std::chrono::steady_clock::now();
    auto none = pool.acquire(t0 + 100ms);
    CHECK_FALSE(none.is_ok());
    CHECK(none.status().code() == Status::Code::unavailable);
    CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
    CHECK(pool.stats().waits == 1);
    CHECK(pool.stats().wait_time >= 100ms);

    // A waiting thread gets the same connection once it comes back.
    std::atomic<bool> got = false;
    std::uint16_t second_port = 0;
    std::thread waiter([&] {
        auto slot = pool.acquire(std::chrono::steady_clock::now() + 20s);
        if (!slot.is_ok()) return;  // a REQUIRE here would throw out of the thread
        CHECK(slot->has_connection());
        if (auto client = slot->client(); client.is_ok()) second_port = (*client)->local_port();
        got = true;
    });
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(got);
    held.reset();
    waiter.join();
    CHECK(got);
    CHECK(second_port == first_port);
    CHECK(peer.accepted() == 1);
}

TEST_CASE("a connection in an unknown state is closed, not given back; its place is") {
    KeepAlivePeer peer;
    ConnectionPool pool(ServerUrl{"127.0.0.1", peer.port(), ""}, {}, 1);
    {
        auto slot = pool.acquire(std::chrono::steady_clock::now() + 1s);
        REQUIRE(slot.is_ok());
        REQUIRE(slot->client().is_ok());
        slot->discard();
    }
    auto stats = pool.stats();
    CHECK(stats.idle == 0);
    CHECK(stats.lent == 0);
    auto slot = pool.acquire(std::chrono::steady_clock::now() + 1s);
    REQUIRE(slot.is_ok());  // the place came back: no wait
    CHECK_FALSE(slot->has_connection());
    REQUIRE(slot->client().is_ok());
    CHECK(pool.stats().opened == 2);

    // Through the Poster: an answer with "Connection: close", a dropped connection and a
    // 503 leave nothing in the pool, and a pool of 1 still gets to the 200.
    Peer closing({answer(503, "{}"), "", answer(200, "{}")});
    Poster poster(ServerUrl{"127.0.0.1", closing.port(), ""}, "w1", PostPolicy{10ms, 10ms}, {}, 1);
    CHECK(poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
          Poster::Outcome::recorded);
    CHECK(closing.requests().size() == 3);
    CHECK(poster.pool_stats().idle == 0);
    CHECK(poster.pool_stats().lent == 0);
}

TEST_CASE("a pooled connection the server closed meanwhile is replaced quietly") {
    KeepAlivePeer peer(0ms, true);
    StderrCapture log;
    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms}, {}, 1);
    for (int i = 0; i < 3; ++i) {
        CHECK(poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
              Poster::Outcome::recorded);
        std::this_thread::sleep_for(20ms);  // the peer's close arrives
    }
    const std::string text = log.text();
    CHECK(peer.requests() == 3);
    CHECK(peer.accepted() == 3);
    CHECK(text.find("completion.retry") == std::string::npos);
}

TEST_CASE("a post that finds every connection busy until its give-up time gives up") {
    KeepAlivePeer peer(1500ms);
    Poster poster(ServerUrl{"127.0.0.1", peer.port(), ""}, "w1", PostPolicy{10ms, 10ms}, {}, 1);
    std::atomic<bool> first_recorded = false;
    std::thread first([&] {
        first_recorded =
            poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 10s) ==
            Poster::Outcome::recorded;
    });
    // The first post holds the one connection while the peer takes 1.5 s to answer.
    REQUIRE(wait_for([&] { return poster.pool_stats().lent == 1; }));
    StderrCapture log;
    CHECK(poster.post(k_completion, nullptr, std::chrono::steady_clock::now() + 100ms) ==
          Poster::Outcome::gave_up);
    const std::string text = log.text();
    first.join();
    CHECK(first_recorded);
    CHECK(peer.requests() == 1);  // the second never reached the server
    CHECK(text.find("completion.gave_up") != std::string::npos);
    CHECK(text.find("stayed busy until the give-up time") != std::string::npos);
}
