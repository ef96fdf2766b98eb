// The blocking client against a canned peer: one accepted connection that answers each
// request with the next prepared byte string, so response framing the server never
// produces (chunked, read-until-close, interim 1xx) is covered too.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "http/client.hpp"

using namespace netkeep::http;
using namespace std::chrono_literals;

namespace {

// Answers each request head ("\r\n\r\n"-terminated, no bodies) with the next canned reply;
// closes after the last one when `close_at_end`.
class CannedPeer {
public:
    CannedPeer(std::vector<std::string> replies, bool close_at_end)
        : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this, replies = std::move(replies), close_at_end] {
            asio::error_code ec;
            asio::ip::tcp::socket socket(io_);
            acceptor_.accept(socket, ec);
            if (ec) return;
            asio::streambuf in;
            for (const auto& reply : replies) {
                auto n = asio::read_until(socket, in, "\r\n\r\n", ec);
                if (ec) return;
                in.consume(n);
                asio::write(socket, asio::buffer(reply), ec);
                if (ec) return;
            }
            if (close_at_end) {
                socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
                socket.close(ec);
            } else {
                asio::read_until(socket, in, "never", ec);  // until the client goes away
            }
        });
    }
    ~CannedPeer() {
        asio::error_code ec;
        acceptor_.close(ec);
        thread_.join();
    }
    std::uint16_t port() const { return port_; }

private:
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace

TEST_CASE("client: Content-Length, chunked, 100-continue and keep-alive on one connection") {
    CannedPeer peer(
        {
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
            "chunked\r\n\r\n4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
        },
        true);
    auto client = Client::connect("127.0.0.1", peer.port());
    REQUIRE(client);
    auto r = client->get("/a");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->reason == "OK");
    CHECK(r->body == "hello");
    CHECK(r->header("x-a") == "1");
    r = client->get("/b");
    REQUIRE(r);
    CHECK(r->body == "chunked");
    r = client->get("/c");
    REQUIRE(r);
    CHECK(r->status == 201);
    CHECK(r->body == "ok");
    r = client->get("/d");
    REQUIRE(r);
    CHECK(r->status == 204);
    CHECK(r->body.empty());
    r = client->request("HEAD", "/e");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.empty());
}

TEST_CASE("client: body delimited by the end of the connection") {
    CannedPeer peer({"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"}, true);
    auto client = Client::connect("127.0.0.1", peer.port());
    REQUIRE(client);
    auto r = client->get("/");
    REQUIRE(r);
    CHECK(r->body == "until the end");
    CHECK(!r->keep_alive);
    CHECK(!client->is_open());
}

TEST_CASE("client: a response cut short is an error") {
    CannedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, true);
    auto client = Client::connect("127.0.0.1", peer.port());
    REQUIRE(client);
    auto r = client->get("/");
    CHECK(!r);
    CHECK(r.status().code() == netkeep::Status::Code::io_error);
}

TEST_CASE("client: response timeout and body limit") {
    SUBCASE("timeout") {
        CannedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nslow"}, false);
        ClientOptions options;
        options.io_timeout = 200ms;
        auto client = Client::connect("127.0.0.1", peer.port(), options);
        REQUIRE(client);
        auto start = std::chrono::steady_clock::now();
        auto r = client->get("/");
        CHECK(!r);
        CHECK(r.status().code() == netkeep::Status::Code::unavailable);
        // Generous: it only tells the io timeout (200 ms) from none at all (the peer never
        // sends the rest); a tighter bound would measure the machine's load.
        CHECK(std::chrono::steady_clock::now() - start < 20s);
        CHECK(!client->is_open());
    }
    SUBCASE("too large") {
        CannedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')},
                        true);
        ClientOptions options;
        options.max_body = 10;
        auto client = Client::connect("127.0.0.1", peer.port(), options);
        REQUIRE(client);
        auto r = client->get("/");
        CHECK(!r);
        CHECK(r.status().code() == netkeep::Status::Code::too_large);
    }
}

TEST_CASE("client: connect failures") {
    // A port that was just free: nothing listens there.
    std::uint16_t port = 0;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor a(io,
                                  asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }
    auto client = Client::connect("127.0.0.1", port);
    CHECK(!client);
    CHECK(client.status().code() == netkeep::Status::Code::io_error);
}
