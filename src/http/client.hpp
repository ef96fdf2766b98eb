#pragma once
// A small blocking HTTP/1.1 client for tests, benchmarks, tools and the worker.
//
// Blocking with timeouts: each call runs a private io_context until its operation
// completes or its timeout passes (then the connection is closed and the call fails with
// `unavailable`). Never call it from a thread that runs a server's io_context. One Client
// is one connection, reused across requests (keep-alive); it is not thread-safe.
//
// Responses are parsed with the same Parser as the server (response mode): Content-Length,
// chunked, and read-until-close bodies; 1xx interim responses are skipped.
//
// HTTPS: with ClientOptions::tls set, every connection does a TLS handshake (within
// connect_timeout) with the server certificate verified against the context's CAs and
// the host name (or tls_server_name), sending SNI for names. A failed verification is an
// io_error that says why ("certificate verify failed (...)").

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace asio::ssl {
class context;
}

#include "http/headers.hpp"
#include "http/parser.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    // For each send and for each response as a whole.
    std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
    // Larger response bodies fail with too_large.
    std::uint64_t max_body = 64 * 1024 * 1024;
    Parser::Limits limits{64 * 1024, 8 * 1024};
    // HTTPS with this context (http/tls.hpp make_client_context); null: plain HTTP.
    // Shared: one context serves every connection and thread.
    std::shared_ptr<asio::ssl::context> tls;
    // The name the server certificate must carry; empty: the host connected to.
    std::string tls_server_name;
};

struct ClientResponse {
    int status = 0;
    std::string reason;
    Headers headers;
    std::string body;
    bool keep_alive = true;  // false: the server closes the connection after this response

    std::optional<std::string_view> header(std::string_view name) const {
        return headers.get(name);
    }
};

class Client {
public:
    // Resolves `host` (address or name) and connects within connect_timeout.
    static Result<Client> connect(std::string host, std::uint16_t port, ClientOptions options = {});

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // Sends one request and reads its response. Adds "Host" unless given, and
    // "Content-Length" unless the headers hold Content-Length or Transfer-Encoding (then the
    // body is sent as given). Reconnects first if the server closed the connection after the
    // previous response. Retried once, on a new connection, only when a kept-alive
    // connection turns out closed before any byte of an answer (the server's idle timeout
    // racing the request); any other failure is returned as is.
    Result<ClientResponse> request(std::string_view method, std::string_view target,
                                   std::string_view body = {}, const Headers& headers = {});
    Result<ClientResponse> get(std::string_view target) { return request("GET", target); }

    // The two halves of request(), for streamed uploads (send_request with a
    // "Transfer-Encoding: chunked" or "Content-Length" header and no body, then send_raw
    // pieces) and for pipelining.
    Status send_request(std::string_view method, std::string_view target,
                        std::string_view body = {}, const Headers& headers = {});
    // `head_request`: the response answers HEAD, so it has no body whatever it says.
    Result<ClientResponse> read_response(bool head_request = false);

    // Sends bytes as they are (tests: malformed or slow requests).
    Status send_raw(std::string_view bytes);
    // Returns bytes received but not parsed yet, or else waits for the next bytes (tests:
    // an interim "100 Continue"). The parser never sees what this returns.
    Result<std::string> read_raw(std::chrono::milliseconds timeout);
    // Reads until the server closes the connection and returns everything it sent then;
    // `unavailable` if it is still open after `timeout`.
    Result<std::string> read_until_close(std::chrono::milliseconds timeout);

    bool is_open() const;
    void close();
    // The local port of the current connection (0 when closed): tells a reused connection
    // from a new one.
    std::uint16_t local_port() const;

private:
    struct Io;
    Client(std::string host, std::uint16_t port, ClientOptions options);
    Status open();
    Status handshake();
    // Reads more bytes; ok with nothing added means EOF.
    Status read_some(std::chrono::steady_clock::time_point deadline, bool& eof);

    std::string host_;
    std::uint16_t port_ = 0;
    ClientOptions options_;
    std::unique_ptr<Io> io_;  // on the heap: sockets refer to their io_context
};

}  // namespace netkeep::http
