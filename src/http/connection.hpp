#pragma once
// Internal to the server: one accepted TCP connection. Not part of the http_dep interface
// that handlers use; server.cpp and connection.cpp only.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include "http/parser.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "netkeep/log_budget.hpp"

namespace netkeep::http {

class Connection;

// What the Server shares with its connections. Connections hold it by shared_ptr, so it
// outlives the Server object if they do.
struct ServerCore {
    ServerCore(asio::any_io_executor ex, Router r, ServerOptions o)
        : executor(std::move(ex)), router(std::move(r)), options(std::move(o)) {}

    void log(std::string_view message) const;

    asio::any_io_executor executor;
    Router router;
    ServerOptions options;
    bool stopping = false;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
    // Live connections; each removes itself in its destructor.
    std::unordered_set<Connection*> connections;
    // Live connections per client address (only addresses with at least one), kept by
    // Connection's constructor and destructor; the accept loop checks it.
    std::map<asio::ip::address, std::size_t> per_client;
    // tls.handshake_failed lines: any client can fail a handshake at will.
    LogBudget handshake_log;
};

// Serves requests on one socket until the client leaves, a limit or timeout is hit, or
// the server stops. Two coroutines share it: run() does all the I/O in order, and
// watchdog() cancels whatever run() waits for once `deadline_` has passed. Both hold a
// shared_ptr to the connection, which dies when both have returned.
//
// With TLS the connection's bytes go through an SSL stream layered on the socket; the
// handshake comes first and shares the first request head's deadline (header_timeout from
// the accept), so a client that never handshakes, or trickles it, is dropped like one
// that trickles its head. The watchdog cancels the socket under the stream either way.
//
// The body of a streaming request is read through BodySource: chunks are views into
// `buffer_`, handed out as the handler asks, so the socket is read only as fast as the
// handler consumes.
class Connection final : public std::enable_shared_from_this<Connection>, private BodySource {
public:
    Connection(std::shared_ptr<ServerCore> core, asio::ip::tcp::socket socket);
    ~Connection() override;

    void start();
    // Server::stop(): closes the connection now if it waits for a request that has not
    // started; otherwise the request in flight finishes and the connection closes after it.
    void close_if_idle();
    void close();

private:
    using clock = std::chrono::steady_clock;
    enum class ReadOutcome { ok, eof, timeout, error };
    enum class BodyFailure { none, too_large, malformed, timeout, disconnected };

    asio::awaitable<void> run(std::shared_ptr<Connection> self);
    // The TLS handshake; false when it failed or timed out (the connection then closes).
    asio::awaitable<bool> handshake();
    // The stream's reads and writes, over TLS when the connection has it. `raw` reads the
    // socket itself (after a TLS shutdown, to drain what the client still sends).
    asio::awaitable<std::tuple<asio::error_code, std::size_t>> read_some(
        asio::mutable_buffer buffer, bool raw = false);
    template <typename Buffers>
    asio::awaitable<std::tuple<asio::error_code, std::size_t>> write_all(const Buffers& buffers);
    asio::awaitable<void> watchdog(std::shared_ptr<Connection> self);

    asio::awaitable<std::optional<MessageHead>> read_head(bool first);
    // Serves one request; false when the connection must end.
    asio::awaitable<bool> serve(MessageHead head);
    // serve()'s steps: reset the body state, answer the request (router or handler), answer
    // a body that could not be read, skip what the handler left unread.
    void start_body(const MessageHead& head);
    asio::awaitable<Response> route(MessageHead head);
    asio::awaitable<Response> run_route(const Route& route, Request& request);
    Response body_failure_response() const;
    // Reads and drops the rest of the body; false when the connection must close instead.
    asio::awaitable<bool> discard_unread_body();

    asio::awaitable<Result<std::string_view>> next_body_chunk() override;
    // next_body_chunk()'s steps. "100 Continue" if still due; false if the client is gone.
    asio::awaitable<bool> send_continue();
    // What the buffered bytes give: a chunk, the end (empty), a failure; nullopt: read more.
    std::optional<Result<std::string_view>> take_buffered_body();
    // How long to wait for more body bytes, and whether the minimum rate set that bound.
    struct BodyWait {
        clock::time_point deadline;
        bool rate_bound = false;
    };
    BodyWait next_body_wait() const;
    Status body_timeout_status(bool rate_bound) const;
    // Skips the unread rest of the body (up to max_drain_bytes); false if it could not.
    asio::awaitable<bool> drain_body();
    asio::awaitable<bool> write_response(const Response& response, bool head_only, bool close,
                                         bool http10_keep_alive);
    // Shuts down sending, reads and drops what the client still sends (bounded), closes.
    asio::awaitable<void> linger_close();
    // TLS only: sends close_notify and waits (until `deadline`) for the client's.
    asio::awaitable<void> say_goodbye(clock::time_point deadline);
    // Reads more bytes into `buffer_`; only called when every buffered byte was parsed.
    asio::awaitable<ReadOutcome> fill(clock::time_point deadline, bool raw = false);

    Status fail_body(BodyFailure failure, Status status);
    void set_deadline(clock::time_point deadline);
    std::string_view pending() const { return {buffer_.data() + begin_, end_ - begin_}; }

    std::shared_ptr<ServerCore> core_;
    asio::ip::tcp::socket socket_;
    asio::ip::tcp::endpoint remote_;
    // Set when the server has TLS: the context this connection was accepted with (a
    // reload does not change it), and the stream over `socket_`.
    std::shared_ptr<asio::ssl::context> tls_context_;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
    std::optional<TlsPeer> tls_peer_;  // after the handshake
    const clock::time_point accepted_at_ = clock::now();
    asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    bool timed_out_ = false;
    bool closed_ = false;
    // True while waiting for a request of which no byte has arrived yet.
    bool idle_ = true;

    Parser parser_;
    // Bytes read from the socket; [begin_, end_) are not parsed yet.
    std::vector<char> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;

    // The current request's body.
    std::uint64_t body_limit_ = 0;
    std::uint64_t body_received_ = 0;
    // When the handler first asked for the body: the minimum body rate counts from here.
    std::optional<clock::time_point> body_started_;
    bool body_done_ = false;
    bool continue_pending_ = false;  // "Expect: 100-continue" not answered yet
    BodyFailure body_failure_ = BodyFailure::none;
    Status body_error_;
};

}  // namespace netkeep::http
