#include "http/connection.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <exception>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "http/compress.hpp"
#include "http/tls.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::http {

namespace {

// Every asynchronous operation reports its error as a value, never as an exception.
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

// Large enough for a whole head (16 KiB by default) plus body data in one read.
constexpr std::size_t k_buffer_size = 64 * 1024;
// How much a lingering close reads and drops at most before giving up on the client.
constexpr std::size_t k_max_linger_bytes = 1024 * 1024;
// Answers up to this size are written as one piece over TLS (one TLS record holds 16 KiB).
constexpr std::size_t k_tls_coalesce_bytes = 16 * 1024;

int status_for(ParseError error) {
    switch (error) {
        case ParseError::head_too_large:
            return 431;
        case ParseError::target_too_large:
            return 414;
        default:
            return 400;
    }
}

std::string describe(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

// The verified client certificate's subject, RFC 2253; empty without one.
std::string client_subject(SSL* ssl) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert) return {};
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio) return {};
    X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, std::size_t(n)) : std::string();
}

std::string describe_tls_error(const asio::error_code& ec, SSL* ssl) {
    std::string out = ec.message();
    if (ec.category() == asio::error::get_ssl_category() && ssl) {
        const long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) out += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    }
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

void ServerCore::log(std::string_view message) const {
    if (options.log) {
        options.log(message);
    } else {
        log_line(LogLevel::error, "http.error", {{"detail", std::string(message)}});
    }
}

Connection::Connection(std::shared_ptr<ServerCore> core, asio::ip::tcp::socket socket)
    : core_(std::move(core)),
      socket_(std::move(socket)),
      tls_context_(core_->options.tls ? core_->options.tls->current() : nullptr),
      timer_(socket_.get_executor()),
      parser_(Parser::Kind::request, core_->options.limits),
      buffer_(k_buffer_size) {
    asio::error_code ec;
    remote_ = socket_.remote_endpoint(ec);
    if (tls_context_) tls_.emplace(socket_, *tls_context_);
    core_->connections.insert(this);
    core_->per_client[remote_.address()] += 1;
}

Connection::~Connection() {
    core_->connections.erase(this);
    if (auto it = core_->per_client.find(remote_.address());
        it != core_->per_client.end() && --it->second == 0)
        core_->per_client.erase(it);
}

void Connection::start() {
    auto on_exit = [core = core_](std::exception_ptr e) {
        if (e) core->log(fmt::format("connection ended by an exception: {}", describe(e)));
    };
    asio::co_spawn(socket_.get_executor(), watchdog(shared_from_this()), on_exit);
    asio::co_spawn(socket_.get_executor(), run(shared_from_this()), on_exit);
}

void Connection::close_if_idle() {
    if (idle_ && begin_ == end_) close();
}

void Connection::close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
}

void Connection::set_deadline(clock::time_point deadline) {
    deadline_ = deadline;
    // The watchdog sleeps until the old deadline; wake it to re-arm if the new one is earlier.
    if (deadline < timer_.expiry()) timer_.cancel();
}

// `self` keeps the connection alive for as long as the coroutine runs.
asio::awaitable<void> Connection::watchdog([[maybe_unused]] std::shared_ptr<Connection> self) {
    while (!closed_) {
        timer_.expires_at(deadline_);
        co_await timer_.async_wait(use_nothrow);
        if (closed_) break;
        if (clock::now() >= deadline_) {
            // Cancel rather than close: run() sees the timeout and decides whether an answer
            // (408) is still worth writing before it closes.
            timed_out_ = true;
            deadline_ = clock::time_point::max();
            asio::error_code ignored;
            socket_.cancel(ignored);
        }
    }
}

asio::awaitable<std::tuple<asio::error_code, std::size_t>> Connection::read_some(
    asio::mutable_buffer buffer, bool raw) {
    if (tls_ && !raw) co_return co_await tls_->async_read_some(buffer, use_nothrow);
    co_return co_await socket_.async_read_some(buffer, use_nothrow);
}

template <typename Buffers>
asio::awaitable<std::tuple<asio::error_code, std::size_t>> Connection::write_all(
    const Buffers& buffers) {
    if (tls_) co_return co_await asio::async_write(*tls_, buffers, use_nothrow);
    co_return co_await asio::async_write(socket_, buffers, use_nothrow);
}

asio::awaitable<bool> Connection::handshake() {
    // The same deadline as the first head's (read_head): the whole of handshake plus head
    // must arrive within header_timeout of the accept.
    set_deadline(accepted_at_ + core_->options.header_timeout);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_nothrow);
    set_deadline(clock::time_point::max());
    if (ec || timed_out_) {
        // Not an error of the server's: port scanners, plain HTTP, clients that do not
        // trust the certificate or have none to show. One line, for the operator who
        // wonders why a worker cannot connect; a few a second at most, as any client can
        // fail handshakes at will.
        if (core_->handshake_log.admit(unix_now()))
            log_line(LogLevel::info, "tls.handshake_failed",
                     {{"remote", remote_.address().to_string()},
                      {"error", timed_out_ ? std::string("timed out")
                                           : describe_tls_error(ec, tls_->native_handle())},
                      {"suppressed", std::to_string(core_->handshake_log.take_suppressed())}});
        co_return false;
    }
    tls_peer_ = TlsPeer{client_subject(tls_->native_handle())};
    co_return true;
}

asio::awaitable<Connection::ReadOutcome> Connection::fill(clock::time_point deadline, bool raw) {
    assert(begin_ == end_);
    begin_ = end_ = 0;
    if (closed_) co_return ReadOutcome::error;
    if (timed_out_ || clock::now() >= deadline) co_return ReadOutcome::timeout;
    set_deadline(deadline);
    auto [ec, n] = co_await read_some(asio::buffer(buffer_), raw);
    set_deadline(clock::time_point::max());
    if (timed_out_) co_return ReadOutcome::timeout;
    // Over TLS a client that closes without close_notify reads as stream_truncated: for
    // a server that frames every message itself, that is just the end of the connection.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        co_return ReadOutcome::eof;
    if (ec) co_return ReadOutcome::error;
    end_ = n;
    co_return ReadOutcome::ok;
}

asio::awaitable<void> Connection::run([[maybe_unused]] std::shared_ptr<Connection> self) {
    if (tls_ && !co_await handshake()) {
        close();
        co_return;
    }
    for (bool first = true; !closed_; first = false) {
        auto head = co_await read_head(first);
        if (!head) {
            if (parser_.error() != ParseError::none && !closed_) {
                const auto& status = parser_.error_status();
                auto response = json_error(status_for(parser_.error()), status.message());
                if (core_->options.on_unrouted) core_->options.on_unrouted("", response.status);
                if (co_await write_response(response, false, true, false)) co_await linger_close();
            }
            break;
        }
        if (!co_await serve(std::move(*head))) break;
        if (core_->stopping) break;
    }
    if (!closed_) co_await say_goodbye(clock::now() + core_->options.linger_timeout);
    close();
}

asio::awaitable<void> Connection::say_goodbye(clock::time_point deadline) {
    if (!tls_ || timed_out_ || closed_) co_return;
    // close_notify tells the client the answer is complete, not cut. OpenSSL then waits
    // for the client's close_notify (and fails on data a client may still send), so this
    // is bounded; whatever follows closes the socket anyway.
    set_deadline(deadline);
    (void)co_await tls_->async_shutdown(use_nothrow);
    set_deadline(clock::time_point::max());
}

asio::awaitable<std::optional<MessageHead>> Connection::read_head(bool first) {
    const auto& options = core_->options;
    // A new connection must deliver its first head within header_timeout of the accept (a
    // client that connects and sends nothing is dropped then). A kept-alive connection may
    // wait idle_timeout for its next request, which then has header_timeout from its first
    // byte: a client that trickles its head is dropped either way.
    auto deadline =
        first ? accepted_at_ + options.header_timeout : clock::now() + options.idle_timeout;
    idle_ = true;
    for (;;) {
        if (begin_ < end_) {
            if (idle_) {
                idle_ = false;
                if (!first) deadline = clock::now() + options.header_timeout;
            }
            auto step = parser_.feed(pending());
            begin_ += step.consumed;
            switch (step.event) {
                case Parser::Event::head:
                    co_return parser_.take_head();
                case Parser::Event::error:
                    co_return std::nullopt;
                case Parser::Event::need_more:
                    break;
                case Parser::Event::body:
                case Parser::Event::message_end:
                    core_->log("parser reported a body before a head");  // cannot happen
                    co_return std::nullopt;
            }
            continue;
        }
        if (idle_ && core_->stopping) co_return std::nullopt;
        if (co_await fill(deadline) != ReadOutcome::ok) co_return std::nullopt;
    }
}

asio::awaitable<bool> Connection::serve(MessageHead head) {
    bool close_after = !head.keep_alive || head.upgrade;
    const bool head_only = head.method == "HEAD";
    const bool http10_keep_alive =
        head.version_major == 1 && head.version_minor == 0 && head.keep_alive;
    const bool client_accepts_gzip = accepts_gzip(head.headers);
    start_body(head);
    Response response = co_await route(std::move(head));

    // The server answers a body that could not be read, whatever the handler returned.
    if (body_failure_ == BodyFailure::disconnected) co_return false;
    if (body_failure_ != BodyFailure::none) {
        response = body_failure_response();
        close_after = true;
    }
    if (!close_after && !body_done_) {
        const bool drained = co_await discard_unread_body();
        if (body_failure_ == BodyFailure::disconnected) co_return false;
        if (!drained) close_after = true;
    }
    if (response.close || core_->stopping) close_after = true;
    for (const Header& field : core_->options.default_headers)
        if (!response.headers.contains(field.name)) response.headers.add(field.name, field.value);
    compress_response(response, client_accepts_gzip);

    if (!co_await write_response(response, head_only, close_after, http10_keep_alive))
        co_return false;
    if (close_after) {
        if (!body_done_ || begin_ < end_) co_await linger_close();
        co_return false;
    }
    co_return true;
}

void Connection::start_body(const MessageHead& head) {
    body_limit_ = core_->options.max_drain_bytes;
    body_received_ = 0;
    body_started_.reset();
    body_done_ = false;
    continue_pending_ = head.has_body() && head.expects_continue();
    body_failure_ = BodyFailure::none;
    body_error_ = Status::ok();
}

asio::awaitable<Response> Connection::route(MessageHead head) {
    auto target = parse_target(head.target);
    if (!target) {
        Response response = json_error(400, target.status().message());
        response.close = true;
        if (core_->options.on_unrouted) core_->options.on_unrouted(head.method, response.status);
        co_return response;
    }
    auto match = core_->router.match(head.method, target->raw_path);
    Request request(std::move(head), std::move(target.value()), remote_);
    request.set_tls(tls_peer_);
    Response response;
    switch (match.kind) {
        case Router::Match::Kind::not_found:
            response = json_error(404, fmt::format("no route for {}", request.path()));
            break;
        case Router::Match::Kind::method_not_allowed:
            response = json_error(405, fmt::format("method {} is not allowed for {}",
                                                   request.method(), request.path()));
            response.headers.set("Allow", match.allow);
            break;
        case Router::Match::Kind::found:
            request.set_captures(std::move(match.captures));
            co_return co_await run_route(*match.route, request);
    }
    if (core_->options.on_unrouted) core_->options.on_unrouted(request.method(), response.status);
    co_return response;
}

Response Connection::body_failure_response() const {
    switch (body_failure_) {
        case BodyFailure::too_large:
            return json_error(413, body_error_.message());
        case BodyFailure::timeout:
            return json_error(408, body_error_.message());
        default:  // malformed; none and disconnected never get here
            return json_error(400, body_error_.message());
    }
}

asio::awaitable<bool> Connection::discard_unread_body() {
    // Unread body bytes would be taken for the next request. A client waiting for
    // "100 Continue" may never send its body now, so such a connection is closed; otherwise
    // a small rest is read and dropped, a large one closes the connection.
    if (continue_pending_) co_return false;
    body_limit_ = body_received_ + core_->options.max_drain_bytes;
    co_return co_await drain_body();
}

asio::awaitable<Response> Connection::run_route(const Route& route, Request& request) {
    const auto& options = route.options;
    body_limit_ = options.max_body;
    if (request.head().content_length.value_or(0) > options.max_body) {
        // Refused before reading: the client learns at once (and with 100-continue it never
        // sends the body).
        body_failure_ = BodyFailure::too_large;
        body_error_ =
            Status::too_large(fmt::format("request body exceeds {} bytes", options.max_body));
        co_return Response{};
    }
    if (options.body_mode == BodyMode::buffered) {
        Body stream(static_cast<BodySource&>(*this));
        auto text = co_await stream.read_all(options.max_body);
        if (!text) co_return Response{};  // body_failure_ says why
        request.set_body(Body(std::move(text.value())));
    } else {
        request.set_body(Body(static_cast<BodySource&>(*this)));
    }

    std::exception_ptr failure;
    try {
        co_return co_await route.handler(request);
    } catch (...) {
        failure = std::current_exception();
    }
    core_->log(fmt::format("handler for {} {} threw: {}", request.method(), request.path(),
                           describe(failure)));
    co_return json_error(500, "internal server error");
}

Status Connection::fail_body(BodyFailure failure, Status status) {
    body_failure_ = failure;
    body_error_ = status;
    return status;
}

asio::awaitable<Result<std::string_view>> Connection::next_body_chunk() {
    if (body_failure_ != BodyFailure::none) co_return body_error_;
    if (body_done_) co_return std::string_view{};
    if (continue_pending_) {
        continue_pending_ = false;
        if (!co_await send_continue())
            co_return fail_body(BodyFailure::disconnected,
                                Status::io_error("client went away before sending the body"));
    }
    if (!body_started_) body_started_ = clock::now();
    for (;;) {
        if (auto chunk = take_buffered_body()) co_return std::move(*chunk);
        const BodyWait wait = next_body_wait();
        switch (co_await fill(wait.deadline)) {
            case ReadOutcome::ok:
                break;
            case ReadOutcome::timeout:
                co_return fail_body(BodyFailure::timeout, body_timeout_status(wait.rate_bound));
            case ReadOutcome::eof:
            case ReadOutcome::error:
                co_return fail_body(
                    BodyFailure::disconnected,
                    Status::io_error("client closed the connection in the middle of the body"));
        }
    }
}

asio::awaitable<bool> Connection::send_continue() {
    // A client that already started sending its body needs no invitation.
    if (begin_ != end_) co_return true;
    static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
    set_deadline(clock::now() + core_->options.write_timeout);
    auto [ec, n] = co_await write_all(asio::buffer(k_continue));
    set_deadline(clock::time_point::max());
    co_return !ec && !timed_out_;
}

std::optional<Result<std::string_view>> Connection::take_buffered_body() {
    // Fed even when nothing is buffered: a message without a body ends without input.
    auto step = parser_.feed(pending());
    begin_ += step.consumed;
    switch (step.event) {
        case Parser::Event::body:
            body_received_ += step.body.size();
            if (body_received_ > body_limit_) {
                return fail_body(
                    BodyFailure::too_large,
                    Status::too_large(fmt::format("request body exceeds {} bytes", body_limit_)));
            }
            return step.body;
        case Parser::Event::message_end:
            body_done_ = true;
            return std::string_view{};
        case Parser::Event::error:
            return fail_body(BodyFailure::malformed, parser_.error_status());
        case Parser::Event::head:
            return fail_body(BodyFailure::malformed,
                             Status::invalid_argument("unexpected message head"));
        case Parser::Event::need_more:
            break;
    }
    return std::nullopt;
}

Connection::BodyWait Connection::next_body_wait() const {
    // Two bounds on the wait: body_read_timeout for the next bytes, and the moment the
    // bytes received so far fall below min_body_rate on average (no sooner than
    // body_rate_grace after the first read). The second is absolute, so a client that
    // sends a byte just before each body_read_timeout is still cut.
    const auto& options = core_->options;
    BodyWait wait{clock::now() + options.body_read_timeout, false};
    if (options.min_body_rate > 0) {
        const auto earned = std::chrono::milliseconds(
            body_received_ / options.min_body_rate * 1000 +
            body_received_ % options.min_body_rate * 1000 / options.min_body_rate);
        const auto too_slow_at =
            *body_started_ + std::max<clock::duration>(options.body_rate_grace, earned);
        if (too_slow_at < wait.deadline) wait = {too_slow_at, true};
    }
    return wait;
}

Status Connection::body_timeout_status(bool rate_bound) const {
    const auto& options = core_->options;
    if (!rate_bound)
        return Status::unavailable(
            fmt::format("no request body data for {} ms", options.body_read_timeout.count()));
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - *body_started_);
    return Status::unavailable(
        fmt::format("request body arrived slower than {} bytes/s ({} bytes in {} ms)",
                    options.min_body_rate, body_received_, elapsed.count()));
}

asio::awaitable<bool> Connection::drain_body() {
    for (;;) {
        auto chunk = co_await next_body_chunk();
        if (!chunk) co_return false;
        if (chunk->empty()) co_return true;
    }
}

asio::awaitable<bool> Connection::write_response(const Response& response, bool head_only,
                                                 bool close, bool http10_keep_alive) {
    if (closed_) co_return false;
    std::string head = format_response_head(response, close, http10_keep_alive);
    std::string_view body = head_only ? std::string_view{} : std::string_view(response.body);
    // The SSL stream makes one TLS record (and one send) per buffer: a small answer goes
    // out as one record instead of two.
    if (tls_ && body.size() <= k_tls_coalesce_bytes) {
        head.append(body);
        body = {};
    }
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
    timed_out_ = false;  // a read that timed out does not spoil the answer about it
    set_deadline(clock::now() + core_->options.write_timeout);
    auto [ec, n] = co_await write_all(buffers);
    set_deadline(clock::time_point::max());
    co_return !ec && !timed_out_;
}

asio::awaitable<void> Connection::linger_close() {
    auto deadline = clock::now() + core_->options.linger_timeout;
    co_await say_goodbye(deadline);
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    std::size_t dropped = 0;
    while (dropped < k_max_linger_bytes) {
        begin_ = end_;  // drop whatever is buffered
        // Past the TLS layer: these bytes are never decrypted, only kept from turning the
        // close into a reset that could destroy the answer in flight.
        if (co_await fill(deadline, true) != ReadOutcome::ok) break;
        dropped += end_;
    }
    close();
}

}  // namespace netkeep::http
