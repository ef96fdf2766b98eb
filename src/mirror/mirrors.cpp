// The mirrors' threads: one per mirror, pushing the newest main (in a child process, see
// child.cpp) with backoff and writing its cursor.

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "gitwriter/git.hpp"
#include "mirror/push.hpp"
#include "netkeep/git_mirror.hpp"
#include "netkeep/logger.hpp"

namespace netkeep {

namespace {

using Clock = std::chrono::steady_clock;
using mirror::PushError;

long long ms_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::uint64_t parse_seq(const Result<std::string>& value) {
    if (!value) return 0;
    try {
        return std::stoull(*value);
    } catch (...) {
        return 0;
    }
}

// One remote. Its thread alone pushes (each push a child process) and writes its meta
// keys; health() reads under mu_.
class Mirror {
public:
    Mirror(EventLog& log, const GitMirrorsOptions& options, GitMirrorConfig config)
        : log_(log), options_(options), config_(std::move(config)) {
        health_.name = "mirror." + config_.name;
        health_.cursor = parse_seq(log_.get_meta(consumer_cursor_key(health_.name)));
    }

    void start() {
        thread_ = std::thread([this] { run(); });
        ::pthread_setname_np(thread_.native_handle(), "netkeep-mirror");
    }
    void request_stop() {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        abort_.store(true);
        cv_.notify_all();
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    void notify() {
        {
            std::lock_guard lock(mu_);
            ++wakes_;
        }
        cv_.notify_all();
    }
    ConsumerHealth health(std::uint64_t applied) const {
        std::lock_guard lock(mu_);
        ConsumerHealth h = health_;
        h.lag = applied > h.cursor ? applied - h.cursor : 0;
        return h;
    }

private:
    void run();
    // Reads the applied seq and main, pushes when main moved: ok, or what failed.
    mirror::PushOutcome attempt();
    mirror::PushOutcome push(const std::string& commit);
    Status write_cursor(std::uint64_t applied, const std::string& commit);
    void succeeded(Clock::time_point started);
    std::chrono::milliseconds failed(const mirror::PushOutcome& outcome, ConsumerBackoff& backoff);

    EventLog& log_;
    const GitMirrorsOptions& options_;
    const GitMirrorConfig config_;
    std::string pushed_;  // thread only: the commit this process last pushed (or found there)
    std::atomic<bool> abort_{false};
    std::thread thread_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::uint64_t wakes_ = 0;
    ConsumerHealth health_;
    PushError last_kind_ = PushError::none;
};

void Mirror::run() {
    ConsumerBackoff backoff(config_.retry_first, config_.retry_max);
    std::uint64_t seen = ~std::uint64_t(0);  // the first round pushes at once
    bool failing = false;
    Clock::time_point retry_at{};
    for (;;) {
        {
            std::unique_lock lock(mu_);
            // Failing: wait for the backoff only (new commits do not hurry a retry: the
            // newest main is what the retry pushes). Healthy: a notify, or the poll.
            const auto until = failing ? retry_at : Clock::now() + options_.poll;
            cv_.wait_until(lock, until, [&] { return stopping_ || (!failing && wakes_ != seen); });
            if (stopping_) return;
            if (failing && Clock::now() < retry_at) continue;
            seen = wakes_;
        }
        const auto started = Clock::now();
        auto outcome = attempt();
        if (outcome.error == PushError::none) {
            if (failing) succeeded(started);
            backoff.reset();
            failing = false;
        } else {
            retry_at = Clock::now() + failed(outcome, backoff);
            failing = true;
        }
    }
}

mirror::PushOutcome Mirror::attempt() {
    // Applied first: main, read after, covers at least that seq.
    const std::uint64_t applied = options_.applied_seq ? options_.applied_seq() : 0;
    auto main = mirror::read_main(options_.repo_path);
    if (!main) return mirror::local_failure(main.status().message());
    if (!*main || **main == pushed_) {
        // Nothing new to push: the cursor still moves over what needed no push.
        if (applied > health(0).cursor)
            if (Status s = write_cursor(applied, main->value_or(pushed_)); !s)
                return mirror::local_failure("cursor: " + s.message());
        return {};
    }
    const auto started = Clock::now();
    auto outcome = push(**main);
    if (outcome.error != PushError::none) return outcome;
    pushed_ = outcome.pushed;
    if (Status s = write_cursor(applied, pushed_); !s)
        log_line(LogLevel::warn, "mirror.cursor_failed",
                 {{"mirror", config_.name}, {"error", s.message()}});
    {
        std::lock_guard lock(mu_);
        ++health_.delivered_total;
        health_.consecutive_failures = 0;
        health_.last_error.clear();
        health_.last_success = unix_time(std::time(nullptr));
    }
    // At start the remote often has main already: the push was a no-op.
    const bool moved = outcome.remote_before != pushed_;
    log_line(LogLevel::info, moved ? "mirror.pushed" : "mirror.up_to_date",
             {{"mirror", config_.name},
              {"url", scrub_url(config_.url)},
              {"commit", pushed_},
              {"seq", std::to_string(applied)},
              {"from", outcome.remote_before.empty() ? "none" : outcome.remote_before},
              {"ms", std::to_string(ms_since(started))}});
    return outcome;
}

mirror::PushOutcome Mirror::push(const std::string& commit) {
    mirror::PushRequest request{options_.repo_path, &config_, commit,
                                Clock::now() + config_.timeout, &abort_};
    return mirror::push_in_child(request, options_.program);
}

Status Mirror::write_cursor(std::uint64_t applied, const std::string& commit) {
    std::vector<std::pair<std::string, std::string>> meta{
        {consumer_cursor_key(health_.name), std::to_string(applied)}};
    if (!commit.empty()) meta.emplace_back(git_mirror_commit_key(config_.name), commit);
    if (Status s = log_.put_meta_batch(meta); !s) return s;
    std::lock_guard lock(mu_);
    health_.cursor = std::max(health_.cursor, applied);
    return Status::ok();
}

void Mirror::succeeded(Clock::time_point started) {
    log_line(LogLevel::info, "mirror.recovered",
             {{"mirror", config_.name},
              {"after", std::string(mirror::push_error_name(last_kind_))},
              {"ms", std::to_string(ms_since(started))}});
    last_kind_ = PushError::none;
}

// Reports the failure (the first of a kind loudly, repeats at warn) and returns how long
// to wait before the next attempt.
std::chrono::milliseconds Mirror::failed(const mirror::PushOutcome& outcome,
                                         ConsumerBackoff& backoff) {
    const auto wait = backoff.next();
    std::uint64_t failures = 0;
    {
        std::lock_guard lock(mu_);
        ++health_.errors_total;
        failures = ++health_.consecutive_failures;
        health_.last_error =
            fmt::format("{}: {}", mirror::push_error_name(outcome.error), outcome.message);
    }
    const bool diverged = outcome.error == PushError::diverged;
    LogFields fields{{"mirror", config_.name},
                     {"url", scrub_url(config_.url)},
                     {"error", std::string(mirror::push_error_name(outcome.error))},
                     {"message", outcome.message},
                     {"failures", std::to_string(failures)},
                     {"retry_ms", std::to_string(wait.count())}};
    if (!outcome.remote_before.empty()) fields.emplace_back("remote", outcome.remote_before);
    log_line(diverged && last_kind_ != PushError::diverged ? LogLevel::error : LogLevel::warn,
             diverged ? "mirror.diverged" : "mirror.push_failed", fields);
    last_kind_ = outcome.error;
    return wait;
}

class GitMirrorsImpl final : public GitMirrors {
public:
    GitMirrorsImpl(EventLog& log, GitMirrorsOptions options) : options_(std::move(options)) {
        for (const auto& m : options_.mirrors)
            mirrors_.push_back(std::make_unique<Mirror>(log, options_, m));
    }
    ~GitMirrorsImpl() override { stop(); }

    Status start() override {
        if (!libgit2_.status()) return libgit2_.status();
        if (started_) return Status::ok();
        started_ = true;
        for (const auto& m : options_.mirrors)
            log_line(LogLevel::info, "mirror.configured",
                     {{"mirror", m.name},
                      {"url", scrub_url(m.url)},
                      {"force", m.force ? "true" : "false"},
                      {"timeout_ms", std::to_string(m.timeout.count())}});
        for (auto& m : mirrors_) m->start();
        return Status::ok();
    }

    void stop() override {
        if (!started_) return;
        started_ = false;
        // All at once: each kills its push in progress, then they are joined.
        for (auto& m : mirrors_) m->request_stop();
        for (auto& m : mirrors_) m->join();
    }

    void notify() override {
        for (auto& m : mirrors_) m->notify();
    }

    std::vector<ConsumerHealth> health() const override {
        // Once stopped, the writer whose seq applied_seq reads may be gone.
        if (started_.load() && options_.applied_seq) last_applied_.store(options_.applied_seq());
        const std::uint64_t applied = last_applied_.load();
        std::vector<ConsumerHealth> out;
        for (const auto& m : mirrors_) out.push_back(m->health(applied));
        return out;
    }

private:
    gitwriter::Libgit2 libgit2_;  // read_main() runs in this process
    GitMirrorsOptions options_;
    std::vector<std::unique_ptr<Mirror>> mirrors_;
    std::atomic<bool> started_{false};
    mutable std::atomic<std::uint64_t> last_applied_{0};
};

}  // namespace

Result<std::unique_ptr<GitMirrors>> open_git_mirrors(EventLog& log, GitMirrorsOptions options) {
    if (Status s = check_git_mirrors(options.mirrors); !s) return s;
    return std::unique_ptr<GitMirrors>(std::make_unique<GitMirrorsImpl>(log, std::move(options)));
}

}  // namespace netkeep
