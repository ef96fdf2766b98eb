#pragma once
// HTTP/1.1 server on standalone Asio with C++20 coroutines.
//
// Threads: everything here (accepting, parsing, timeouts, and every handler) runs on the
// one thread that runs the io_context passed in; construct the Server, call listen(),
// stop() and abort() from that thread too (or before it starts running). Handlers may
// therefore keep single-threaded application state. Running the io_context on more than
// one thread is not supported.
//
// Per connection: requests are served one at a time in arrival order, so pipelined
// requests get their responses in order. Keep-alive is the default for HTTP/1.1.
// Limits and the answers they get:
//   head > limits.max_head_bytes                 431, close
//   request target > limits.max_target_bytes     414, close
//   malformed request                            400, close
//   no route for the path                        404 JSON
//   path known, method not                       405 JSON with Allow
//   body > route max_body                        413 JSON, close
//   head not complete within header_timeout      close (counted from the connection's
//                                                accept, or from a kept-alive request's
//                                                first byte; covers silent and trickling
//                                                clients; with TLS the handshake counts
//                                                into the first head's time)
//   TLS handshake fails (plain HTTP, bad or      close, logged as tls.handshake_failed
//   missing client certificate)                  (at most 5 lines a second, the rest
//                                                counted in the next line's suppressed=)
//   no new request within idle_timeout           close
//   no body bytes within body_read_timeout       408 if possible, close
//   body slower than min_body_rate on average    408 if possible, close (checked once
//   once body_rate_grace has passed              body_rate_grace has passed since the
//                                                handler first read the body)
//   more than max_connections_per_client open    closed at accept, before any byte is read
//   from one client address (or more than       (on_refused tells the application)
//   max_connections in all)
//   response not written within write_timeout    close
// One client can never stall the others: every wait is bounded by one of these timers, and
// each is absolute for what it covers (a head, a body, a response): a client that sends a
// byte now and then does not push it back. Nor can one client address take every slot.
//
// Bodies: "Expect: 100-continue" is answered when the body is first read, so a request
// refused before that (404, 413 by Content-Length) never has its body sent. A body left
// partly unread (404/405, or a streaming handler that returned early) is read and dropped
// up to max_drain_bytes to keep the connection; past that, or when the client still waits
// for 100 Continue, the connection is closed after the response instead.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "http/parser.hpp"
#include "http/router.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

class TlsServerContext;

struct ServerOptions {
    // Serve HTTPS with the holder's current context (see tls.hpp); null: plain HTTP.
    // Every listen() of this server then speaks TLS.
    std::shared_ptr<TlsServerContext> tls;
    Parser::Limits limits;
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
    std::chrono::milliseconds body_read_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    // After an error answer the connection is shut down for sending and the rest of the
    // request is read and dropped for up to this long, so the client sees the answer
    // instead of a reset.
    std::chrono::milliseconds linger_timeout{std::chrono::seconds(2)};
    // Unread request bytes (a 404'd body, a body a handler left unread) that are skipped
    // to keep the connection alive; past this the connection is closed instead.
    std::uint64_t max_drain_bytes = 64 * 1024;
    // Connections beyond this are closed as soon as they are accepted.
    std::size_t max_connections = 1024;
    // Connections from one client address beyond this are closed as soon as they are
    // accepted; 0: no limit. Clients behind one NAT or proxy share an address.
    std::size_t max_connections_per_client = 64;
    // A request body must arrive at min_body_rate bytes/s or faster, averaged from the
    // handler's first read of it, once body_rate_grace has passed; a slower one is answered
    // 408 and its connection closed. Without it one byte every body_read_timeout would
    // hold a connection forever. 0: no minimum (body_read_timeout still applies).
    std::uint64_t min_body_rate = 1024;
    std::chrono::milliseconds body_rate_grace{std::chrono::seconds(10)};
    // Fields added to every routed answer that does not set them itself (netkeepd:
    // X-Content-Type-Options: nosniff, so no browser renders a stored config as HTML).
    Headers default_headers;
    // Where the server reports what no client will hear about (handler exceptions,
    // accept errors). Default: an "http.error" line through netkeep::log_line.
    std::function<void(std::string_view)> log;
    // Called on the io thread for each answer the server gives without a route's handler:
    // a request that does not parse (method ""), a bad target, no route (404), a method
    // the route does not take (405). For metrics; handlers are counted by their own wrapper.
    std::function<void(std::string_view method, int status)> on_unrouted;
    // Called on the io thread for each connection closed at accept because of a limit
    // ("per_client" or "total"), with the client's address. For metrics and logging; the
    // server itself logs nothing about it (a flood would flood the log).
    std::function<void(std::string_view reason, const asio::ip::address& client)> on_refused;
};

struct ServerCore;

class Server {
public:
    Server(asio::io_context& io, Router router, ServerOptions options = {});
    ~Server();  // abort()s: connections still open are closed
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and starts accepting. `host` is an IP address or a name to resolve; port 0
    // picks a free port. Returns the bound endpoint. May be called more than once to
    // listen on several addresses.
    Result<asio::ip::tcp::endpoint> listen(std::string_view host, std::uint16_t port);

    // Graceful: stops accepting, closes idle keep-alive connections, lets requests in
    // flight finish and their responses be written, then closes those connections too.
    // Once they are gone this server leaves no work in the io_context.
    void stop();
    // Immediate: stops accepting and closes every connection.
    void abort();

    std::size_t connection_count() const;

private:
    std::shared_ptr<ServerCore> core_;
};

}  // namespace netkeep::http
