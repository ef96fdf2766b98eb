// netkeepd: the netkeep server. Thin on purpose: parse the command line, check the
// directories, open the event log and the spool, and run a Daemon (its members, in start
// order, are the parts) until a signal.
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when serving failed (cannot
// listen, cannot create the data dir, cannot open the event log), 2 for usage errors, a
// missing inventory dir and an inventory that does not load, 3 when the event log failed
// while serving (a failed WAL sync: a restart replays the log).

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>

#include "api/gate.hpp"
#include "api/history.hpp"
#include "api/metrics.hpp"
#include "api/operator_api.hpp"
#include "api/readiness_monitor.hpp"
#include "api/repo_api.hpp"
#include "api/request_metrics.hpp"
#include "api/session_api.hpp"
#include "api/worker_api.hpp"
#include "bin/netkeepd_args.hpp"
#include "bin/retention_runner.hpp"
#include "engine/engine.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_mirror.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/hardening.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/snapshot.hpp"
#include "netkeep/spool.hpp"
#include "netkeep/status.hpp"
#include "notify/config.hpp"
#include "notify/engine.hpp"
#include "syslog/listener.hpp"
#include "ui/ui_routes.hpp"
#include "util/endpoint.hpp"

namespace {

namespace fs = std::filesystem;
using netkeep::Result;
using netkeep::Status;
using netkeep::netkeepd::Config;
using netkeep::netkeepd::k_usage;
using netkeep::netkeepd::parse_args;

// The event log failed while serving (docs/operations.md "Exit codes").
constexpr int k_exit_log_failed = 3;

// Loads the TLS files named on the command line; a file that is missing or does not
// parse is a usage error naming its flag. Null without --tls-cert.
Result<std::shared_ptr<netkeep::http::TlsServerContext>> load_tls(const Config& config) {
    if (config.tls.cert.empty()) return std::shared_ptr<netkeep::http::TlsServerContext>();
    const std::pair<std::string_view, const std::string*> files[] = {
        {"--tls-cert", &config.tls.cert},
        {"--tls-key", &config.tls.key},
        {"--tls-client-ca", &config.tls.client_ca}};
    for (const auto& [flag, path] : files) {
        std::error_code ec;
        if (!path->empty() && !fs::is_regular_file(*path, ec))
            return Status::invalid_argument(fmt::format("{} {}: not a readable file", flag, *path));
    }
    for (const auto& [flag, path] : {files[0], files[2]}) {
        if (path->empty()) continue;
        if (auto info = netkeep::http::read_cert_info(*path); !info)
            return Status::invalid_argument(fmt::format("{}: {}", flag, info.status().message()));
    }
    auto tls = netkeep::http::TlsServerContext::load(config.tls);
    if (!tls) return Status::invalid_argument(fmt::format("TLS: {}", tls.status().message()));
    const auto& cert = (*tls)->cert_info();
    netkeep::log_line(
        netkeep::LogLevel::info, "tls.loaded",
        {{"subject", cert.subject},
         {"sha256", cert.sha256_fingerprint},
         {"not_after", cert.not_after},
         {"client_ca", config.tls.client_ca.empty() ? "none" : config.tls.client_ca}});
    return tls;
}

// Without the git writer there are no commits to notify of: the targets follow the log.
netkeep::notify::NotifyEngineOptions notify_options(const Config& config) {
    netkeep::notify::NotifyEngineOptions options;
    if (config.git_writer) options.repo_path = (config.data_dir / "repo.git").string();
    return options;
}

// Where retention archives (docs/retention.md); empty with --archive none.
std::string archive_dir(const Config& config) {
    if (config.archive_dir == "none") return {};
    return config.archive_dir.empty() ? (config.data_dir / "archive").string() : config.archive_dir;
}

// The archive, then the log. Start-up reads the archive only when no snapshot past the
// log's first_seq loads, the history index only when it is built again after retention.
netkeep::EventLog::ReadArchived read_archived(const netkeep::EventLog& log, std::string dir) {
    if (dir.empty()) return {};
    return [&log, dir = std::move(dir)](std::uint64_t from, std::uint64_t to,
                                        const netkeep::EventLog::Visitor& visit) {
        return netkeep::scan_with_archive(log, dir, from, to, visit);
    };
}

// The running parts of netkeepd. Members are declared in start order: each is built after
// the parts it uses and, being destroyed in reverse, stops before them (the HTTP server
// first, then the git writer, the front ends, the engine, the blocking pool). The event
// log, the spool and the io_context outlive the daemon (serve() owns them): closing the
// log completes pending appends, whose callbacks post to the io_context.
class Daemon {
public:
    Daemon(const Config& config, asio::io_context& io, netkeep::EventLog& log,
           netkeep::Spool& spool, std::shared_ptr<netkeep::http::TlsServerContext> tls,
           std::vector<netkeep::GitMirrorConfig> mirrors)
        : config_(config),
          mirror_configs_(std::move(mirrors)),
          io_(io),
          log_(log),
          tls_(std::move(tls)),
          engine_(io, blocking_, log,
                  {.inventory_dir = config.inventory_dir.string(),
                   .auth_file = config.auth_file.string(),
                   .expiry_tick = std::chrono::milliseconds(250),
                   .now = {},
                   .load_beside = [this](const auto& inventory) { return load_notify(inventory); },
                   .read_archived = read_archived(log, archive_dir(config))}),
          history_(log, read_archived(log, archive_dir(config))),
          readiness_(io, blocking_, log, spool, {}, [this] { return engine_.now(); }),
          gate_(engine_, metrics_, sessions_),
          worker_api_(engine_, gate_, readiness_, spool, workers_seen_, blocking_,
                      {.max_upload = config.max_upload}),
          operator_api_(engine_, gate_, metrics_, readiness_, history_, log, workers_seen_,
                        blocking_),
          session_api_(engine_, gate_, sessions_),
          repo_api_(engine_, gate_, history_, blocking_),
          server_(io, routes(), server_options()),
          reload_signal_(io, SIGHUP),
          // Before listening, so a signal that arrives right after "listening on" is not lost.
          stop_signals_(io, SIGINT, SIGTERM) {
        readiness_.add_consumers([this] { return notify_.health(); });
        // mirrors_ is set by start() before the server listens, so before anyone asks.
        readiness_.add_consumers([this] {
            return mirrors_ ? mirrors_->health() : std::vector<netkeep::ConsumerHealth>{};
        });
    }

    // Replays the log, loads the inventory, starts the git writer, listens. The process
    // exit code when one of them fails, else 0.
    int start();
    // Runs the loop until a signal (or a failed log) stops it; the exit code.
    int run();
    // The event log failed for good: exit with k_exit_log_failed (on the io thread).
    void log_failed(const std::string& error);

private:
    netkeep::http::Router routes();
    netkeep::http::ServerOptions server_options();
    int start_git_writer();
    int open_mirrors();
    Result<std::function<void()>> load_notify(const netkeep::Inventory& inventory);
    int start_syslog();
    void start_retention();
    void start_snapshots();
    void on_history(std::vector<netkeep::GitAppliedRecord> records);
    void wait_for_reload();
    void reload();
    void stop();

    const Config& config_;
    std::vector<netkeep::GitMirrorConfig> mirror_configs_;
    asio::io_context& io_;
    netkeep::EventLog& log_;
    std::shared_ptr<netkeep::http::TlsServerContext> tls_;  // null without --tls-cert
    // Blocking file work (upload fsyncs, reload parsing, probes, spool scans). Several
    // threads: concurrent uploads sync in parallel and the filesystem journal commits
    // their syncs together, as the log does for events.
    asio::thread_pool blocking_{8};
    netkeep::engine::Engine engine_;
    // Projection snapshots (null with --no-snapshots); its thread reads only the log.
    std::unique_ptr<netkeep::SnapshotWriter> snapshots_;
    netkeep::api::RequestMetrics metrics_;
    netkeep::api::HistoryIndex history_;
    netkeep::api::ReadinessMonitor readiness_;
    netkeep::api::SessionStore sessions_;  // the web UI's logins
    netkeep::api::Gate gate_;
    netkeep::api::WorkersSeen workers_seen_;  // polls of /worker/next, for /api/v1/status
    netkeep::api::WorkerApi worker_api_;
    netkeep::api::OperatorApi operator_api_;
    netkeep::api::SessionApi session_api_;
    // Versions, configs, diffs and search from the repository (503 without the git writer).
    netkeep::api::RepoApi repo_api_;
    // Git mirrors (docs/mirrors.md): before the git writer, whose thread notifies them;
    // stopped by mirror_stopper_ before the writer goes (they read its applied seq).
    std::unique_ptr<netkeep::GitMirrors> mirrors_;
    // Started after the engine (whose start-up appends the inventory it needs), stopped
    // before the log closes: its last act is a cursor write.
    std::unique_ptr<netkeep::GitWriter> git_writer_;
    struct MirrorStopper {
        Daemon& daemon;
        ~MirrorStopper() {
            if (daemon.mirrors_) daemon.mirrors_->stop();
        }
    } mirror_stopper_{*this};
    // Change notifications (notify.json beside the inventory): one thread per target,
    // reading the log behind the git writer; stopped before the log closes.
    netkeep::notify::NotifyEngine notify_{log_, notify_options(config_)};
    netkeep::http::Server server_;
    // --syslog-listen (docs/syslog.md): records runs through the engine; null without it.
    std::unique_ptr<netkeep::syslog::Listener> syslog_;
    // --log-retention (docs/retention.md): null without it. Stopped first (a pass ends).
    std::unique_ptr<netkeep::netkeepd::RetentionRunner> retention_;
    asio::signal_set reload_signal_;
    asio::signal_set stop_signals_;
    // Set once shutting down. A SIGHUP whose wait completed just before SIGTERM was handled
    // must not re-arm its wait: that pending wait would keep io.run() from ever returning.
    bool stopping_ = false;
    int exit_code_ = 0;
};

netkeep::http::Router Daemon::routes() {
    netkeep::http::Router router;
    auto healthz = [](netkeep::http::Request&,
                      const netkeep::api::Caller&) -> asio::awaitable<netkeep::http::Response> {
        co_return netkeep::http::json_response(200, R"({"status":"ok"})");
    };
    Status added = gate_.add(router, "GET", "/healthz", netkeep::api::Access::open, healthz);
    if (added) added = worker_api_.add_routes(router);
    if (added) added = operator_api_.add_routes(router);
    if (added) added = session_api_.add_routes(router);
    if (added) added = repo_api_.add_routes(router);
    if (added) added = netkeep::ui::UiRoutes(gate_).add_routes(router);
    // Registration fails only for a malformed or duplicate pattern: a programming error
    // caught by the integration tests, reported loudly rather than ignored.
    if (!added) {
        fmt::print(stderr, "netkeepd: {}\n", added.to_string());
        std::abort();
    }
    return router;
}

netkeep::http::ServerOptions Daemon::server_options() {
    netkeep::http::ServerOptions options;
    options.header_timeout = config_.header_timeout;
    options.tls = tls_;
    options.on_unrouted = [this](std::string_view method, int status) {
        metrics_.count_unrouted(method, status);
    };
    // Browsers must take a stored config (text/plain) or an error for what it says it is.
    options.default_headers.add("X-Content-Type-Options", "nosniff");
    options.max_connections_per_client = config_.max_connections_per_client;
    options.min_body_rate = config_.min_body_rate;
    options.body_rate_grace = config_.body_rate_grace;
    options.on_refused = [this](std::string_view reason, const asio::ip::address& client) {
        metrics_.connection_refused(reason, client.to_string(), engine_.now());
    };
    return options;
}

int Daemon::start() {
    const auto started = std::chrono::steady_clock::now();
    if (config_.snapshots) engine_.use_snapshots((config_.data_dir / "snapshots").string());
    if (Status s = engine_.start(); !s) {
        // A bad inventory or token file is the operator's to fix: name it and refuse to run.
        fmt::print(stderr, "netkeepd: {}\n", s.message());
        return s.code() == Status::Code::invalid_argument || s.code() == Status::Code::not_found
                   ? 2
                   : 1;
    }
    netkeep::log_line(netkeep::LogLevel::info, "log.replayed",
                      {{"seq", std::to_string(engine_.projection().last_seq())},
                       {"from_snapshot", std::to_string(engine_.from_snapshot())},
                       {"tasks", std::to_string(engine_.projection().task_count())},
                       {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count())}});
    if (config_.git_writer)
        if (int code = start_git_writer(); code != 0) return code;
    wait_for_reload();
    stop_signals_.async_wait([this](const std::error_code& ec, int) {
        if (!ec) stop();
    });
    auto endpoint = server_.listen(config_.host, config_.port);
    if (!endpoint) {
        fmt::print(stderr, "netkeepd: {}\n", endpoint.status().message());
        return 1;
    }
    if (int code = start_syslog(); code != 0) return code;
    // Only the git writer's records after history.indexed_through, on a thread of its own:
    // start-up does not wait for history (docs/api.md "The history index").
    history_.start();
    engine_.run_background();
    readiness_.run_background();
    start_retention();
    fmt::print("listening on {}\n",
               netkeep::format_endpoint({endpoint->address().to_string(), endpoint->port()}));
    if (syslog_)
        fmt::print("syslog listening on {}\n",
                   netkeep::format_endpoint({config_.syslog_host, syslog_->port()}));
    std::fflush(stdout);
    // After "listening on": loading its own copy of the state takes CPU the start needs.
    start_snapshots();
    return 0;
}

// The snapshot thread follows the log with its own projection: the io thread never waits
// for it (docs/snapshots.md).
void Daemon::start_snapshots() {
    if (!config_.snapshots) return;
    snapshots_ = std::make_unique<netkeep::SnapshotWriter>(
        log_,
        netkeep::SnapshotWriterOptions{.dir = (config_.data_dir / "snapshots").string(),
                                       .every = config_.snapshot_every,
                                       .interval = config_.snapshot_interval,
                                       .keep_days = config_.snapshot_keep_days,
                                       .now = {},
                                       .write_at_stop = true,
                                       .read_archived = read_archived(log_, archive_dir(config_))});
    snapshots_->start();
    operator_api_.add_metrics_text([this] {
        const netkeep::SnapshotStats s = snapshots_->stats();
        std::optional<double> age;
        if (s.last_seq > 0)
            age = double(std::max<netkeep::unix_time>(engine_.now() - s.last_written, 0));
        return netkeep::api::render_snapshot_metrics(s.last_seq, s.last_bytes, age);
    });
}

int Daemon::start_syslog() {
    if (config_.syslog_host.empty()) return 0;
    syslog_ = std::make_unique<netkeep::syslog::Listener>(
        io_, engine_,
        netkeep::syslog::ListenerOptions{.host = config_.syslog_host,
                                         .port = config_.syslog_port,
                                         .debounce = config_.syslog_debounce,
                                         .rate = double(config_.syslog_rate),
                                         .max_connections = config_.syslog_max_connections,
                                         .idle_timeout = config_.syslog_idle_timeout,
                                         .unknown_log_interval = std::chrono::minutes(1)});
    if (Status s = syslog_->start(); !s) {
        fmt::print(stderr, "netkeepd: {}\n", s.message());
        return 1;
    }
    operator_api_.add_metrics_text(
        [this] { return netkeep::syslog::render_metrics(syslog_->stats()); });
    return 0;
}

void Daemon::start_retention() {
    if (config_.log_retention_days <= 0) return;
    netkeep::RetentionOptions o;
    o.max_age_seconds = static_cast<std::int64_t>(config_.log_retention_days * 86400);
    o.archive_dir = archive_dir(config_);
    o.snapshots_dir = (config_.data_dir / "snapshots").string();
    // Without snapshots a start replays the whole log: nothing may leave it.
    if (!config_.snapshots) {
        o.newest_snapshot_seq = 0;
        netkeep::log_line(netkeep::LogLevel::warn, "retention.disabled",
                          {{"why",
                            "--no-snapshots: a start replays the whole log, so retention "
                            "removes nothing"}});
    }
    retention_ = std::make_unique<netkeep::netkeepd::RetentionRunner>(
        log_, std::move(o), config_.retention_delay, config_.retention_every);
    operator_api_.add_metrics_text([this] { return retention_->metrics_text(); });
}

int Daemon::start_git_writer() {
    if (int code = open_mirrors(); code != 0) return code;
    // A repository that does not open is no reason to stop ingest: the writer retries it
    // with backoff (GitWriterHealth, /metrics) while completions wait in the spool and the
    // log. Only a repository that belongs to another log refuses the start.
    auto opened = netkeep::open_git_writer(
        log_, {.repo_path = (config_.data_dir / "repo.git").string(),
               .spool_dir = (config_.data_dir / "spool").string(),
               .state_dir = (config_.data_dir / "gitwriter").string(),
               .quarantine_after = config_.quarantine_after,
               .layout = config_.git_layout,
               .commit_unchanged = config_.commit_unchanged,
               .spool_retention = config_.spool_retention,
               .on_applied = [this](auto records) { on_history(std::move(records)); }});
    if (!opened) {
        fmt::print(stderr, "netkeepd: {}\n", opened.status().to_string());
        return 1;
    }
    git_writer_ = std::move(*opened);
    if (Status s = git_writer_->start(); !s) {
        fmt::print(stderr, "netkeepd: git writer: {}\n", s.to_string());
        return 1;
    }
    readiness_.set_git([writer = git_writer_.get()] { return writer->applied_seq(); },
                       [writer = git_writer_.get()] { return writer->health(); });
    repo_api_.set_repo((config_.data_dir / "repo.git").string());
    if (mirrors_)
        if (Status s = mirrors_->start(); !s) {
            fmt::print(stderr, "netkeepd: git mirrors: {}\n", s.to_string());
            return 1;
        }
    return 0;
}

// Before the git writer starts: its on_applied notifies them. Pushes begin with start().
int Daemon::open_mirrors() {
    if (mirror_configs_.empty()) return 0;
    auto opened = netkeep::open_git_mirrors(
        log_, {.repo_path = (config_.data_dir / "repo.git").string(),
               .mirrors = mirror_configs_,
               .applied_seq = [this] { return git_writer_ ? git_writer_->applied_seq() : 0; }});
    if (!opened) {
        fmt::print(stderr, "netkeepd: {}\n", opened.status().message());
        return 2;
    }
    mirrors_ = std::move(*opened);
    return 0;
}

// notify.json, checked with the inventory (at start and on every reload): a bad one refuses
// both, as a bad inventory does. Called off the io thread; the configuration takes effect
// when the reload does.
Result<std::function<void()>> Daemon::load_notify(const netkeep::Inventory& inventory) {
    auto loaded = netkeep::notify::load_notify_config(config_.inventory_dir.string());
    if (!loaded) return loaded.status();
    std::shared_ptr<const netkeep::notify::NotifyConfig> config = std::move(*loaded);
    auto devices = config ? netkeep::notify::device_map(*config, inventory) : nullptr;
    return std::function<void()>([this, config, devices] {
        notify_.configure(config, devices);
        netkeep::log_line(netkeep::LogLevel::info, "notify.configured",
                          {{"targets", std::to_string(config ? config->targets.size() : 0)},
                           {"rules", std::to_string(config ? config->rules.size() : 0)}});
    });
}

// On the git writer's thread: what it committed is joined with the completions there and
// written to the history index on disk; the metrics are counted on the io thread; the git
// mirrors are told main moved.
void Daemon::on_history(std::vector<netkeep::GitAppliedRecord> records) {
    if (mirrors_) mirrors_->notify();  // main moved: cheap, never waits for a push
    if (records.empty()) return;
    std::uint64_t through = 0;
    for (const netkeep::GitAppliedRecord& r : records) through = std::max(through, r.seq);
    auto resolved = history_.resolve(std::move(records));
    if (!resolved) {
        history_.hand_over(resolved.status());
        return;
    }
    auto entries = std::move(*resolved);
    // On this thread: one durable batch per batch of the writer, in its order.
    history_.on_applied(entries, through);
    asio::post(io_, [this, e = std::move(entries)]() mutable { metrics_.count_git_applied(e); });
}

void Daemon::wait_for_reload() {
    reload_signal_.async_wait([this](const std::error_code& ec, int) {
        if (ec || stopping_) return;
        reload();
        wait_for_reload();
    });
}

// SIGHUP: the inventory and tokens (the engine), and a renewed TLS cert/key pair, picked
// up by new connections; one that does not load is refused and the old one stays.
void Daemon::reload() {
    asio::co_spawn(
        io_, [this]() -> asio::awaitable<void> { (void)co_await engine_.reload(); },
        [](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                netkeep::log_line(netkeep::LogLevel::error, "inventory.reload_failed",
                                  {{"error", ex.what()}});
            }
        });
    if (!tls_) return;
    if (Status s = tls_->reload(); !s) {
        netkeep::log_line(netkeep::LogLevel::error, "tls.reload_failed", {{"error", s.message()}});
        return;
    }
    const auto& cert = tls_->cert_info();
    netkeep::log_line(netkeep::LogLevel::info, "tls.reloaded",
                      {{"subject", cert.subject},
                       {"sha256", cert.sha256_fingerprint},
                       {"not_after", cert.not_after}});
}

// Graceful: in-flight requests finish (their appends are durable before they answer),
// then the loop runs out of work. A second signal gets the default action and ends the
// process at once.
void Daemon::stop() {
    stopping_ = true;
    server_.stop();
    if (syslog_) syslog_->stop();
    engine_.stop();
    readiness_.stop();
    reload_signal_.cancel();
    stop_signals_.cancel();
    stop_signals_.clear();
}

void Daemon::log_failed(const std::string& error) {
    if (exit_code_ != 0) return;
    exit_code_ = k_exit_log_failed;
    netkeep::log_line(
        netkeep::LogLevel::error, "netkeepd.exiting",
        {{"status", std::to_string(k_exit_log_failed)},
         {"error", error},
         {"why", "the event log accepts no write until a restart replays its write-ahead log"}});
    // Requests in flight fail fast now (the log refuses every write); a slow upload or a
    // long git operation must not hold the restart back.
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::seconds(10));
        std::_Exit(k_exit_log_failed);
    }).detach();
    stop();
}

int Daemon::run() {
    io_.run();
    return exit_code_;
}

// --git-mirror and --git-mirrors as one list, checked (files present, names unique).
Result<std::vector<netkeep::GitMirrorConfig>> load_mirrors(const Config& config) {
    std::vector<netkeep::GitMirrorConfig> mirrors;
    for (const std::string& value : config.git_mirror_urls) {
        auto m = netkeep::git_mirror_from_flag(value);
        if (!m) return m.status();
        mirrors.push_back(std::move(*m));
    }
    if (!config.git_mirrors_file.empty()) {
        auto loaded = netkeep::load_git_mirrors(config.git_mirrors_file);
        if (!loaded) return Status::invalid_argument("--git-mirrors " + loaded.status().message());
        mirrors.insert(mirrors.end(), loaded->begin(), loaded->end());
    }
    if (Status s = netkeep::check_git_mirrors(mirrors); !s) return s;
    return mirrors;
}

// Opens what the daemon's parts keep state in (the event log, the spool), runs the daemon,
// and closes them after it: the process exit code.
int serve(const Config& config, std::vector<netkeep::GitMirrorConfig> mirrors) {
    // Before the log is opened: a certificate problem is found in a second, not after a
    // long replay.
    auto tls = load_tls(config);
    if (!tls) {
        fmt::print(stderr, "netkeepd: {}\n", tls.status().message());
        return 2;
    }
    asio::io_context io;
    // A log that failed for good (a failed WAL sync: RocksDB is read-only, docs/security.md
    // "Faults: storage") ends the process with k_exit_log_failed, so that systemd restarts
    // it and RocksDB replays its WAL. Posted to the io thread, where the daemon runs.
    Daemon* daemon = nullptr;
    netkeep::EventLogOptions log_options;
    log_options.on_failed = [&io, &daemon](const Status& error) {
        asio::post(io, [&daemon, message = error.to_string()] {
            if (daemon) daemon->log_failed(message);
        });
    };
    auto log = netkeep::open_event_log((config.data_dir / "log").string(), log_options);
    if (!log) {
        fmt::print(stderr, "netkeepd: {}\n", log.status().to_string());
        return 1;
    }
    // Destroyed after the daemon and before io, also when io.run() throws.
    struct log_closer {
        netkeep::EventLog& log;
        ~log_closer() { log.close(); }
    } closer{**log};
    // Before the git writer starts: it consumes the spool dir.
    auto spool = netkeep::Spool::open((config.data_dir / "spool").string());
    if (!spool) {
        fmt::print(stderr, "netkeepd: {}\n", spool.status().to_string());
        return 1;
    }
    if (config.insecure_no_auth)
        netkeep::log_line(
            netkeep::LogLevel::warn, "auth.disabled",
            {{"listen", config.host},
             {"risk",
              "--insecure-no-auth: any client that reaches this port may lease jobs, read device "
              "passwords, post configs and reload the inventory"}});
    Daemon running(config, io, **log, *spool, *tls, std::move(mirrors));
    daemon = &running;
    if (int code = running.start(); code != 0) return code;
    int code = running.run();
    daemon = nullptr;
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    // A git mirror's push, in a child of netkeepd (src/mirror/child.cpp).
    if (argc == 2 && std::string_view(argv[1]) == netkeep::k_mirror_push_child_flag) {
        netkeep::restrict_new_files();
        (void)netkeep::disable_core_dumps();
        return netkeep::run_git_mirror_push_child();
    }
    // Before anything is created or resolved: private files, no core dumps (docs/security.md).
    netkeep::restrict_new_files();
    if (Status s = netkeep::disable_core_dumps(); !s)
        netkeep::log_line(netkeep::LogLevel::warn, "hardening.core_dumps",
                          {{"error", s.message()}});
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
            fmt::print("{}", k_usage);
            return 0;
        }
    }
    auto config = parse_args(argc, argv);
    if (!config) {
        fmt::print(stderr, "netkeepd: {}\n", config.status().message());
        fmt::print(stderr, "{}", k_usage);
        return 2;
    }
    netkeep::set_log_threshold(config->log_level);

    std::error_code ec;
    if (!fs::is_directory(config->inventory_dir, ec)) {
        fmt::print(stderr,
                   "netkeepd: inventory directory '{}' does not exist or is not a directory\n",
                   config->inventory_dir.string());
        return 2;
    }
    // 0700 through the umask, as is everything created under it (log, spool, repo.git).
    // Durably: its parent is synced before anything acknowledged is stored in it.
    if (Status s = netkeep::create_directories_durably(config->data_dir.string()); !s) {
        fmt::print(stderr, "netkeepd: cannot create data directory '{}': {}\n",
                   config->data_dir.string(), s.message());
        return 1;
    }
    // One the operator made (or an older netkeepd left 0755) is theirs to tighten.
    netkeep::warn_if_exposed(config->data_dir.string(), "data dir");
    if (!config->auth_file.empty())
        netkeep::warn_if_exposed(config->auth_file.string(), "token file");
    if (!config->tls.key.empty()) netkeep::warn_if_exposed(config->tls.key, "TLS key");

    // Sockets use MSG_NOSIGNAL already; this covers any other pipe a later part opens.
    auto mirrors = load_mirrors(*config);
    if (!mirrors) {
        fmt::print(stderr, "netkeepd: {}\n", mirrors.status().message());
        return 2;
    }

    std::signal(SIGPIPE, SIG_IGN);
    // A reload requested while the log replays (systemctl reload right after start) must
    // not end the process: ignored until serve() installs the real handler.
    std::signal(SIGHUP, SIG_IGN);
    try {
        return serve(*config, std::move(*mirrors));
    } catch (const std::exception& e) {
        fmt::print(stderr, "netkeepd: fatal: {}\n", e.what());
        return 1;
    }
}
