#pragma once
// netkeep-worker's runtime: lease jobs with GET /worker/next, run each at its timestamp
// on one of `concurrency` threads, post each result with POST /worker/complete.
//
// Threads: run() is the polling thread (the caller's), with its own HTTP connection for
// the leases; `concurrency` runner threads each run one job at a time (blocking
// SSH/telnet) and post its result through one shared Poster, over at most
// `post_connections` connections. The queue of leased jobs and the counters are guarded
// by one mutex.
// request_stop() may be called from any thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/tls.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/mutex.hpp"
#include "netkeep/status.hpp"
#include "worker/completion.hpp"
#include "worker/lease.hpp"
#include "worker/run.hpp"
#include "worker/server_clock.hpp"

namespace netkeep::worker {

// Enough for the results of 100 jobs at once (a post takes milliseconds, a job ~0.6 s:
// docs/worker.md#performance), and far below netkeepd's default per-client limit of 64.
inline constexpr int k_default_post_connections = 8;

struct WorkerOptions {
    ServerUrl server;
    std::vector<std::string> tags;
    int seconds = 15;
    int max = 15;
    int concurrency = 30;
    // Connections the runner threads share to post results (--post-connections); 0 until
    // parse_worker_args() sets the default, min(concurrency, k_default_post_connections).
    int post_connections = 0;
    std::chrono::seconds grace{30};
    std::string name;  // X-Netkeep-Worker; default: the host name
    RunOptions run;    // known_hosts, timeouts, quiet period
    // --ca-file, --client-cert, --client-key (https only).
    http::TlsClientFiles tls_files;
    std::string token_file;               // --token-file
    LogLevel log_level = LogLevel::info;  // --log-level
    // Filled by load_access() from the fields above and the environment.
    ServerAccess access;
    std::string token_source = "none";  // "--token-file", "NETKEEP_TOKEN" or "none"
};

// The command line (without argv[0]). not_found for --help (print worker_usage()).
// A "--token" flag is refused: argv is visible to every local user (ps, /proc).
Result<WorkerOptions> parse_worker_args(const std::vector<std::string>& args);
// Reads the bearer token from --token-file, else from `env_token` (the value of
// NETKEEP_TOKEN, may be null), and builds the TLS context for an https server. Errors
// name the flag, file or variable, never the token.
Status load_access(WorkerOptions& options, const char* env_token);
// The token as read from `source` (a file or the environment): one trailing newline
// ("\n" or "\r\n") is dropped; what is left must be non-empty visible ASCII without
// spaces, so it cannot break the header it is sent in.
Result<std::string> clean_token(std::string raw, std::string_view source);
std::string_view worker_usage();
// $XDG_STATE_HOME/netkeep/known_hosts, else $HOME/.local/state/netkeep/known_hosts, else
// ./netkeep-known_hosts.
std::string default_known_hosts();
// The /worker/next request target for these options and `max`.
std::string next_target(const WorkerOptions& options, int max);

class Worker {
public:
    explicit Worker(WorkerOptions options);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    // Joins the runner threads; only after run() returned true.
    ~Worker();

    // Polls and runs jobs until request_stop(); then drops the jobs not started (their
    // leases expire on the server) and waits up to `grace` for the running ones. True
    // when every started job finished and was posted; false when some are still running
    // (the caller must then end the process without destroying the Worker).
    bool run();
    void request_stop();

private:
    void log_start() const;
    void runner();
    void run_one(const Lease& lease);
    // One GET /worker/next; the number of leases received, or -1 on error.
    int poll_once(std::optional<http::Client>& client, int max);
    // Takes the server's clock from a /worker/next answer (polling thread).
    void observe_server_time(const http::ClientResponse& r, std::int64_t sent_ms,
                             std::int64_t received_ms);

    WorkerOptions options_;
    Poster poster_;  // shared by the runner threads
    Mutex mutex_;
    CondVar runners_cv_;                           // a job was queued, or stop
    CondVar poller_cv_;                            // a job finished, or stop
    std::vector<Lease> queue_ GUARDED_BY(mutex_);  // min-heap by timestamp
    int running_ GUARDED_BY(mutex_) = 0;
    bool stop_ GUARDED_BY(mutex_) = false;
    std::vector<std::thread> threads_;
    ServerClock server_clock_;                 // offset written by the poller, read by runners
    bool missing_server_time_logged_ = false;  // polling thread only
};

}  // namespace netkeep::worker
