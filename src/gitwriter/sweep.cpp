// The git writer's housekeeping, on its own thread between batches: spool files kept
// past their retention and orphans (uploads whose event was never appended), and
// `git gc --auto` to pack the loose objects libgit2 leaves.

#include <time.h>

#include <chrono>
#include <unordered_set>

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/logger.hpp"
#include "util/run_program.hpp"

namespace netkeep::gitwriter {

timespec GitWriterImpl::retention_cutoff() const {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    now.tv_sec -= options_.spool_retention.count();
    return now;
}

// Removes the spool files last written before `older_than` that no
// event after the persisted cursor refers to: applied completions' files past their
// retention, and orphans (an upload made durable whose event was never appended: a
// crash in between, never acknowledged). Files being received are ".incoming-*" and
// never considered; a file just made durable is younger than any cutoff used here.
void GitWriterImpl::sweep_spool(timespec older_than) {
    auto listed = spool_.files_modified_before(older_than);
    if (!listed) {
        log_line(LogLevel::warn, "gitwriter.sweep_failed", {{"error", listed.status().message()}});
        return;
    }
    std::unordered_set<std::string> old(std::make_move_iterator(listed->begin()),
                                        std::make_move_iterator(listed->end()));
    // A quarantined event's file waits for its retry.
    for (const auto& [seq, q] : quarantine_)
        if (is_open(q.record.state)) old.erase(q.spool);
    if (old.empty()) return;
    Status s = log_.scan(progress_.persisted + 1, log_.last_seq(), [&](EventRecord&& r) {
        if (auto* c = std::get_if<CompletionRecorded>(&r.event)) old.erase(c->spool);
        return !old.empty();
    });
    if (!s) {
        log_line(LogLevel::warn, "gitwriter.sweep_failed", {{"error", s.to_string()}});
        return;
    }
    std::size_t removed = 0;
    for (const auto& name : old)
        if (spool_.remove(name)) ++removed;
    log_line(LogLevel::info, "gitwriter.spool_swept", {{"removed", std::to_string(removed)}});
}

// `git gc --auto` packs the loose objects libgit2 writes. It runs here, on the
// writer's own thread, so the writer is paused while gc rewrites the object store;
// the cursor is durable first. A failed gc costs only disk space: logged, not retried.
void GitWriterImpl::maybe_gc() {
    if (options_.gc_every == 0 || commits_since_gc_ < options_.gc_every) return;
    commits_since_gc_ = 0;
    if (Status s = flush(); !s) return;  // apply_failed retries and logs it
    auto started = std::chrono::steady_clock::now();
    Status s = run_gc();
    if (Status r = repo_->refresh(); s && !r) s = r;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (!s)
        log_line(LogLevel::warn, "gitwriter.gc_failed", {{"error", s.to_string()}});
    else
        log_line(LogLevel::info, "gitwriter.gc", {{"ms", std::to_string(ms.count())}});
}

Status GitWriterImpl::run_gc() {
    // gc.autoDetach=false: a detached gc would keep running while the writer goes on.
    // core.fsync=all: gc deletes the packs it replaced, so the new ones (and the refs)
    // must be on disk first; git's default leaves loose objects unsynced.
    std::vector<std::string> args{options_.git_program,
                                  "-c",
                                  "gc.autoDetach=false",
                                  "-c",
                                  "core.fsync=all",
                                  "--git-dir",
                                  options_.repo_path,
                                  "gc",
                                  "--auto",
                                  "--quiet"};
    if (Status s = run_program(args); !s) return Status::io_error("git gc: " + s.message());
    return Status::ok();
}

}  // namespace netkeep::gitwriter
