#pragma once
// A parsed request as a handler sees it, and the body it can read.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "http/headers.hpp"
#include "http/parser.hpp"
#include "http/url.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

// Route captures by name, in pattern order ("/tasks/{device}/{job}" -> device, job).
using Captures = std::vector<std::pair<std::string, std::string>>;

// Where a streamed body comes from: the server's connection, or a fake in tests.
class BodySource {
public:
    virtual ~BodySource() = default;
    // The next piece of the body, empty at its end. The view stays valid until the next
    // call. An error status once the body cannot be read any more.
    virtual asio::awaitable<Result<std::string_view>> next_body_chunk() = 0;
};

// The body of one request.
//
// Buffered routes: the server collected the whole body (within the route's max_body)
// before the handler runs; text() holds it, and read() returns it once, then empty.
// Streaming routes: text() is empty and read() pulls the body chunk by chunk from the
// connection as the handler asks, so the client is only read as fast as the handler
// consumes (backpressure) and memory does not grow with the body's size.
//
// read() returns an error status when the body cannot be read: the client went away,
// stalled past the body read timeout, sent a malformed chunk, or exceeded the route's
// max_body (too_large). The handler should then stop and clean up; the server answers
// such a request itself (413, 400, 408, or nothing if the client is gone) and closes the
// connection, whatever the handler returns.
class Body {
public:
    Body() = default;
    explicit Body(std::string text) : text_(std::move(text)) {}
    explicit Body(BodySource& source) : source_(&source) {}

    // Must be awaited on the thread that runs the server (see Server).
    asio::awaitable<Result<std::string_view>> read();
    // Reads everything that is left into one string; too_large past `limit` bytes.
    asio::awaitable<Result<std::string>> read_all(std::uint64_t limit);

    const std::string& text() const { return text_; }
    bool is_streaming() const { return source_ != nullptr; }
    bool at_end() const { return done_; }
    std::uint64_t bytes_read() const { return bytes_read_; }

private:
    BodySource* source_ = nullptr;
    std::string text_;
    bool done_ = false;
    std::uint64_t bytes_read_ = 0;
};

// What TLS established about the peer of a request that came over TLS.
struct TlsPeer {
    // The client certificate's subject (RFC 2253, e.g. "CN=worker-1,O=netkeep") when the
    // server requires client certificates (mTLS); empty otherwise. Verified against the
    // client CA before any request is read.
    std::string client_subject;
};

class Request {
public:
    Request() = default;
    Request(MessageHead head, Target target, asio::ip::tcp::endpoint remote)
        : head_(std::move(head)), target_(std::move(target)), remote_(std::move(remote)) {}

    const std::string& method() const { return head_.method; }
    const std::string& target() const { return head_.target; }  // raw, as sent
    const std::string& path() const { return target_.path; }    // percent-decoded
    const std::string& raw_path() const { return target_.raw_path; }
    const QueryParams& query() const { return target_.query; }
    // The first value of query parameter `name`.
    std::optional<std::string_view> query_param(std::string_view name) const;
    // Every value of query parameter `name`, in order.
    std::vector<std::string_view> query_params(std::string_view name) const;

    const Headers& headers() const { return head_.headers; }
    std::optional<std::string_view> header(std::string_view name) const {
        return head_.headers.get(name);
    }
    const MessageHead& head() const { return head_; }

    const Captures& captures() const { return captures_; }
    // The value captured by "{name}", empty if the route has no such capture.
    std::string_view capture(std::string_view name) const;
    void set_captures(Captures captures) { captures_ = std::move(captures); }

    const asio::ip::tcp::endpoint& remote() const { return remote_; }
    // Set when the request came over TLS.
    const std::optional<TlsPeer>& tls() const { return tls_; }
    void set_tls(std::optional<TlsPeer> tls) { tls_ = std::move(tls); }

    Body& body() { return body_; }
    void set_body(Body body) { body_ = std::move(body); }

private:
    MessageHead head_;
    Target target_;
    asio::ip::tcp::endpoint remote_;
    std::optional<TlsPeer> tls_;
    Captures captures_;
    Body body_;
};

}  // namespace netkeep::http
