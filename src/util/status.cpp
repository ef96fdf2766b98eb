#include "netkeep/status.hpp"

namespace netkeep {

std::string_view code_name(Status::Code code) {
    switch (code) {
        case Status::Code::ok:
            return "ok";
        case Status::Code::not_found:
            return "not found";
        case Status::Code::corruption:
            return "corruption";
        case Status::Code::invalid_argument:
            return "invalid argument";
        case Status::Code::conflict:
            return "conflict";
        case Status::Code::io_error:
            return "io error";
        case Status::Code::not_supported:
            return "not supported";
        case Status::Code::unavailable:
            return "unavailable";
        case Status::Code::too_large:
            return "too large";
        case Status::Code::no_space:
            return "no space";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (is_ok()) return "ok";
    std::string out(code_name(code_));
    out += ": ";
    out += message_;
    return out;
}

}  // namespace netkeep
