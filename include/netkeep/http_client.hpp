#pragma once
// Outgoing HTTP(S) requests and SMTP mail, for the parts that talk to other tools
// (notification targets, NetBox). A thin layer over libcurl (src/net is the only place
// that includes <curl/curl.h>): netkeep never writes these protocols itself.
//
// Every call is bounded in time (timeout) and size (max_response), follows no redirect
// unless asked, and speaks only the protocols its function names (no file://, no ftp:// by
// way of a redirect or a hostile URL). Error texts name the host and the fault, never
// the URL's path or query (a Slack or Teams webhook URL is itself the secret) and never
// a header or a body.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method = "GET";                // GET, POST, PUT, ...
    std::string url;                           // http:// or https:// only
    HttpHeaders headers;                       // sent as given; netkeep adds User-Agent
    std::string body;                          // sent when not empty (or when method is POST/PUT)
    std::chrono::milliseconds timeout{10000};  // the whole request
    std::chrono::milliseconds connect_timeout{5000};  // TCP + TLS handshake
    std::uint64_t max_response = 8 * 1024 * 1024;     // bytes of body; more: too_large
    std::string ca_file;                              // PEM bundle to trust instead of the system's
    bool verify_tls = true;         // false only when an operator said so, per target
    bool follow_redirects = false;  // at most 5, same protocols
    // When set and it becomes true, the request ends within about a second (unavailable,
    // "cancelled"): a stopping caller does not wait out the timeout.
    const std::atomic<bool>* cancel = nullptr;
};

struct HttpResponse {
    long status = 0;  // HTTP status code
    std::string body;
    HttpHeaders headers;  // of the last response, names lower-cased
    // The value of the first header with this (lower-case) name, or empty.
    std::string_view header(std::string_view name) const;
};

// Transport failures (DNS, refused, TLS, timeout) are unavailable; a body over
// max_response is too_large; a bad URL or protocol is invalid_argument. Any HTTP status
// is a success here: the caller decides what 4xx and 5xx mean.
Result<HttpResponse> http_request(const HttpRequest& request);

struct MailRequest {
    enum class Tls {
        none,                 // plain SMTP (a relay on localhost)
        starttls_if_offered,  // STARTTLS when the server offers it
        starttls_required,    // fail unless STARTTLS succeeds (the default)
    };
    std::string url;  // smtp://host[:port] or smtps://host[:port] (TLS from the start)
    std::string from;
    std::vector<std::string> to;
    std::string message;  // the whole RFC 5322 message, headers and body, CRLF line ends
    std::string user;     // AUTH when not empty
    std::string password;
    Tls tls = Tls::starttls_required;
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds connect_timeout{10000};
    std::string ca_file;
    bool verify_tls = true;
    const std::atomic<bool>* cancel = nullptr;  // as HttpRequest::cancel
};

// Ok once the relay accepted the message for every recipient.
Status send_mail(const MailRequest& mail);

// HMAC-SHA256 of data under key, lower-case hex (a webhook's signature header).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace netkeep
