#include "bin/netkeepd_args.hpp"

#include <charconv>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <asio/ip/address.hpp>

#include "util/args.hpp"
#include "util/endpoint.hpp"

namespace netkeep::netkeepd {

namespace {

using args::Kind;
using args::quoted;
using args::Rule;

bool is_loopback(std::string_view host) {
    if (host == "localhost") return true;
    asio::error_code ec;
    auto address = asio::ip::make_address(std::string(host), ec);
    return !ec && address.is_loopback();
}

// The whole of `text` as a number of type T, or nothing.
template <typename T>
std::optional<T> number(std::string_view text) {
    T n{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return n;
}

Status bad(std::string_view option, std::string_view wants, std::string_view value) {
    return Status::invalid_argument(
        fmt::format("{} wants {}, got {}", option, wants, quoted(value)));
}

Status set_listen(Config& c, std::string_view v) {
    auto endpoint = parse_endpoint(v);
    if (!endpoint) return Status::invalid_argument("--listen " + endpoint.status().message());
    c.host = std::move(endpoint->host);
    c.port = endpoint->port;
    return Status::ok();
}

Status set_git_layout(Config& c, std::string_view v) {
    if (v == "device")
        c.git_layout = PathLayout::device;
    else if (v == "group")
        c.git_layout = PathLayout::group;
    else
        return bad("--git-layout", "'device' or 'group'", v);
    return Status::ok();
}

// At least a minute: the sweep tells a file whose event is being appended right now from an
// orphan by its age.
Status set_spool_retention(Config& c, std::string_view v) {
    auto seconds = number<std::int64_t>(v);
    if (!seconds || *seconds < 0 || (*seconds > 0 && *seconds < 60))
        return bad("--spool-retention", "0 or at least 60 seconds", v);
    c.spool_retention = std::chrono::seconds(*seconds);
    return Status::ok();
}

// A client limit: a count up to 2^40, 0 for none.
std::optional<std::uint64_t> limit(std::string_view v) {
    auto n = number<std::uint64_t>(v);
    if (!n || *n > (std::uint64_t(1) << 40)) return std::nullopt;
    return n;
}

Status set_max_connections(Config& c, std::string_view v) {
    auto n = limit(v);
    if (!n) return bad("--max-connections-per-client", "a number (0: no limit)", v);
    c.max_connections_per_client = std::size_t(*n);
    return Status::ok();
}

Status set_min_body_rate(Config& c, std::string_view v) {
    auto n = limit(v);
    if (!n) return bad("--min-body-rate", "a number (0: no limit)", v);
    c.min_body_rate = *n;
    return Status::ok();
}

Status set_body_rate_grace(Config& c, std::string_view v) {
    auto seconds = number<std::int64_t>(v);
    if (!seconds || *seconds < 1 || *seconds > 3600)
        return bad("--body-rate-grace", "seconds from 1 to 3600", v);
    c.body_rate_grace = std::chrono::seconds(*seconds);
    return Status::ok();
}

Status set_log_level(Config& c, std::string_view v) {
    auto level = parse_log_level(v);
    if (!level) return bad("--log-level", "debug, info, warn or error", v);
    c.log_level = *level;
    return Status::ok();
}

Status set_quarantine_after(Config& c, std::string_view v) {
    auto n = number<std::uint32_t>(v);
    if (!n || *n == 0 || *n > 1000) return bad("--quarantine-after", "a count in [1, 1000]", v);
    c.quarantine_after = *n;
    return Status::ok();
}

Status set_snapshot_every(Config& c, std::string_view v) {
    auto n = number<std::uint64_t>(v);
    if (!n || (*n > 0 && *n < 100) || *n > (std::uint64_t(1) << 40))
        return bad("--snapshot-every", "0 or an event count of at least 100", v);
    c.snapshot_every = *n;
    return Status::ok();
}

Status set_snapshot_interval(Config& c, std::string_view v) {
    auto n = number<std::int64_t>(v);
    if (!n || *n < 0 || *n > 86400 * 30)
        return bad("--snapshot-interval", "seconds from 0 to 2592000", v);
    c.snapshot_interval = std::chrono::seconds(*n);
    return Status::ok();
}

Status set_snapshot_keep_days(Config& c, std::string_view v) {
    auto n = number<int>(v);
    if (!n || *n < 0 || *n > 36500) return bad("--snapshot-keep-days", "days from 0 to 36500", v);
    c.snapshot_keep_days = *n;
    return Status::ok();
}

Status set_max_upload(Config& c, std::string_view v) {
    auto bytes = number<std::uint64_t>(v);
    if (!bytes || *bytes == 0) return bad("--max-upload", "a byte count", v);
    c.max_upload = *bytes;
    return Status::ok();
}

// Fractions allowed, rounded to the millisecond, never to 0.
Status set_header_timeout(Config& c, std::string_view v) {
    auto seconds = number<double>(v);
    if (!seconds || !(*seconds > 0 && *seconds <= 3600))
        return bad("--header-timeout", "seconds in (0, 3600]", v);
    c.header_timeout = std::chrono::milliseconds(static_cast<long long>(*seconds * 1000 + 0.5));
    if (c.header_timeout.count() == 0) c.header_timeout = std::chrono::milliseconds(1);
    return Status::ok();
}

// ---- --syslog-* (docs/syslog.md) ----

Status set_syslog_listen(Config& c, std::string_view v) {
    auto endpoint = parse_endpoint(v);
    if (!endpoint)
        return Status::invalid_argument("--syslog-listen " + endpoint.status().message());
    c.syslog_host = std::move(endpoint->host);
    c.syslog_port = endpoint->port;
    return Status::ok();
}

// A whole number in [min, max] for a --syslog-* option.
template <typename T>
Status syslog_number(std::string_view option, std::string_view v, T min, T max, T& out) {
    auto n = number<T>(v);
    if (!n || *n < min || *n > max)
        return bad(option, fmt::format("a whole number from {} to {}", min, max), v);
    out = *n;
    return Status::ok();
}

Status set_syslog_debounce(Config& c, std::string_view v) {
    std::int64_t seconds = 0;
    if (Status s = syslog_number<std::int64_t>("--syslog-debounce", v, 1, 3600, seconds); !s)
        return s;
    c.syslog_debounce = std::chrono::seconds(seconds);
    return Status::ok();
}

Status set_syslog_rate(Config& c, std::string_view v) {
    return syslog_number<std::uint32_t>("--syslog-rate", v, 1, 100000, c.syslog_rate);
}

Status set_syslog_max_connections(Config& c, std::string_view v) {
    return syslog_number<std::uint32_t>("--syslog-max-connections", v, 1, 65536,
                                        c.syslog_max_connections);
}

Status set_syslog_idle_timeout(Config& c, std::string_view v) {
    std::int64_t seconds = 0;
    if (Status s = syslog_number<std::int64_t>("--syslog-idle-timeout", v, 1, 86400, seconds); !s)
        return s;
    c.syslog_idle_timeout = std::chrono::seconds(seconds);
    return Status::ok();
}

Status set_log_retention(Config& c, std::string_view v) {
    double days = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), days);
    if (ec != std::errc() || end != v.data() + v.size() || !(days > 0) || days > 36500)
        return bad("--log-retention", "days in (0, 36500], e.g. 400 or 0.5", v);
    c.log_retention_days = days;
    return Status::ok();
}

Status set_retention_interval(Config& c, std::string_view v) {
    auto n = number<std::int64_t>(v);
    if (!n || *n < 1 || *n > 86400) return bad("--retention-interval", "seconds in [1, 86400]", v);
    c.retention_delay = c.retention_every = std::chrono::seconds(*n);
    return Status::ok();
}

// Each field as the captureless function a Rule holds.
template <auto field>
Status set_path(Config& c, std::string_view v) {
    c.*field = std::string(v);
    return Status::ok();
}

template <bool Config::*field, bool to>
Status set_flag(Config& c, std::string_view) {
    c.*field = to;
    return Status::ok();
}

constexpr Rule<Config> k_rules[] = {
    {{"data-dir", Kind::value, "DIR", "where netkeepd keeps its state (default ./var)"},
     set_path<&Config::data_dir>},
    {{"inventory", Kind::value, "DIR", "devices.json and jobs.json (required)"},
     set_path<&Config::inventory_dir>},
    {{"listen", Kind::value, "HOST:PORT", "address to listen on (default 127.0.0.1:8080)"},
     set_listen},
    {{"max-upload", Kind::value, "BYTES", "largest result file accepted (default 1 GiB)"},
     set_max_upload},
    {{"header-timeout", Kind::value, "SECONDS", "time for a request head (default 10)"},
     set_header_timeout},
    {{"max-connections-per-client", Kind::value, "N", "open connections per address (64)"},
     set_max_connections},
    {{"min-body-rate", Kind::value, "BYTES_PER_S", "slowest request body (1024; 0: none)"},
     set_min_body_rate},
    {{"body-rate-grace", Kind::value, "SECONDS", "before --min-body-rate applies (10)"},
     set_body_rate_grace},
    {{"no-git-writer", Kind::flag, "", "do not run the git writer (results wait in the spool)"},
     set_flag<&Config::git_writer, false>},
    {{"git-layout", Kind::value, "device|group", "<device>/<job> (default) or <group>/..."},
     set_git_layout},
    {{"commit-unchanged", Kind::flag, "", "commit every backup, also an unchanged one"},
     set_flag<&Config::commit_unchanged, true>},
    {{"spool-retention", Kind::value, "SECONDS", "keep applied uploads (0, or at least 60)"},
     set_spool_retention},
    {{"quarantine-after", Kind::value, "N", "failed git attempts before quarantine (3)"},
     set_quarantine_after},
    {{"log-level", Kind::value, "LEVEL", "debug, info (default), warn or error"}, set_log_level},
    {{"auth", Kind::value, "FILE", "the token file; without it: loopback only"},
     set_path<&Config::auth_file>},
    {{"insecure-no-auth", Kind::flag, "", "without --auth, listen beyond loopback anyway (labs)"},
     set_flag<&Config::insecure_no_auth, true>},
    {{"tls-cert", Kind::value, "FILE", "serve HTTPS with this certificate chain (PEM)"},
     [](Config& c, std::string_view v) {
         c.tls.cert = std::string(v);
         return Status::ok();
     }},
    {{"tls-key", Kind::value, "FILE", "and this key (PEM); both or neither"},
     [](Config& c, std::string_view v) {
         c.tls.key = std::string(v);
         return Status::ok();
     }},
    {{"tls-client-ca", Kind::value, "FILE", "require client certificates from these CAs"},
     [](Config& c, std::string_view v) {
         c.tls.client_ca = std::string(v);
         return Status::ok();
     }},
    {{"git-mirror", Kind::repeated, "[NAME=]URL", "push main there after each batch (file://)"},
     [](Config& c, std::string_view v) {
         c.git_mirror_urls.emplace_back(v);
         return Status::ok();
     }},
    {{"git-mirrors", Kind::value, "FILE", "git mirrors with credentials (JSON, mirrors.md)"},
     set_path<&Config::git_mirrors_file>},
    {{"syslog-listen", Kind::value, "HOST:PORT", "take syslog (UDP and TCP) to back up changes"},
     set_syslog_listen},
    {{"syslog-debounce", Kind::value, "SECONDS", "one run per device per window (30)"},
     set_syslog_debounce},
    {{"syslog-rate", Kind::value, "N", "syslog messages a second per sender (100)"},
     set_syslog_rate},
    {{"syslog-max-connections", Kind::value, "N", "open syslog TCP connections (256)"},
     set_syslog_max_connections},
    {{"syslog-idle-timeout", Kind::value, "SECONDS", "close a silent syslog TCP connection (300)"},
     set_syslog_idle_timeout},
    {{"log-retention", Kind::value, "DAYS", "archive events older than that (default: keep all)"},
     set_log_retention},
    {{"archive", Kind::value, "DIR|none", "archive segments (<data-dir>/archive); none: delete"},
     set_path<&Config::archive_dir>},
    {{"retention-interval", Kind::value, "SECONDS", "first retention pass and period (60, 3600)"},
     set_retention_interval},
    {{"snapshot-every", Kind::value, "EVENTS", "snapshot the state every N events (1000000)"},
     set_snapshot_every},
    {{"snapshot-interval", Kind::value, "SECONDS", "or after this long with changes (600)"},
     set_snapshot_interval},
    {{"snapshot-keep-days", Kind::value, "DAYS", "keep a daily snapshot this long (400)"},
     set_snapshot_keep_days},
    {{"no-snapshots", Kind::flag, "", "neither load nor write snapshots (full replay)"},
     set_flag<&Config::snapshots, false>},
};

// The rules between options, once each has been read.
Status check_combination(const Config& c) {
    if (c.inventory_dir.empty()) return Status::invalid_argument("--inventory is required");
    if (!c.auth_file.empty() && c.insecure_no_auth)
        return Status::invalid_argument("--auth and --insecure-no-auth exclude each other");
    if (c.auth_file.empty() && !c.insecure_no_auth && !is_loopback(c.host))
        return Status::invalid_argument(fmt::format(
            "--listen {}: without --auth FILE every client could lease jobs (and read device "
            "passwords), post configs and reload the inventory; listening beyond loopback needs "
            "--auth (or --insecure-no-auth for a lab)",
            c.host));
    if (c.tls.cert.empty() != c.tls.key.empty())
        return Status::invalid_argument("--tls-cert and --tls-key go together");
    if (!c.tls.client_ca.empty() && c.tls.cert.empty())
        return Status::invalid_argument("--tls-client-ca needs --tls-cert and --tls-key");
    if (!c.git_writer && (!c.git_mirror_urls.empty() || !c.git_mirrors_file.empty()))
        return Status::invalid_argument(
            "--git-mirror(s) needs the git writer (no --no-git-writer)");
    return Status::ok();
}

}  // namespace

const std::string k_usage =
    "usage: netkeepd --inventory DIR [options]\n\n" + args::help_text<Config>(k_rules);

Result<Config> parse_args(int argc, char** argv) {
    Config config;
    const auto words = args::views(argc, argv);
    auto parsed = args::parse_into<Config>(k_rules, words, config);
    if (!parsed) return parsed.status();
    // main() answers -h/--help before parsing; should one get here, nothing was applied.
    if (parsed->help) return Status::not_found("help");
    if (!parsed->positional.empty())
        return Status::invalid_argument("unexpected argument " + quoted(parsed->positional[0]));
    if (Status s = check_combination(config); !s) return s;
    return config;
}

}  // namespace netkeep::netkeepd
