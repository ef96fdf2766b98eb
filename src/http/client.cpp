#include "http/client.hpp"

#include <array>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

namespace netkeep::http {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t k_read_size = 64 * 1024;

std::string authority(std::string_view host, std::uint16_t port) {
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

}  // namespace

struct Client::Io {
    asio::io_context context;
    asio::ip::tcp::socket socket{context};
    std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls;  // per connection
    std::optional<Parser> parser;  // one per connection: llhttp tracks the response sequence
    std::string pending;           // received, [offset, size) not parsed yet
    std::size_t offset = 0;
    std::size_t responses = 0;  // complete responses read on this connection
    bool answered = false;      // a byte of the current response has arrived
    bool truncated = false;     // the TLS peer closed without close_notify

    // Runs the operation just started until it completes (true) or `timeout` passes
    // (false: the socket is closed, which completes the operation with an error).
    bool run_for(clock::duration timeout) {
        context.restart();
        if (timeout > clock::duration::zero()) context.run_for(timeout);
        if (context.stopped()) return true;
        asio::error_code ignored;
        socket.close(ignored);
        context.restart();
        context.run();
        return false;
    }

    std::string_view unparsed() const { return std::string_view(pending).substr(offset); }

    template <typename Buffers, typename Handler>
    void async_write(const Buffers& buffers, Handler&& handler) {
        if (tls)
            asio::async_write(*tls, buffers, std::forward<Handler>(handler));
        else
            asio::async_write(socket, buffers, std::forward<Handler>(handler));
    }
    template <typename Handler>
    void async_read_some(asio::mutable_buffer buffer, Handler&& handler) {
        if (tls)
            tls->async_read_some(buffer, std::forward<Handler>(handler));
        else
            socket.async_read_some(buffer, std::forward<Handler>(handler));
    }
};

namespace {

// Why a handshake failed, with the certificate check's own reason when that was it.
std::string handshake_error(const asio::error_code& ec, SSL* ssl) {
    std::string out = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
        const long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) out += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    }
    ERR_clear_error();
    return out;
}

}  // namespace

Client::Client(std::string host, std::uint16_t port, ClientOptions options)
    : host_(std::move(host)), port_(port), options_(options), io_(std::make_unique<Io>()) {}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::connect(std::string host, std::uint16_t port, ClientOptions options) {
    Client client(std::move(host), port, options);
    auto status = client.open();
    if (!status) return status;
    return client;
}

bool Client::is_open() const { return io_ && io_->socket.is_open(); }

std::uint16_t Client::local_port() const {
    if (!is_open()) return 0;
    asio::error_code ec;
    auto endpoint = io_->socket.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}

void Client::close() {
    if (!io_) return;
    asio::error_code ignored;
    io_->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    io_->socket.close(ignored);
}

Status Client::open() {
    close();
    io_->parser.emplace(Parser::Kind::response, options_.limits);
    io_->pending.clear();
    io_->truncated = false;
    io_->offset = 0;
    io_->responses = 0;
    io_->answered = false;

    asio::error_code ec;
    asio::ip::tcp::resolver resolver(io_->context);
    auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) return Status::io_error(fmt::format("cannot resolve {}: {}", host_, ec.message()));

    asio::error_code result = asio::error::would_block;
    asio::async_connect(
        io_->socket, endpoints,
        [&](const asio::error_code& e, const asio::ip::tcp::endpoint&) { result = e; });
    if (!io_->run_for(options_.connect_timeout)) {
        return Status::unavailable(fmt::format("connecting to {} timed out after {} ms",
                                               authority(host_, port_),
                                               options_.connect_timeout.count()));
    }
    if (result) {
        close();
        return Status::io_error(
            fmt::format("cannot connect to {}: {}", authority(host_, port_), result.message()));
    }
    io_->socket.set_option(asio::ip::tcp::no_delay(true), ec);
    if (options_.tls) return handshake();
    return Status::ok();
}

Status Client::handshake() {
    auto& io = *io_;
    io.tls.reset();
    io.tls.emplace(io.socket, *options_.tls);
    const std::string& name = options_.tls_server_name.empty() ? host_ : options_.tls_server_name;
    // SNI carries names only (RFC 6066 section 3); an IP address is checked against the
    // certificate's IP SANs by the verification below.
    asio::error_code ec;
    (void)asio::ip::make_address(name, ec);
    if (ec && SSL_set_tlsext_host_name(io.tls->native_handle(), name.c_str()) != 1) {
        ERR_clear_error();
        close();
        return Status::invalid_argument(fmt::format("bad TLS server name '{}'", name));
    }
    io.tls->set_verify_mode(asio::ssl::verify_peer);
    io.tls->set_verify_callback(asio::ssl::host_name_verification(name));

    asio::error_code result = asio::error::would_block;
    io.tls->async_handshake(asio::ssl::stream_base::client,
                            [&](const asio::error_code& e) { result = e; });
    if (!io.run_for(options_.connect_timeout)) {
        close();
        return Status::unavailable(fmt::format("TLS handshake with {} timed out after {} ms",
                                               authority(host_, port_),
                                               options_.connect_timeout.count()));
    }
    if (result) {
        std::string why = handshake_error(result, io.tls->native_handle());
        close();
        return Status::io_error(
            fmt::format("TLS handshake with {} failed: {}", authority(host_, port_), why));
    }
    return Status::ok();
}

Status Client::send_raw(std::string_view bytes) {
    if (!is_open()) return Status::io_error("not connected");
    asio::error_code result = asio::error::would_block;
    io_->async_write(asio::buffer(bytes),
                     [&](const asio::error_code& e, std::size_t) { result = e; });
    if (!io_->run_for(options_.io_timeout)) {
        return Status::unavailable(fmt::format("sending to {} timed out", authority(host_, port_)));
    }
    if (result) {
        close();
        return Status::io_error(
            fmt::format("sending to {}: {}", authority(host_, port_), result.message()));
    }
    return Status::ok();
}

Status Client::send_request(std::string_view method, std::string_view target, std::string_view body,
                            const Headers& headers) {
    std::string head = fmt::format("{} {} HTTP/1.1\r\n", method, target);
    if (!headers.contains("Host"))
        fmt::format_to(std::back_inserter(head), "Host: {}\r\n", authority(host_, port_));
    for (const auto& h : headers)
        fmt::format_to(std::back_inserter(head), "{}: {}\r\n", h.name, h.value);
    const bool framed = headers.contains("Content-Length") || headers.contains("Transfer-Encoding");
    if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
        fmt::format_to(std::back_inserter(head), "Content-Length: {}\r\n", body.size());
    }
    head += "\r\n";
    if (body.size() <= 4096) {
        head.append(body);
        return send_raw(head);
    }
    auto status = send_raw(head);
    if (!status) return status;
    return send_raw(body);
}

Result<ClientResponse> Client::request(std::string_view method, std::string_view target,
                                       std::string_view body, const Headers& headers) {
    auto attempt = [&]() -> Result<ClientResponse> {
        if (!is_open()) {
            auto status = open();
            if (!status) return status;
        }
        io_->answered = false;
        auto status = send_request(method, target, body, headers);
        if (!status) return status;
        return read_response(method == "HEAD");
    };
    // A kept-alive connection may have been closed by the server (idle timeout) just as
    // this request went out; the server then never read it, and a second connection is
    // the standard remedy. Only when not one byte of an answer came back, and only once.
    const bool reused = is_open() && io_->responses > 0;
    auto result = attempt();
    if (!result && reused && !io_->answered && result.status().code() == Status::Code::io_error) {
        close();
        result = attempt();
    }
    return result;
}

Status Client::read_some(clock::time_point deadline, bool& eof) {
    auto& io = *io_;
    if (io.offset == io.pending.size()) {
        io.pending.clear();
        io.offset = 0;
    }
    const std::size_t old_size = io.pending.size();
    io.pending.resize(old_size + k_read_size);
    asio::error_code result = asio::error::would_block;
    std::size_t n = 0;
    io.async_read_some(asio::buffer(io.pending.data() + old_size, k_read_size),
                       [&](const asio::error_code& e, std::size_t k) {
                           result = e;
                           n = k;
                       });
    bool completed = io.run_for(deadline - clock::now());
    io.pending.resize(old_size + n);
    if (!completed) {
        return Status::unavailable(
            fmt::format("no answer from {} in time", authority(host_, port_)));
    }
    // A TLS server that closes without close_notify reads as stream_truncated. Messages
    // are framed by the parser, which still tells a cut response from a complete one.
    io.truncated = result == asio::ssl::error::stream_truncated;
    eof = result == asio::error::eof || io.truncated;
    if (result && !eof) {
        close();
        return Status::io_error(
            fmt::format("receiving from {}: {}", authority(host_, port_), result.message()));
    }
    return Status::ok();
}

Result<ClientResponse> Client::read_response(bool head_request) {
    if (!is_open()) return Status::io_error("not connected");
    auto& io = *io_;
    auto& parser = *io.parser;
    parser.expect_no_body(head_request);
    const auto deadline = clock::now() + options_.io_timeout;
    io.answered = !io.unparsed().empty();

    ClientResponse response;
    bool interim = false;  // inside a 1xx response, which is skipped
    for (;;) {
        // Fed even when nothing is buffered: a response without a body ends without input.
        auto step = parser.feed(io.unparsed());
        io.offset += step.consumed;
        switch (step.event) {
            case Parser::Event::head: {
                auto head = parser.take_head();
                interim = head.status >= 100 && head.status < 200 && head.status != 101;
                if (!interim) {
                    response.status = head.status;
                    response.reason = std::move(head.reason);
                    response.headers = std::move(head.headers);
                    response.keep_alive = head.keep_alive;
                }
                continue;
            }
            case Parser::Event::body:
                if (response.body.size() + step.body.size() > options_.max_body) {
                    close();
                    return Status::too_large(
                        fmt::format("response body exceeds {} bytes", options_.max_body));
                }
                response.body.append(step.body);
                continue;
            case Parser::Event::message_end:
                if (interim) {
                    interim = false;
                    continue;
                }
                ++io.responses;
                if (!response.keep_alive) close();
                return response;
            case Parser::Event::error: {
                auto status = parser.error_status();
                close();
                return status;
            }
            case Parser::Event::need_more:
                break;
        }

        bool eof = false;
        auto status = read_some(deadline, eof);
        if (!status) {
            close();
            return status;
        }
        if (!io.unparsed().empty()) io.answered = true;
        if (eof) {
            // A body delimited by the end of the connection ends here; anything else is cut.
            const bool started = parser.in_message();
            // Over TLS only close_notify proves that a body delimited by the end of the
            // connection is whole; without it an attacker could have cut it.
            if (started && io.truncated) {
                close();
                return Status::io_error("TLS connection cut in the middle of a response");
            }
            auto last = parser.finish();
            close();
            if (last.event == Parser::Event::message_end && response.status != 0) {
                response.keep_alive = false;
                return response;
            }
            if (!started)
                return Status::io_error("server closed the connection without a response");
            return parser.error() != ParseError::none
                       ? parser.error_status()
                       : Status::io_error("server closed the connection mid-response");
        }
    }
}

Result<std::string> Client::read_raw(std::chrono::milliseconds timeout) {
    if (!io_) return Status::io_error("not connected");
    auto& io = *io_;
    if (io.offset == io.pending.size()) {
        if (!is_open()) return Status::io_error("not connected");
        bool eof = false;
        auto status = read_some(clock::now() + timeout, eof);
        if (!status) return status;
        if (eof) close();
    }
    std::string out(io.unparsed());
    io.pending.clear();
    io.offset = 0;
    return out;
}

Result<std::string> Client::read_until_close(std::chrono::milliseconds timeout) {
    std::string out;
    if (!io_) return out;
    auto& io = *io_;
    out.append(io.unparsed());
    io.pending.clear();
    io.offset = 0;
    if (!is_open()) return out;
    const auto deadline = clock::now() + timeout;
    for (;;) {
        bool eof = false;
        auto status = read_some(deadline, eof);
        if (status.code() == Status::Code::unavailable) return status;
        out.append(io.pending);
        io.pending.clear();
        io.offset = 0;
        if (!status || eof) break;  // a reset counts as closed
    }
    close();
    return out;
}

}  // namespace netkeep::http
