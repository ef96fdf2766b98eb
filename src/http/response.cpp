#include "http/response.hpp"

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::http {

Response text_response(int status, std::string body) {
    Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

Response json_response(int status, std::string json_body) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(json_body);
    return r;
}

Response empty_response(int status) {
    Response r;
    r.status = status;
    return r;
}

Response json_error(int status, std::string_view message, const JsonFields& extra) {
    std::string body = "{\"error\": ";
    body += json_quote(message);
    for (const auto& [key, value] : extra) {
        body += ", ";
        body += json_quote(key);
        body += ": ";
        body += json_quote(value);
    }
    body += '}';
    return json_response(status, std::move(body));
}

int http_status_for(const Status& status) {
    switch (status.code()) {
        case Status::Code::ok:
            return 200;
        case Status::Code::too_large:
            return 413;
        case Status::Code::invalid_argument:
            return 400;
        case Status::Code::not_found:
            return 404;
        case Status::Code::conflict:
            return 409;
        case Status::Code::not_supported:
            return 501;
        case Status::Code::unavailable:
            return 503;
        case Status::Code::no_space:
            return 507;
        case Status::Code::corruption:
        case Status::Code::io_error:
            return 500;
    }
    return 500;
}

Response error_response(const Status& status) {
    return json_error(http_status_for(status), status.message());
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 422:
            return "Unprocessable Content";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        case 507:
            return "Insufficient Storage";
        default:
            return "Unknown";
    }
}

namespace {

bool safe_field(const Header& h) {
    if (!is_token(h.name)) return false;
    return h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

}  // namespace

std::string format_response_head(const Response& response, bool close, bool http10_keep_alive) {
    std::string out =
        fmt::format("HTTP/1.1 {} {}\r\n", response.status, reason_phrase(response.status));
    const bool has_content =
        !(response.status < 200 || response.status == 204 || response.status == 304);
    Header content_type{"Content-Type", response.content_type};
    if (!response.content_type.empty() && safe_field(content_type)) {
        fmt::format_to(std::back_inserter(out), "Content-Type: {}\r\n", response.content_type);
    }
    for (const auto& h : response.headers) {
        if (!safe_field(h) || iequals(h.name, "Content-Length") ||
            iequals(h.name, "Transfer-Encoding") || iequals(h.name, "Connection") ||
            (!response.content_type.empty() && iequals(h.name, "Content-Type"))) {
            continue;
        }
        fmt::format_to(std::back_inserter(out), "{}: {}\r\n", h.name, h.value);
    }
    if (has_content)
        fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
    if (close) {
        out += "Connection: close\r\n";
    } else if (http10_keep_alive) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace netkeep::http
