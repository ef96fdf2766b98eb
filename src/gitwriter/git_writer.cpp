// The git writer's face and its thread: start, stop, health, and the loop that applies
// the log batch by batch, retrying with backoff (git_writer_impl.hpp has the map of the
// other files and the exactly-once argument in short).

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/logger.hpp"

namespace netkeep {
namespace gitwriter {

GitWriterImpl::GitWriterImpl(EventLog& log, GitWriterOptions options,
                             std::unique_ptr<Libgit2> libgit2)
    : log_(log),
      options_(with_defaults(std::move(options))),
      spool_(Spool::existing(options_.spool_dir)),
      libgit2_(std::move(libgit2)) {}

GitWriterImpl::~GitWriterImpl() {
    stop();
    if (marker_fd_ >= 0) ::close(marker_fd_);
}

Status GitWriterImpl::start() {
    if (thread_.joinable()) return Status::conflict("the git writer is already running");
    auto meta = log_.get_meta(std::string(k_cursor_key));
    if (meta) {
        meta_cursor_ = parse_u64(*meta);
        if (!meta_cursor_)
            return Status::corruption(
                fmt::format("{} is not a sequence number: '{}'", k_cursor_key, *meta));
    } else if (meta.status().code() != Status::Code::not_found) {
        return meta.status();
    }
    if (Status s = load_quarantine(); !s) return s;
    open_state_dir();

    applied_.store(meta_cursor_.value_or(0));
    publish_health();
    // The repository now if it opens; a conflict (it belongs to another log) is the one
    // error that refuses the start. Anything else is retried by the thread.
    if (Status s = open_repository(); !s) {
        if (s.code() == Status::Code::conflict) return s;
        note_failure("gitwriter.open_failed", s);
    }
    // The coarse clock is the one the kernel stamps file times with: a spool file
    // written after this point has an mtime >= started_at_, even within one tick.
    ::clock_gettime(CLOCK_REALTIME_COARSE, &started_at_);
    {
        std::lock_guard lock(mutex_);
        stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
    return Status::ok();
}

void GitWriterImpl::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

GitWriterHealth GitWriterImpl::health() const {
    std::lock_guard lock(health_mutex_);
    GitWriterHealth h = health_;
    h.applied_seq = applied_.load();
    h.redaction_lines_skipped = redaction_lines_skipped_.load();
    return h;
}

GitWriterOptions GitWriterImpl::with_defaults(GitWriterOptions o) {
    if (o.state_dir.empty())
        o.state_dir = (std::filesystem::path(o.repo_path).parent_path() / "gitwriter").string();
    if (o.quarantine_after == 0) o.quarantine_after = 1;
    return o;
}

void GitWriterImpl::publish_health() {
    std::uint64_t open = 0;
    for (const auto& [seq, q] : quarantine_) open += is_open(q.record.state) ? 1 : 0;
    std::lock_guard lock(health_mutex_);
    health_.quarantined = open;
    health_.repo_ok = repo_.has_value() && !repo_failing_;
}

void GitWriterImpl::note_failure(std::string_view what, const Status& s) {
    repo_failing_ = is_repo_fault(s) || !repo_;
    {
        std::lock_guard lock(health_mutex_);
        health_.consecutive_failures += 1;
        health_.errors_total += 1;
        health_.last_error = fmt::format("{}: {}", what, s.to_string());
    }
    publish_health();
}

void GitWriterImpl::note_success() {
    repo_failing_ = false;
    {
        std::lock_guard lock(health_mutex_);
        health_.consecutive_failures = 0;
        health_.last_error.clear();
    }
    publish_health();
}

bool GitWriterImpl::stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
}

// Sleeps for d unless stop() comes first.
void GitWriterImpl::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, d, [this] { return stopping_; });
}

// Retries `step` with backoff until it succeeds or stop() is called. An event is
// skipped only through quarantine (apply_range), never here. `what` names the log line.
template <typename Step>
bool GitWriterImpl::retry(std::string_view what, Step step) {
    auto delay = options_.retry_first;
    for (;;) {
        if (stopping()) return false;
        Status s = step();
        if (s) {
            note_success();
            return true;
        }
        note_failure(what, s);
        log_line(LogLevel::error, what,
                 {{"cursor", std::to_string(progress_.cursor)},
                  {"error", s.to_string()},
                  {"retry_ms", std::to_string(delay.count())}});
        sleep_for(delay);
        delay = std::min(delay * 2, options_.retry_max);
    }
}

void GitWriterImpl::run() {
    pthread_setname_np(pthread_self(), "netkeep-git");
    (void)spool_.remove(k_redacting);  // a leftover of a crash while redacting
    if (!repo_ && !retry("gitwriter.open_failed", [this] { return open_repository(); })) return;
    if (!retry("gitwriter.recover_failed", [this] { return recover(); })) return;
    log_line(LogLevel::info, "gitwriter.started", {{"cursor", std::to_string(progress_.cursor)}});
    // Before this process started, no upload was in flight: whatever no pending event
    // names is an orphan (or kept past its retention).
    sweep_spool(options_.spool_retention.count() == 0 ? started_at_ : retention_cutoff());
    auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_every;

    while (!stopping()) {
        if (options_.spool_retention.count() > 0 &&
            std::chrono::steady_clock::now() >= next_sweep) {
            sweep_spool(retention_cutoff());
            next_sweep = std::chrono::steady_clock::now() + options_.sweep_every;
        }
        if (!retry("gitwriter.retry_failed", [this] { return handle_retries(); })) break;
        std::uint64_t last = log_.wait_for(progress_.cursor, options_.poll);
        if (last <= progress_.cursor) continue;
        // One batch per round: the events, then one publish and one durable cursor
        // write for all.
        std::uint64_t to =
            std::min(last, progress_.cursor + std::max<std::uint32_t>(options_.batch, 1));
        bool applied = retry("gitwriter.apply_failed", [&] {
            if (progress_.needs_recover)
                if (Status r = recover(); !r) return r;
            // While an event waits (a missing file, a failing git), a retry request
            // can still be the way out: one of a held inventory, say.
            if (Status h = handle_retries(); !h) return h;
            Status s = apply_range(progress_.cursor + 1, to);
            // Whatever was applied before an error is kept: publish and persist it now.
            Status f = flush();
            return s ? f : s;
        });
        if (!applied) break;
        maybe_gc();
    }
    if (Status s = flush(); !s)
        log_line(LogLevel::error, "gitwriter.flush_failed", {{"error", s.to_string()}});
    clear_marker();
    log_line(LogLevel::info, "gitwriter.stopped", {{"cursor", std::to_string(progress_.cursor)}});
}

}  // namespace gitwriter

Result<std::unique_ptr<GitWriter>> open_git_writer(EventLog& log, GitWriterOptions options) {
    auto libgit2 = std::make_unique<gitwriter::Libgit2>();
    if (!libgit2->status()) return libgit2->status();
    return std::unique_ptr<GitWriter>(
        std::make_unique<gitwriter::GitWriterImpl>(log, std::move(options), std::move(libgit2)));
}

}  // namespace netkeep
