#pragma once
// The subcommands behind ctl::run. Each returns the process exit code.

#include <cstdio>

#include "ctl/args.hpp"

namespace netkeep::ctl {

struct Io {
    std::FILE* out;
    std::FILE* err;
};

int run_log(const Options& o, Io io);
int run_state(const Options& o, Io io);
int run_inventory_check(const Options& o, Io io);
int run_inventory_netbox(const Options& o, Io io);  // docs/netbox.md
int run_verify(const Options& o, Io io);
int run_backup(const Options& o, Io io);
int run_token(const Options& o, Io io);  // token add | list | revoke
int run_scrub_secrets(const Options& o, Io io);
int run_quarantine(const Options& o, Io io);  // quarantine list | retry SEQ
int run_platforms(const Options& o, Io io);   // platforms [NAME]
int run_consumers(const Options& o, Io io);   // consumers

// "<data-dir>/log", "<data-dir>/repo.git", "<data-dir>/spool".
std::string log_dir(const Options& o);
std::string repo_dir(const Options& o);
std::string spool_dir(const Options& o);

// Prints "netkeepctl: <message>" on err (and {"error": ...} on out with --json).
int fail(const Options& o, Io io, std::string_view message, int code = 1);

}  // namespace netkeep::ctl
