#pragma once
// Answers more than one front end gives. Internal to src/api.

#include <string_view>

#include "http/response.hpp"

namespace netkeep::api {

// The answer when a task is held by another request's append in flight: it is free again
// within moments, so the client is told to retry soon.
inline http::Response task_busy_response(std::string_view message) {
    http::Response r = http::json_error(503, message);
    r.headers.set("Retry-After", "1");
    return r;
}

}  // namespace netkeep::api
