#pragma once
// netkeepd's command line: the settings it runs with and the rules that check them
// (docs/operations.md "Running netkeepd"). Pure (no I/O, no name lookups): unit-tested.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "http/tls.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/status.hpp"

namespace netkeep::netkeepd {

struct Config {
    std::filesystem::path data_dir = "var";  // the event log in var/log, the repo in var/repo.git
    std::filesystem::path inventory_dir;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
    std::uint64_t max_upload = std::uint64_t(1) << 30;  // largest completion file accepted
    // Limits on what one client can hold (docs/security.md, Limits); 0 turns one off.
    std::size_t max_connections_per_client = 64;
    std::uint64_t min_body_rate = 1024;  // bytes/s, averaged once body_rate_grace has passed
    std::chrono::milliseconds body_rate_grace{std::chrono::seconds(10)};
    // Off only with --no-git-writer: ingest then goes on (results wait in the spool and the
    // log) while the repository is repaired or moved; tests of the ingest half use it too.
    bool git_writer = true;
    PathLayout git_layout = PathLayout::device;
    bool commit_unchanged = false;
    std::chrono::seconds spool_retention{0};
    // Failed attempts (or crashes) after which the git writer quarantines an event.
    std::uint32_t quarantine_after = 3;
    LogLevel log_level = LogLevel::info;
    // The token file (docs/security.md). Without it every client may do everything, so
    // netkeepd then refuses to listen beyond loopback unless told --insecure-no-auth.
    std::filesystem::path auth_file;
    bool insecure_no_auth = false;
    http::TlsServerFiles tls;  // cert and key both set: HTTPS
    // Git mirrors (docs/mirrors.md): "[NAME=]URL" values of --git-mirror, and the
    // --git-mirrors file; netkeepd checks and loads them (they need the file system).
    std::vector<std::string> git_mirror_urls;
    std::filesystem::path git_mirrors_file;
    // --syslog-listen HOST:PORT (docs/syslog.md): empty host: no syslog listener.
    std::string syslog_host;
    std::uint16_t syslog_port = 0;
    std::chrono::seconds syslog_debounce{30};
    std::uint32_t syslog_rate = 100;  // messages a second per sender
    std::uint32_t syslog_max_connections = 256;
    std::chrono::seconds syslog_idle_timeout{300};
    // Retention (docs/retention.md): --log-retention DAYS (0: keep everything), --archive
    // DIR|none (empty: <data-dir>/archive), the first pass after retention_delay and then
    // every retention_every (--retention-interval SECONDS sets both, for tests).
    double log_retention_days = 0;
    std::string archive_dir;
    std::chrono::seconds retention_delay{60};
    std::chrono::seconds retention_every{3600};
    // Projection snapshots in <data-dir>/snapshots (docs/snapshots.md); 0 turns a trigger off.
    bool snapshots = true;
    std::uint64_t snapshot_every = 1'000'000;  // events
    std::chrono::seconds snapshot_interval{600};
    int snapshot_keep_days = 400;
};

// The usage line and every option, generated from the option table: for --help (stdout,
// exit 0) and after a usage error (stderr, exit 2).
extern const std::string k_usage;

// argv as main() gets it. Errors are invalid_argument and name the option; main() checks
// for --help/-h before calling this.
Result<Config> parse_args(int argc, char** argv);

}  // namespace netkeep::netkeepd
