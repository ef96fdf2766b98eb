#include "worker/worker.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "netkeep/logger.hpp"
#include "worker/ssh.hpp"

namespace netkeep::worker {

namespace {

using clock = std::chrono::steady_clock;

// Later timestamps sink: std::push_heap with this keeps the earliest on top.
bool later(const Lease& a, const Lease& b) { return a.timestamp > b.timestamp; }

std::string percent_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += char(c);
        } else {
            out += fmt::format("%{:02X}", unsigned(c));
        }
    }
    return out;
}

// A password never reaches a log line or a posted failure text, even if a device echoed it.
std::string without_secret(std::string text, const Lease& lease) {
    if (!lease.credentials.pass || lease.credentials.pass->empty()) return text;
    const std::string& pass = *lease.credentials.pass;
    for (std::size_t at = text.find(pass); at != std::string::npos; at = text.find(pass, at + 3))
        text.replace(at, pass.size(), "***");
    return text;
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

Result<std::string> clean_token(std::string raw, std::string_view source) {
    if (raw.ends_with('\n')) raw.pop_back();
    if (raw.ends_with('\r')) raw.pop_back();
    if (raw.empty()) return Status::invalid_argument(fmt::format("{}: the token is empty", source));
    for (char c : raw) {
        if (c < 0x21 || c > 0x7e)
            return Status::invalid_argument(fmt::format(
                "{}: the token may hold only visible ASCII characters (no spaces, no line breaks)",
                source));
    }
    return raw;
}

Status load_access(WorkerOptions& o, const char* env_token) {
    if (!o.token_file.empty()) {
        const std::string source = "--token-file " + o.token_file;
        struct stat st {};
        if (::stat(o.token_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            return Status::invalid_argument(fmt::format("{}: not a readable file", source));
        // A token is a few dozen bytes; refusing a large file keeps a wrong path (a log, a
        // device) from being read whole.
        if (st.st_size > 4096)
            return Status::invalid_argument(fmt::format("{}: larger than 4096 bytes", source));
        std::ifstream in(o.token_file, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) return Status::invalid_argument(fmt::format("{}: cannot read it", source));
        auto token = clean_token(text.str(), source);
        if (!token) return token.status();
        if ((st.st_mode & 077) != 0) {
            log_line(LogLevel::warn, "worker.token_file_readable",
                     {{"file", o.token_file},
                      {"mode", fmt::format("{:04o}", st.st_mode & 07777)},
                      {"fix", "chmod 600"}});
        }
        o.access.token = std::move(token.value());
        o.token_source = "--token-file";
    } else if (env_token && *env_token) {
        auto token = clean_token(env_token, "NETKEEP_TOKEN");
        if (!token) return token.status();
        o.access.token = std::move(token.value());
        o.token_source = "NETKEEP_TOKEN";
    }
    if (o.server.https) {
        auto ctx = http::make_client_context(o.tls_files);
        if (!ctx) return ctx.status();
        o.access.tls = std::move(ctx.value());
    }
    return Status::ok();
}

std::string next_target(const WorkerOptions& options, int max) {
    std::string target = fmt::format("{}/worker/next?seconds={}&max={}", options.server.prefix,
                                     options.seconds, max);
    for (const auto& tag : options.tags) target += "&tag=" + percent_encode(tag);
    return target;
}

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)),
      poster_(options_.server, options_.name, {}, options_.access,
              options_.post_connections > 0
                  ? options_.post_connections
                  : std::min(options_.concurrency, k_default_post_connections)) {}

Worker::~Worker() {
    request_stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void Worker::request_stop() {
    {
        MutexLock lock(mutex_);
        stop_ = true;
    }
    runners_cv_.notify_all();
    poller_cv_.notify_all();
}

void Worker::runner() {
    MutexLock lock(mutex_);
    for (;;) {
        if (stop_) return;
        if (queue_.empty()) {
            runners_cv_.wait(mutex_);
            continue;
        }
        // Due times are the server's: wait until the server's clock reaches it.
        const std::int64_t wait_ms = queue_.front().timestamp * 1000 - server_clock_.now_ms();
        if (wait_ms > 0) {  // due later: sleep until then (or until a sooner job arrives)
            runners_cv_.wait_until(
                mutex_, std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
            continue;
        }
        std::pop_heap(queue_.begin(), queue_.end(), later);
        Lease lease = std::move(queue_.back());
        queue_.pop_back();
        ++running_;
        lock.unlock();
        run_one(lease);
        lock.lock();
        --running_;
        poller_cv_.notify_all();
    }
}

void Worker::run_one(const Lease& lease) {
    // Start and end are reported in server time (the server checks them against its
    // clock: docs/api.md#post-workercomplete).
    const std::int64_t start_ms = server_clock_.now_ms();
    const std::int64_t start = start_ms / 1000;
    const auto started = clock::now();
    log_line(LogLevel::info, "job.started",
             {{"device", lease.device},
              {"job", lease.job},
              {"timestamp", std::to_string(lease.timestamp)},
              {"attempt", std::to_string(lease.attempt)}});
    OutputBuffer out;
    std::optional<std::string> failure = run_job(lease, options_.run, out, start_ms);
    const std::int64_t end = server_clock_.now_seconds();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
    if (failure) {
        failure = without_secret(std::move(*failure), lease);
        out.clear();  // partial output is never posted as a result
        log_line(LogLevel::warn, "job.failed",
                 {{"device", lease.device},
                  {"job", lease.job},
                  {"ms", std::to_string(ms)},
                  {"failure", *failure}});
    } else {
        log_line(LogLevel::info, "job.succeeded",
                 {{"device", lease.device},
                  {"job", lease.job},
                  {"ms", std::to_string(ms)},
                  {"bytes", std::to_string(out.size())}});
    }
    Completion c{lease.device, lease.job, lease.timestamp, start, std::max(start, end), failure};
    // The server takes a result while the occurrence is open, even after the lease
    // expired; ten minutes of retries cover a server restart.
    (void)poster_.post(c, failure ? nullptr : &out, clock::now() + std::chrono::minutes(10));
}

int Worker::poll_once(std::optional<http::Client>& client, int max) {
    if (!client || !client->is_open()) {
        client.reset();
        auto c = connect_server(options_.server, options_.access);
        if (!c) {
            log_line(LogLevel::warn, "poll.failed", {{"error", c.status().to_string()}});
            return -1;
        }
        client.emplace(std::move(c.value()));
    }
    http::Headers headers;
    headers.add("X-Netkeep-Worker", options_.name);
    add_auth(headers, options_.access);
    const std::int64_t sent_ms = ServerClock::local_ms();
    auto r = client->request("GET", next_target(options_, max), {}, headers);
    if (!r) {
        client.reset();
        log_line(LogLevel::warn, "poll.failed", {{"error", r.status().to_string()}});
        return -1;
    }
    observe_server_time(*r, sent_ms, ServerClock::local_ms());
    if (r->status == 204) return 0;
    if (r->status != 200) {
        log_line(LogLevel::warn, "poll.failed",
                 {{"status", std::to_string(r->status)}, {"body", r->body}});
        return -1;
    }
    auto leases = parse_leases(r->body);
    if (!leases) {
        // Nothing of it can be run or reported; the leases expire on the server.
        log_line(LogLevel::error, "poll.bad_answer", {{"error", leases.status().to_string()}});
        return -1;
    }
    const int n = int(leases->size());
    {
        MutexLock lock(mutex_);
        for (auto& l : *leases) {
            queue_.push_back(std::move(l));
            std::push_heap(queue_.begin(), queue_.end(), later);
        }
    }
    runners_cv_.notify_all();
    log_line(LogLevel::debug, "poll.leased", {{"jobs", std::to_string(n)}});
    return n;
}

void Worker::observe_server_time(const http::ClientResponse& r, std::int64_t sent_ms,
                                 std::int64_t received_ms) {
    auto header = r.header(k_server_time_header);
    std::optional<std::int64_t> server_ms;
    if (header) server_ms = parse_server_time(*header);
    if (!server_ms) {
        // An older server: keep the last offset (the local clock until there is one).
        if (!missing_server_time_logged_) {
            missing_server_time_logged_ = true;
            log_line(LogLevel::warn, "worker.no_server_time",
                     {{"header", std::string(k_server_time_header)},
                      {"value", header ? std::string(header->substr(0, 40)) : "-"},
                      {"using", "the local clock"}});
        }
        return;
    }
    const auto report = server_clock_.observe(*server_ms, sent_ms, received_ms);
    if (report == ServerClock::Report::none) return;
    const std::int64_t skew = server_clock_.offset_ms();
    if (report == ServerClock::Report::skewed) {
        log_line(LogLevel::warn, "worker.clock_skew",
                 {{"skew_ms", std::to_string(skew)},
                  {"meaning", skew > 0 ? "this machine's clock is behind the server's"
                                       : "this machine's clock is ahead of the server's"},
                  {"rtt_ms", std::to_string(received_ms - sent_ms)},
                  {"using", "the server's clock for due times, lease budgets and timestamps"}});
    } else {
        log_line(
            LogLevel::info, "worker.clock_in_step",
            {{"skew_ms", std::to_string(skew)}, {"rtt_ms", std::to_string(received_ms - sent_ms)}});
    }
}

// What this worker runs with, once at start; and a warning when its token would cross
// the network in clear.
void Worker::log_start() const {
    log_line(LogLevel::info, "worker.started",
             {{"server",
               fmt::format("{}://{}:{}{}", options_.server.https ? "https" : "http",
                           options_.server.host, options_.server.port, options_.server.prefix)},
              {"name", options_.name},
              {"ca_file",
               options_.server.https
                   ? (options_.tls_files.ca_file.empty() ? "system" : options_.tls_files.ca_file)
                   : "-"},
              {"client_cert", options_.tls_files.cert.empty() ? "none" : options_.tls_files.cert},
              {"token", options_.token_source},
              {"concurrency", std::to_string(options_.concurrency)},
              {"post_connections", std::to_string(poster_.pool_stats().size)},
              {"known_hosts", options_.run.known_hosts},
              {"strict_host_keys", options_.run.strict_host_keys ? "yes" : "no"}});
    if (!options_.access.token.empty() && !options_.server.https &&
        !is_loopback(options_.server.host)) {
        log_line(LogLevel::warn, "worker.token_in_clear",
                 {{"server", options_.server.host},
                  {"fix",
                   "use an https:// --server: the token and the device passwords cross "
                   "the network in clear"}});
    }
}

bool Worker::run() {
    {
        std::error_code ec;
        auto dir = std::filesystem::path(options_.run.known_hosts).parent_path();
        if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    }
    ssh_global_init();
    log_start();
    for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { runner(); });

    std::optional<http::Client> client;
    bool last_full = false;
    auto next_poll = clock::now();
    MutexLock lock(mutex_);
    while (!stop_) {
        const int free = options_.concurrency - running_ - int(queue_.size());
        if (free > 0 && (last_full || clock::now() >= next_poll)) {
            const int want = std::min(options_.max, free);
            lock.unlock();
            const int got = poll_once(client, want);
            lock.lock();
            last_full = got == want;
            // After an error, try again sooner than a full period, but not in a tight loop.
            next_poll =
                clock::now() + (got < 0 ? std::chrono::seconds(std::min(options_.seconds, 5))
                                        : std::chrono::seconds(options_.seconds));
            continue;
        }
        poller_cv_.wait_until(mutex_, next_poll);
    }

    const std::size_t dropped = queue_.size();
    queue_.clear();
    runners_cv_.notify_all();
    log_line(LogLevel::info, "worker.stopping",
             {{"running", std::to_string(running_)},
              {"dropped", std::to_string(dropped)},
              {"grace_s", std::to_string(options_.grace.count())}});
    const auto grace_end = clock::now() + options_.grace;
    while (running_ > 0)
        if (!poller_cv_.wait_until(mutex_, grace_end)) break;
    const bool finished = running_ == 0;
    const int still_running = running_;
    lock.unlock();
    if (!finished) {
        log_line(LogLevel::warn, "worker.abandoned", {{"running", std::to_string(still_running)}});
        return false;
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    // How the posting connections did: waits > 0 with jobs piling up says that
    // --post-connections is too small for this server's answer time.
    const auto pool = poster_.pool_stats();
    log_line(LogLevel::info, "worker.stopped",
             {{"post_connections", std::to_string(pool.size)},
              {"post_connections_opened", std::to_string(pool.opened)},
              {"post_waits", std::to_string(pool.waits)},
              {"post_wait_ms", std::to_string(pool.wait_time.count())}});
    return true;
}

}  // namespace netkeep::worker
