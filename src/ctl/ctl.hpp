#pragma once
// netkeepctl: the operator's tool over a data dir, read-only (docs/operations.md). It
// opens the event log as a RocksDB secondary instance, so it runs beside a live
// netkeepd or offline, and replays it with the server's own projection. The one
// exception is scrub-secrets, which rewrites the log and so runs only while netkeepd is
// stopped (docs/security.md).
//
// Exit codes: 0 success (verify: no discrepancy), 1 failure (verify: discrepancies
// found; an unreadable data dir; an invalid inventory), 2 usage error.

#include <cstdio>
#include <string_view>
#include <vector>

namespace netkeep::ctl {

// args without the program name. Results go to out, messages to err.
int run(const std::vector<std::string_view>& args, std::FILE* out, std::FILE* err);

}  // namespace netkeep::ctl
