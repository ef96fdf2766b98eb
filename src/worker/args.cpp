// netkeep-worker's command line (docs/worker.md): parse_worker_args(), worker_usage() and
// default_known_hosts() of worker/worker.hpp, on the shared scanner (util/args.hpp).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "util/args.hpp"
#include "worker/worker.hpp"

namespace netkeep::worker {

namespace {

using args::Kind;
using args::Rule;

// 1 TiB: far above any configuration, and far from overflowing the byte counts.
constexpr std::uint64_t k_max_max_output = std::uint64_t(1) << 40;

// A whole number of Units (int, std::chrono::seconds...) from lo to hi, stored in `out`.
template <typename Unit, typename T>
Status set_int(T& out, std::string_view name, std::string_view value, int lo, int hi) {
    int v = 0;
    bool ok = !value.empty() && value.size() <= 9;
    for (char c : value) {
        if (c < '0' || c > '9')
            ok = false;
        else
            v = v * 10 + (c - '0');
    }
    if (!ok || v < lo || v > hi)
        return Status::invalid_argument(
            fmt::format("{} must be an integer from {} to {}", name, lo, hi));
    out = Unit(v);
    return Status::ok();
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "netkeep-worker";
    return buf;
}

Status set_server(WorkerOptions& o, std::string_view v) {
    auto url = parse_server_url(v);
    if (!url) return url.status();
    o.server = std::move(url.value());
    return Status::ok();
}

Status set_max_output(WorkerOptions& o, std::string_view v) {
    std::uint64_t bytes = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), bytes);
    if (ec != std::errc() || end != v.data() + v.size() || bytes == 0 || bytes > k_max_max_output)
        return Status::invalid_argument(
            fmt::format("--max-output must be a byte count from 1 to {}", k_max_max_output));
    o.run.max_output = bytes;
    return Status::ok();
}

Status set_log_level(WorkerOptions& o, std::string_view v) {
    auto level = parse_log_level(v);
    if (!level) return Status::invalid_argument("--log-level must be debug, info, warn or error");
    o.log_level = *level;
    return Status::ok();
}

Status set_name(WorkerOptions& o, std::string_view v) {
    // The server refuses a longer X-Netkeep-Worker (docs/api.md, Limits).
    if (v.size() > 128) return Status::invalid_argument("--name must be at most 128 bytes");
    o.name = std::string(v);
    return Status::ok();
}

// A string setting (the scanner refuses empty values) as the captureless function a Rule
// holds: `member` of WorkerOptions, or `inner` of that member.
template <auto member>
Status set_text(WorkerOptions& o, std::string_view v) {
    o.*member = std::string(v);
    return Status::ok();
}

template <auto member, auto inner>
Status set_text(WorkerOptions& o, std::string_view v) {
    o.*member.*inner = std::string(v);
    return Status::ok();
}

constexpr Rule<WorkerOptions> k_connection_rules[] = {
    {{"server", Kind::value, "URL", "netkeepd's address, e.g. http://127.0.0.1:8080 (required)"},
     set_server},
    {{"tag", Kind::repeated, "T", "only devices with tag T; repeatable (default: every device)"},
     [](WorkerOptions& o, std::string_view v) {
         o.tags.emplace_back(v);
         return Status::ok();
     }},
    {{"seconds", Kind::value, "N",
      "poll every N seconds, leasing jobs due within N s (1..3600, default 15)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<int>(o.seconds, "--seconds", v, 1, 3600);
     }},
    {{"max", Kind::value, "M", "at most M jobs per poll (1..1000, default 15)"},
     [](WorkerOptions& o, std::string_view v) { return set_int<int>(o.max, "--max", v, 1, 1000); }},
    {{"concurrency", Kind::value, "K", "at most K jobs at once (1..1000, default 30)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<int>(o.concurrency, "--concurrency", v, 1, 1000);
     }},
    {{"post-connections", Kind::value, "N",
      "at most N connections to post results, shared by the K jobs\n"
      "(1..64, default the smaller of K and 8)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<int>(o.post_connections, "--post-connections", v, 1, 64);
     }},
    {{"known-hosts", Kind::value, "FILE",
      "pinned SSH host keys (default $XDG_STATE_HOME/netkeep/known_hosts,\n"
      "else ~/.local/state/netkeep/known_hosts, else ./netkeep-known_hosts)"},
     set_text<&WorkerOptions::run, &RunOptions::known_hosts>},
    {{"strict-host-keys", Kind::flag, "",
      "refuse SSH devices whose host key is pinned neither in the inventory\n"
      "nor in the known-hosts file (no trust on first use), and telnet devices"},
     [](WorkerOptions& o, std::string_view) {
         o.run.strict_host_keys = true;
         return Status::ok();
     }},
    {{"grace", Kind::value, "S",
      "on SIGTERM/SIGINT, wait S s for running jobs (0..86400, default 30)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<std::chrono::seconds>(o.grace, "--grace", v, 0, 86400);
     }},
    {{"name", Kind::value, "NAME", "worker name sent as X-Netkeep-Worker (default: the host name)"},
     set_name},
};

constexpr Rule<WorkerOptions> k_session_rules[] = {
    {{"connect-timeout", Kind::value, "S",
      "TCP connect + SSH handshake limit per step (1..3600, default 10)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<std::chrono::seconds>(o.run.connect_timeout, "--connect-timeout", v, 1,
                                              3600);
     }},
    {{"idle-timeout", Kind::value, "S", "longest silence from a device (1..86400, default 30)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<std::chrono::seconds>(o.run.idle_timeout, "--idle-timeout", v, 1, 86400);
     }},
    {{"quiet-ms", Kind::value, "MS", "silence that confirms a prompt (10..10000, default 200)"},
     [](WorkerOptions& o, std::string_view v) {
         return set_int<std::chrono::milliseconds>(o.run.quiet, "--quiet-ms", v, 10, 10000);
     }},
    {{"max-output", Kind::value, "BYTES",
      "fail a job (\"too large\") whose output exceeds BYTES and close its\n"
      "session (default 1073741824, netkeepd's default --max-upload)"},
     set_max_output},
    {{"ca-file", Kind::value, "FILE",
      "https: trust only the CAs in FILE (default: the system store)"},
     set_text<&WorkerOptions::tls_files, &http::TlsClientFiles::ca_file>},
    {{"client-cert", Kind::value, "FILE",
      "https: client certificate for servers that require one (mTLS)"},
     set_text<&WorkerOptions::tls_files, &http::TlsClientFiles::cert>},
    {{"client-key", Kind::value, "FILE", "https: its private key"},
     set_text<&WorkerOptions::tls_files, &http::TlsClientFiles::key>},
    {{"token-file", Kind::value, "FILE",
      "bearer token for the server (default: $NETKEEP_TOKEN; never argv)"},
     set_text<&WorkerOptions::token_file>},
    {{"log-level", Kind::value, "LEVEL",
      "debug, info (default), warn or error: lines below it are not written"},
     set_log_level},
};

// Both groups as one table, in the order --help lists them.
std::vector<Rule<WorkerOptions>> all_rules() {
    std::vector<Rule<WorkerOptions>> rules(std::begin(k_connection_rules),
                                           std::end(k_connection_rules));
    rules.insert(rules.end(), std::begin(k_session_rules), std::end(k_session_rules));
    return rules;
}

// Refused before scanning, whatever else is wrong: the token must not stay in argv.
Status refuse_token_flag(const std::vector<std::string_view>& words) {
    for (std::string_view w : words) {
        if (w == "--") break;
        if (w == "--token" || w.starts_with("--token="))
            return Status::invalid_argument(
                "--token is not accepted: the command line is visible to every user on this "
                "machine (ps); use --token-file FILE or the NETKEEP_TOKEN environment variable");
    }
    return Status::ok();
}

Status check_combination(const WorkerOptions& o) {
    if (o.server.host.empty()) return Status::invalid_argument("--server URL is required");
    if (o.tls_files.cert.empty() != o.tls_files.key.empty())
        return Status::invalid_argument("--client-cert and --client-key go together");
    // A TLS flag with an http:// server would silently protect nothing.
    if (!o.server.https && (!o.tls_files.ca_file.empty() || !o.tls_files.cert.empty()))
        return Status::invalid_argument(
            "--ca-file, --client-cert and --client-key need an https:// --server");
    return Status::ok();
}

}  // namespace

std::string_view worker_usage() {
    static const std::string text = "usage: netkeep-worker --server URL [options]\n\n" +
                                    args::help_text<WorkerOptions>(all_rules());
    return text;
}

std::string default_known_hosts() {
    if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state == '/')
        return std::string(state) + "/netkeep/known_hosts";
    if (const char* home = std::getenv("HOME"); home && *home == '/')
        return std::string(home) + "/.local/state/netkeep/known_hosts";
    return "./netkeep-known_hosts";
}

Result<WorkerOptions> parse_worker_args(const std::vector<std::string>& args) {
    const auto words = args::views(args);
    if (Status s = refuse_token_flag(words); !s) return s;
    WorkerOptions o;
    const auto rules = all_rules();
    auto parsed = args::parse_into<WorkerOptions>(rules, words, o);
    if (!parsed) return parsed.status();
    if (parsed->help) return Status::not_found("help");
    if (!parsed->positional.empty())
        return Status::invalid_argument("unexpected argument " +
                                        args::quoted(parsed->positional[0]));
    if (Status s = check_combination(o); !s) return s;
    if (o.run.known_hosts.empty()) o.run.known_hosts = default_known_hosts();
    if (o.name.empty()) o.name = host_name();
    if (o.post_connections == 0)
        o.post_connections = std::min(o.concurrency, k_default_post_connections);
    return o;
}

}  // namespace netkeep::worker
