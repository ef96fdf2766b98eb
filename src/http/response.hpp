#pragma once
// What a handler returns. The server adds the framing fields itself (Content-Length,
// Connection); a handler sets the status, its own fields, the content type and the body.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/headers.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

struct Response {
    int status = 200;
    Headers headers;           // extra fields; framing fields set here are ignored
    std::string content_type;  // empty: no Content-Type field
    std::string body;
    bool close = false;  // close the connection after this response
};

// Extra string fields for json_error, in output order.
using JsonFields = std::vector<std::pair<std::string, std::string>>;

Response text_response(int status, std::string body);       // text/plain; charset=utf-8
Response json_response(int status, std::string json_body);  // application/json, body as given
Response empty_response(int status);                        // no body, no content type
// {"error": "<message>", "<k>": "<v>", ...} with every string JSON-escaped.
Response json_error(int status, std::string_view message, const JsonFields& extra = {});

// The HTTP status that answers a failed Status: too_large 413, invalid_argument 400,
// not_found 404, conflict 409, not_supported 501, unavailable 503, anything else 500.
int http_status_for(const Status& status);
// json_error(http_status_for(status), status.message())
Response error_response(const Status& status);

// "OK", "Not Found", ...; "Unknown" for codes we never send.
std::string_view reason_phrase(int status);

// Status line and header block (ending in the blank line) for `response`. The server owns
// the framing: Content-Length (the body's size, also for HEAD; none for 1xx, 204, 304) and
// Connection ("close", or "keep-alive" for an HTTP/1.0 client that asked for it); such
// fields in response.headers are dropped, as is any field whose name is not a token or
// whose value holds CR, LF or NUL (no header injection through handler data).
std::string format_response_head(const Response& response, bool close, bool http10_keep_alive);

}  // namespace netkeep::http
