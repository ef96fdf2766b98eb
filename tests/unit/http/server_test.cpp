// The server in-process on loopback, driven by the blocking Client from the test thread.
// The io_context runs on a second thread; everything the handlers touch lives there.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "http/client.hpp"
#include "http/server.hpp"
#include "support/wait.hpp"

using namespace netkeep::http;
using netkeep::testing::wait_until;
using namespace std::chrono_literals;

namespace {

ServerOptions quiet_options() {
    ServerOptions options;
    options.log = [](std::string_view) {};
    options.header_timeout = 2s;
    options.idle_timeout = 5s;
    options.body_read_timeout = 2s;
    options.linger_timeout = 500ms;
    return options;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

class TestServer {
public:
    explicit TestServer(Router router, ServerOptions options = quiet_options())
        : server_(std::make_unique<Server>(io_, std::move(router), std::move(options))) {
        auto endpoint = server_->listen("127.0.0.1", 0);
        REQUIRE(endpoint);
        port_ = endpoint->port();
        thread_ = std::thread([this] {
            io_.run();
            done_.set_value();
        });
    }

    ~TestServer() {
        asio::post(io_, [this] { server_->abort(); });
        if (!wait_until_done(5s)) io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return port_; }

    netkeep::Result<Client> connect(ClientOptions options = {}) {
        return Client::connect("127.0.0.1", port_, options);
    }

    void stop() {
        asio::post(io_, [this] { server_->stop(); });
    }

    // True once io_context::run() returned: the server left no work behind.
    bool wait_until_done(std::chrono::milliseconds timeout) {
        return done_future_.wait_for(timeout) == std::future_status::ready;
    }

    std::size_t connection_count() {
        std::promise<std::size_t> count;
        asio::post(io_, [&] { count.set_value(server_->connection_count()); });
        return count.get_future().get();
    }

private:
    asio::io_context io_;
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
    std::promise<void> done_;
    std::shared_future<void> done_future_ = done_.get_future().share();
    std::thread thread_;
};

// Handlers of /slow entered so far: a test waits on it to know a request is in flight.
std::atomic<int> slow_entered{0};

Router basic_router() {
    Router router;
    REQUIRE(router
                .add("GET", "/hello",
                     [](Request& r) -> asio::awaitable<Response> {
                         co_return text_response(
                             200, "hello " + std::string(r.query_param("name").value_or("world")));
                     })
                .is_ok());
    REQUIRE(router
                .add("POST", "/echo",
                     [](Request& r) -> asio::awaitable<Response> {
                         co_return text_response(200, r.body().text());
                     })
                .is_ok());
    REQUIRE(router
                .add("GET", "/tasks/{device}/{job}",
                     [](Request& r) -> asio::awaitable<Response> {
                         std::string out(r.capture("device"));
                         out += '|';
                         out += r.capture("job");
                         for (auto tag : r.query_params("tag")) {
                             out += '|';
                             out += tag;
                         }
                         co_return text_response(200, out);
                     })
                .is_ok());
    REQUIRE(router
                .add("GET", "/throw",
                     [](Request&) -> asio::awaitable<Response> {
                         throw std::runtime_error("boom");
                         co_return text_response(200, "unreachable");
                     })
                .is_ok());
    REQUIRE(router
                .add("GET", "/slow",
                     [](Request&) -> asio::awaitable<Response> {
                         slow_entered += 1;
                         co_await sleep_for(300ms);
                         co_return text_response(200, "slow done");
                     })
                .is_ok());
    REQUIRE(router
                .add("GET", "/remote",
                     [](Request& r) -> asio::awaitable<Response> {
                         co_return text_response(200, r.remote().address().to_string());
                     })
                .is_ok());
    return router;
}

}  // namespace

TEST_CASE("server: keep-alive serves several requests on one connection") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    for (int i = 0; i < 5; ++i) {
        auto r = client->get("/hello?name=n" + std::to_string(i));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "hello n" + std::to_string(i));
        CHECK(r->keep_alive);
    }
    CHECK(server.connection_count() == 1);
    auto r = client->get("/remote");
    REQUIRE(r);
    CHECK(r->body == "127.0.0.1");
}

TEST_CASE("server: captures, repeated query parameters, decoded path") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    auto r = client->get("/tasks/dev%201/show_run?tag=a&tag=b%2Bc&tag=d+e");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "dev 1|show_run|a|b+c|d e");
}

TEST_CASE("server: 404 and 405 carry JSON bodies, the connection stays usable") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    auto r = client->get("/missing");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->body == R"({"error": "no route for /missing"})");

    r = client->request("DELETE", "/hello");
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("Allow") == "GET, HEAD");
    CHECK(r->body.starts_with(R"({"error": )"));

    // A body sent to a 404 is skipped; the connection goes on.
    r = client->request("POST", "/missing", "some body");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->keep_alive);
    r = client->get("/hello");
    REQUIRE(r);
    CHECK(r->status == 200);

    r = client->get("/bad%zz");
    REQUIRE(r);
    CHECK(r->status == 400);
}

TEST_CASE("server: HEAD gets the GET route's head without a body") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    auto r = client->request("HEAD", "/hello");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Content-Length") == "11");
    CHECK(r->body.empty());
    r = client->get("/hello");  // the connection is still in sync
    REQUIRE(r);
    CHECK(r->body == "hello world");
}

TEST_CASE("server: pipelined requests are answered in order") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    REQUIRE(client
                ->send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
                           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
                           "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                .is_ok());
    const char* expected[] = {"slow done", "first", "second", "hello world"};
    for (const char* body : expected) {
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == body);
    }
}

TEST_CASE("server: limits answer 431, 414 and 400, then close") {
    TestServer server(basic_router());
    SUBCASE("header block too large") {
        auto client = server.connect();
        REQUIRE(client);
        std::string huge = "GET /hello HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
        REQUIRE(client->send_raw(huge).is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 431);
        CHECK(!r->keep_alive);
        CHECK(r->body.find("header block exceeds 16384 bytes") != std::string::npos);
    }
    SUBCASE("request target too long") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(client->send_raw("GET /" + std::string(9000, 'u') + " HTTP/1.1\r\n\r\n").is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 414);
        CHECK(!r->keep_alive);
    }
    SUBCASE("malformed") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(client->send_raw("GET / HTTP/1.1\r\nNo colon here\r\n\r\n").is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->body.starts_with(R"({"error": "malformed request)"));
        auto rest = client->read_until_close(2s);
        CHECK(rest);
    }
    // The server is fine afterwards.
    auto client = server.connect();
    REQUIRE(client);
    auto r = client->get("/hello");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("server: a handler's exception becomes a 500, the server stays up") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    auto r = client->get("/throw");
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body == R"({"error": "internal server error"})");
    r = client->get("/hello");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("server: buffered body limit answers 413") {
    Router router;
    RouteOptions small;
    small.max_body = 10;
    REQUIRE(router
                .add(
                    "POST", "/small",
                    [](Request& r) -> asio::awaitable<Response> {
                        co_return text_response(200, "got " + r.body().text());
                    },
                    small)
                .is_ok());
    TestServer server(std::move(router));

    auto client = server.connect();
    REQUIRE(client);
    auto r = client->request("POST", "/small", "0123456789");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "got 0123456789");

    SUBCASE("declared by Content-Length") {
        r = client->request("POST", "/small", "0123456789X");
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(!r->keep_alive);
        CHECK(r->body == R"({"error": "request body exceeds 10 bytes"})");
    }
    SUBCASE("found out while reading a chunked body") {
        Headers chunked{{"Transfer-Encoding", "chunked"}};
        REQUIRE(client->send_request("POST", "/small", {}, chunked).is_ok());
        REQUIRE(client->send_raw("6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n").is_ok());
        r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(!r->keep_alive);
    }
}

TEST_CASE("server: streaming body arrives in bounded chunks") {
    struct Seen {
        std::size_t bytes = 0;
        std::size_t chunks = 0;
        std::size_t largest = 0;
        bool sum_ok = true;
    };
    auto seen = std::make_shared<Seen>();
    Router router;
    RouteOptions streaming;
    streaming.body_mode = BodyMode::streaming;
    streaming.max_body = 64 * 1024 * 1024;
    REQUIRE(router
                .add(
                    "PUT", "/upload",
                    [seen](Request& r) -> asio::awaitable<Response> {
                        CHECK(r.body().text().empty());
                        for (;;) {
                            auto chunk = co_await r.body().read();
                            if (!chunk) co_return error_response(chunk.status());
                            if (chunk->empty()) break;
                            for (char c : *chunk) {
                                if (c != static_cast<char>('a' + seen->bytes % 26))
                                    seen->sum_ok = false;
                                ++seen->bytes;
                            }
                            ++seen->chunks;
                            seen->largest = std::max(seen->largest, chunk->size());
                        }
                        co_return json_response(200,
                                                "{\"bytes\": " + std::to_string(seen->bytes) + "}");
                    },
                    streaming)
                .is_ok());
    TestServer server(std::move(router));

    std::string body(8 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);

    auto client = server.connect();
    REQUIRE(client);
    SUBCASE("Content-Length") {
        auto r = client->request("PUT", "/upload", body);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "{\"bytes\": " + std::to_string(body.size()) + "}");
    }
    SUBCASE("chunked, sent piece by piece") {
        Headers chunked{{"Transfer-Encoding", "chunked"}};
        REQUIRE(client->send_request("PUT", "/upload", {}, chunked).is_ok());
        for (std::size_t i = 0; i < body.size(); i += 100000) {
            auto piece = std::string_view(body).substr(i, 100000);
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
            REQUIRE(client->send_raw(std::string(size) + std::string(piece) + "\r\n").is_ok());
        }
        REQUIRE(client->send_raw("0\r\n\r\n").is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(seen->bytes == body.size());
    CHECK(seen->sum_ok);
    CHECK(seen->chunks > 1);
    CHECK(seen->largest <= 64 * 1024);  // never more than one read buffer at a time
    auto r = client->get("/nothing");
    REQUIRE(r);
    CHECK(r->status == 404);
}

TEST_CASE("server: streaming handler that stops early; Expect: 100-continue") {
    Router router;
    RouteOptions streaming;
    streaming.body_mode = BodyMode::streaming;
    streaming.max_body = 10 * 1024 * 1024;
    REQUIRE(router
                .add(
                    "POST", "/peek",
                    [](Request& r) -> asio::awaitable<Response> {
                        auto chunk = co_await r.body().read();
                        if (!chunk) co_return error_response(chunk.status());
                        co_return text_response(200, "peeked");
                    },
                    streaming)
                .is_ok());
    REQUIRE(router
                .add(
                    "POST", "/ignore",
                    [](Request&) -> asio::awaitable<Response> {
                        co_return text_response(200, "ignored");
                    },
                    streaming)
                .is_ok());
    REQUIRE(router
                .add(
                    "POST", "/all",
                    [](Request& r) -> asio::awaitable<Response> {
                        auto all = co_await r.body().read_all(1 << 20);
                        if (!all) co_return error_response(all.status());
                        co_return text_response(200, std::to_string(all->size()));
                    },
                    streaming)
                .is_ok());
    TestServer server(std::move(router));

    SUBCASE("a small unread rest is drained and the connection kept") {
        auto client = server.connect();
        REQUIRE(client);
        auto r = client->request("POST", "/ignore", std::string(1000, 'x'));
        REQUIRE(r);
        CHECK(r->body == "ignored");
        CHECK(r->keep_alive);
        r = client->request("POST", "/all", "abc");
        REQUIRE(r);
        CHECK(r->body == "3");
    }
    SUBCASE("a large unread rest closes the connection") {
        auto client = server.connect();
        REQUIRE(client);
        // Small enough for the socket buffers: this blocking client only reads the answer
        // after it has sent the whole body.
        auto r = client->request("POST", "/peek", std::string(512 * 1024, 'x'));
        REQUIRE(r);
        CHECK(r->body == "peeked");
        CHECK(!r->keep_alive);
    }
    SUBCASE("100-continue is sent when the handler reads") {
        auto client = server.connect();
        REQUIRE(client);
        Headers expect{{"Expect", "100-continue"}, {"Content-Length", "5"}};
        REQUIRE(client->send_request("POST", "/all", {}, expect).is_ok());
        auto interim = client->read_raw(2s);
        REQUIRE(interim);
        CHECK(*interim == "HTTP/1.1 100 Continue\r\n\r\n");
        REQUIRE(client->send_raw("hello").is_ok());
        auto final_response = client->read_response();
        REQUIRE(final_response);
        CHECK(final_response->status == 200);
        CHECK(final_response->body == "5");
    }
    SUBCASE("100-continue never sent when the handler ignores the body: connection closes") {
        auto client = server.connect();
        REQUIRE(client);
        Headers expect{{"Expect", "100-continue"}, {"Content-Length", "5"}};
        REQUIRE(client->send_request("POST", "/ignore", {}, expect).is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(!r->keep_alive);
    }
}

TEST_CASE("server: timeouts") {
    auto options = quiet_options();
    options.header_timeout = 300ms;
    options.idle_timeout = 1000ms;
    options.body_read_timeout = 300ms;
    TestServer server(basic_router(), options);

    SUBCASE("a silent client is closed after the header timeout, others are served meanwhile") {
        auto silent = server.connect();
        REQUIRE(silent);
        auto start = std::chrono::steady_clock::now();
        auto other = server.connect();
        REQUIRE(other);
        auto r = other->get("/hello");
        REQUIRE(r);
        CHECK(r->status == 200);
        // The read's timeout only bounds a failing test; no upper bound on the time, which
        // would measure the machine's load rather than the server.
        auto rest = silent->read_until_close(10s);
        REQUIRE(rest);
        CHECK(rest->empty());
        CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    }
    SUBCASE("a trickling head is cut at the header timeout") {
        auto client = server.connect();
        REQUIRE(client);
        bool closed = false;
        const std::string head = "GET /hello HTTP/1.1\r\nX-Slow: ";
        // A byte every 50 ms for up to 5 s: the server must close while the trickle goes on
        // (a send fails), which shows the cut without timing it.
        for (int i = 0; i < 100 && !closed; ++i) {
            closed = !client->send_raw(i == 0 ? head : "a").is_ok();
            std::this_thread::sleep_for(50ms);  // kept: the trickle's pace is the test
        }
        CHECK(closed);
        CHECK(client->read_until_close(10s));
    }
    SUBCASE("an idle keep-alive connection is closed after the idle timeout") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(client->get("/hello"));
        const auto first_port = client->local_port();
        std::this_thread::sleep_for(400ms);  // longer than header_timeout, shorter than idle
        auto r = client->get("/hello");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(client->local_port() == first_port);  // the same connection, not a retry
        auto start = std::chrono::steady_clock::now();
        auto rest = client->read_until_close(10s);
        REQUIRE(rest);
        CHECK(std::chrono::steady_clock::now() - start >= 700ms);
    }
    SUBCASE("the client retries once when the server closed its kept-alive connection") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(client->get("/hello"));
        const auto first_port = client->local_port();
        // Past idle_timeout the server closes it: waited for, not slept past.
        REQUIRE(wait_until([&] { return server.connection_count() == 0; }));
        CHECK(client->is_open());  // ...which the client cannot know yet
        auto r = client->get("/hello");
        if (!r) FAIL(r.status().to_string());
        CHECK(r->status == 200);
        CHECK(client->local_port() != first_port);
    }
    SUBCASE("a stalled body gets 408 and a close") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(
            client->send_raw("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial").is_ok());
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 408);
        CHECK(!r->keep_alive);
    }
    SUBCASE("a client that goes away mid-body does not disturb the server") {
        {
            auto client = server.connect();
            REQUIRE(client);
            REQUIRE(client->send_raw("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
                        .is_ok());
        }
        auto client = server.connect();
        REQUIRE(client);
        auto r = client->get("/hello");
        REQUIRE(r);
        CHECK(r->status == 200);
    }
}

TEST_CASE("server: a kept-alive connection's next head has an absolute deadline too") {
    auto options = quiet_options();
    options.header_timeout = 400ms;
    options.idle_timeout = 5s;
    TestServer server(basic_router(), options);
    auto client = server.connect();
    REQUIRE(client);
    REQUIRE(client->get("/hello"));
    // One byte every 100 ms: each arrives well within any per-read timeout, but the head as
    // a whole is not done within header_timeout of its first byte. The server must close
    // while the trickle goes on (up to 5 s): a send fails. No stopwatch.
    const std::string head = "GET /hello HTTP/1.1\r\nX-Slow: ";
    bool closed = false;
    for (int i = 0; i < 50 && !closed; ++i) {
        closed = !client->send_raw(i == 0 ? head : "a").is_ok();
        std::this_thread::sleep_for(100ms);  // kept: the trickle's pace is the test
    }
    CHECK(closed);
    CHECK(client->read_until_close(10s));
}

TEST_CASE("server: a body slower than min_body_rate gets 408 once the grace period is over") {
    auto options = quiet_options();
    options.body_read_timeout = 2s;  // never reached: a byte arrives every 100 ms
    options.min_body_rate = 100;     // bytes/s
    options.body_rate_grace = 500ms;
    TestServer server(basic_router(), options);

    SUBCASE("a trickle is cut") {
        auto client = server.connect();
        REQUIRE(client);
        auto start = std::chrono::steady_clock::now();
        REQUIRE(client->send_raw("POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n").is_ok());
        for (int i = 0; i < 30; ++i) {
            if (!client->send_raw("x").is_ok()) break;
            std::this_thread::sleep_for(100ms);  // 10 bytes/s
            if (std::chrono::steady_clock::now() - start > 1s) break;
        }
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 408);
        CHECK(r->body.find("slower than 100 bytes/s") != std::string::npos);
        CHECK(!r->keep_alive);  // the message says it was the rate, not body_read_timeout
    }
    SUBCASE("a body at the rate passes, however long it takes") {
        auto client = server.connect();
        REQUIRE(client);
        REQUIRE(client->send_raw("POST /echo HTTP/1.1\r\nContent-Length: 300\r\n\r\n").is_ok());
        for (int i = 0; i < 10; ++i) {  // 30 bytes every 100 ms: 300 bytes/s for a second
            REQUIRE(client->send_raw(std::string(30, 'y')).is_ok());
            std::this_thread::sleep_for(100ms);
        }
        auto r = client->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == std::string(300, 'y'));
    }
}

TEST_CASE("server: connections per client address are capped at accept") {
    auto options = quiet_options();
    options.max_connections_per_client = 3;
    std::atomic<int> refused{0};
    std::string reason;
    options.on_refused = [&](std::string_view why, const asio::ip::address& client) {
        reason = std::string(why) + " " + client.to_string();
        ++refused;
    };
    TestServer server(basic_router(), options);
    std::vector<Client> held;
    for (int i = 0; i < 3; ++i) {
        auto c = server.connect();
        REQUIRE(c);
        REQUIRE(c->get("/hello"));  // served, so certainly accepted and counted
        held.push_back(std::move(c.value()));
    }
    // The fourth is accepted by the kernel, then closed at once without an answer.
    auto fourth = server.connect();
    REQUIRE(fourth);
    auto r = fourth->get("/hello");
    CHECK_FALSE(r);
    CHECK(refused == 1);
    CHECK(reason == "per_client 127.0.0.1");
    // The three are still served; once one goes, a new connection is accepted.
    for (auto& c : held) CHECK(c.get("/hello"));
    held.pop_back();
    CHECK(wait_until([&] { return server.connection_count() == 2; }));
    auto again = server.connect();
    REQUIRE(again);
    auto ok = again->get("/hello");
    REQUIRE(ok);
    CHECK(ok->status == 200);
}

TEST_CASE("server: stop() is graceful") {
    TestServer server(basic_router());
    auto idle = server.connect();
    REQUIRE(idle);
    REQUIRE(idle->get("/hello"));

    auto busy = server.connect();
    REQUIRE(busy);
    const int entered = slow_entered;
    REQUIRE(busy->send_request("GET", "/slow").is_ok());
    REQUIRE(wait_until([&] { return slow_entered > entered; }));  // the handler is waiting
    server.stop();

    // The request in flight finishes and its answer is written, with Connection: close.
    auto r = busy->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "slow done");
    CHECK(!r->keep_alive);
    // The idle connection was closed, no new connection is accepted, the loop runs out.
    auto rest = idle->read_until_close(2s);
    CHECK(rest);
    CHECK(server.wait_until_done(3s));
    CHECK(!Client::connect("127.0.0.1", server.port()));
}

TEST_CASE("server: protocol upgrades and CONNECT are answered, then the connection closes") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    REQUIRE(
        client->send_raw("GET /hello HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .is_ok());
    auto r = client->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(!r->keep_alive);

    auto tunnel = server.connect();
    REQUIRE(tunnel);
    REQUIRE(tunnel->send_raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
                .is_ok());
    r = tunnel->read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(!r->keep_alive);
}

TEST_CASE("server: many connections at once, from several threads") {
    auto options = quiet_options();
    options.max_connections_per_client = 0;  // all 200 come from 127.0.0.1
    TestServer server(basic_router(), options);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            std::vector<Client> clients;
            for (int i = 0; i < 50; ++i) {
                auto c = server.connect();
                if (c) clients.push_back(std::move(c.value()));
            }
            for (int round = 0; round < 5; ++round) {
                for (auto& c : clients) {
                    auto r = c.get("/hello");
                    if (r && r->status == 200) ++ok;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok == 4 * 50 * 5);
}

TEST_CASE("server: HTTP/1.0 client") {
    TestServer server(basic_router());
    auto client = server.connect();
    REQUIRE(client);
    REQUIRE(client->send_raw("GET /hello HTTP/1.0\r\n\r\n").is_ok());
    auto r = client->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(!r->keep_alive);

    auto again = server.connect();
    REQUIRE(again);
    REQUIRE(again->send_raw("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").is_ok());
    r = again->read_response();
    REQUIRE(r);
    CHECK(r->header("Connection") == "keep-alive");
    CHECK(r->keep_alive);
}

TEST_CASE("server: listen reports what went wrong") {
    asio::io_context io;
    Server a(io, Router{}, quiet_options());
    auto first = a.listen("127.0.0.1", 0);
    REQUIRE(first);
    Server b(io, Router{}, quiet_options());
    auto clash = b.listen("127.0.0.1", first->port());
    CHECK(!clash);
    CHECK(clash.status().message().find("bind") != std::string::npos);
}

TEST_CASE("server: default headers fill what a handler did not set; gzip when the client asks") {
    Router router;
    REQUIRE(router
                .add("GET", "/big",
                     [](Request&) -> asio::awaitable<Response> {
                         co_return text_response(200, std::string(20'000, 'a'));
                     })
                .is_ok());
    REQUIRE(router
                .add("GET", "/own",
                     [](Request&) -> asio::awaitable<Response> {
                         Response r = text_response(200, "x");
                         r.headers.set("X-Content-Type-Options", "handler's");
                         co_return r;
                     })
                .is_ok());
    ServerOptions options = quiet_options();
    options.default_headers.add("X-Content-Type-Options", "nosniff");
    TestServer server(std::move(router), std::move(options));
    auto client = server.connect();
    REQUIRE(client);

    auto plain = client->get("/big");
    REQUIRE(plain);
    CHECK(plain->header("X-Content-Type-Options") == "nosniff");
    CHECK_FALSE(plain->header("Content-Encoding").has_value());
    CHECK(plain->body.size() == 20'000);

    Headers accept;
    accept.add("Accept-Encoding", "gzip, deflate");
    auto packed = client->request("GET", "/big", {}, accept);
    REQUIRE(packed);
    CHECK(packed->header("Content-Encoding") == "gzip");
    CHECK(packed->header("Vary") == "Accept-Encoding");
    CHECK(packed->body.size() < 1000);
    CHECK(packed->header("Content-Length") == std::to_string(packed->body.size()));

    auto own = client->get("/own");
    REQUIRE(own);
    CHECK(own->header("X-Content-Type-Options") == "handler's");
}
