#include "util/posix.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace netkeep {

Status errno_status(int err, std::string_view what, std::string_view path) {
    std::string message = fmt::format("{} {}: {}", what, path, std::strerror(err));
    if (err == ENOENT) return Status::not_found(std::move(message));
    if (err == ENOSPC || err == EDQUOT) return Status::no_space(std::move(message));
    return Status::io_error(std::move(message));
}

}  // namespace netkeep
