#pragma once
// Process hardening shared by netkeepd, netkeep-worker and netkeepctl (docs/security.md
// "Secrets at rest"). Each main calls restrict_new_files() first, the long-running
// programs also disable_core_dumps(), and a program that is handed a directory or file
// holding secrets (a data dir, a token file) calls warn_if_exposed() on it at start.

#include <optional>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep {

// umask(077): every file and directory the process creates from now on (the event log,
// the spool, git objects, token files written by netkeepctl) is private to its user,
// whatever umask the shell or service manager handed down.
void restrict_new_files();

// No core dumps: a dump of netkeepd or the worker holds resolved device passwords and
// tokens. RLIMIT_CORE 0 stops the kernel writing one (also to a core_pattern pipe such as
// systemd-coredump), PR_SET_DUMPABLE 0 also keeps other processes of the same user from
// attaching with ptrace or reading /proc/PID/mem. An error names the call that failed;
// callers log it and go on (a process that cannot drop dumps is no worse off than before).
Status disable_core_dumps();

// True when permission bits `mode` let the group or others read, write or enter.
constexpr bool mode_exposed(unsigned mode) { return (mode & 077u) != 0; }

// "0755": the permission bits as chmod takes them.
std::string format_mode(unsigned mode);

// The permission bits of path (following symlinks: the target is what can be read), or
// nullopt when it cannot be stat'ed.
std::optional<unsigned> path_mode(const std::string& path);

// Logs one warning naming path, mode and what it is when group or others may access it:
//   ... warn permissions.exposed what="data dir" path=var mode=0755 fix="chmod go= var"
// Silent when path is private or missing (the caller reports a missing file its own way).
// Returns whether it warned. `what` says what the path holds: "data dir", "token file".
bool warn_if_exposed(const std::string& path, std::string_view what);

}  // namespace netkeep
