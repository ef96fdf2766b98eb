#include "netkeep/hardening.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "netkeep/logger.hpp"

namespace netkeep {

void restrict_new_files() { ::umask(077); }

Status disable_core_dumps() {
    rlimit none{0, 0};
    if (::setrlimit(RLIMIT_CORE, &none) != 0)
        return Status::io_error(fmt::format("setrlimit(RLIMIT_CORE, 0): {}", std::strerror(errno)));
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return Status::io_error(fmt::format("prctl(PR_SET_DUMPABLE, 0): {}", std::strerror(errno)));
    return Status::ok();
}

std::string format_mode(unsigned mode) { return fmt::format("{:04o}", mode & 07777u); }

std::optional<unsigned> path_mode(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return static_cast<unsigned>(st.st_mode) & 07777u;
}

bool warn_if_exposed(const std::string& path, std::string_view what) {
    auto mode = path_mode(path);
    if (!mode || !mode_exposed(*mode)) return false;
    log_line(LogLevel::warn, "permissions.exposed",
             {{"what", std::string(what)},
              {"path", path},
              {"mode", format_mode(*mode)},
              {"fix", fmt::format("chmod go= {}", path)}});
    return true;
}

}  // namespace netkeep
