#pragma once
// The git writer (netkeep/git_writer.hpp), inside: one class whose members are defined in
// one file per concern (README.md in this directory):
//
//   git_writer.cpp   the face (start, stop, health) and the thread's loop, with backoff
//   recover.cpp      start-up: the repository and the cursor, the crash marker, and
//                    rebuilding what a crash lost (rules in force, records, spool files)
//   apply.cpp        applying one event: redaction, the blob, the commit
//   quarantine.cpp   poison events: quarantining them, and the operator's late retries
//   publish.cpp      a batch onto main, then the cursor and records into the log's meta
//   sweep.cpp        spool files past their retention, orphans, and `git gc`
//
// docs/git.md has the whole story; the invariants are repeated where they are kept.
//
// Exactly once, in short:
// - an event's effect on git (a commit, or nothing) happens before the cursor passes it;
// - a commit carries the seq of its event in a Netkeep-Seq trailer, and commits are made
//   in seq order, so main's newest trailer T says "every event <= T is applied";
// - on start, cursor = max(meta cursor, T) (resume_cursor in format.hpp): a crash after
//   a commit but before the cursor write is caught by T (no duplicate), and nothing past
//   the maximum was committed (nothing lost, it is applied now);
// - re-applying an event past the cursor that was applied before a crash is harmless:
//   a completion whose blob is already in main's tree makes no commit, a failure or any
//   other event changes nothing in git;
// - a spool file is deleted only after the cursor that covers its event is durable, so
//   an event that might be applied again always still has its file;
// - commits are made in batches that reach main together (Repo::publish: one pack, one
//   ref update); a batch that fails to publish is applied again from where main is.
//
// Poison events (docs/git.md#quarantine): an event that fails quarantine_after times for
// a reason of its own, or crashes the process as often (a marker file names the event
// being applied), is quarantined (a durable meta record) and skipped; an operator's retry
// applies it late, on top of main, with a Netkeep-Retried-After trailer that keeps the
// "newest position = applied prefix" rule true.

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/format.hpp"
#include "gitwriter/git.hpp"
#include "gitwriter/redact.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/spool.hpp"

namespace netkeep::gitwriter {

// Where redacted content is staged before it is streamed into git. One at a time (the
// writer is one thread); a leftover from a crash is removed at start.
inline constexpr std::string_view k_redacting = ".gitwriter-redacting";

// A fault of the repository (or of the disk under it), not of the event being applied:
// never counted towards the event's quarantine. The writer tells the two apart by code.
inline Status repo_fault(const Status& s) { return Status::unavailable(s.message()); }
inline bool is_repo_fault(const Status& s) { return s.code() == Status::Code::unavailable; }

inline unix_time now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The exactly-once state: how far the writer has come, and what it still owes the log's
// meta. The writer thread's own (start() sets it before the thread exists). Invariants:
// - persisted <= published <= cursor: an event is applied (its commit in the batch)
//   before the batch is published onto main, and on main before a cursor covering it is
//   written to meta;
// - records and spool_to_remove belong to events in (persisted, cursor], in seq order:
//   flush() writes the records with the cursor that covers them, and only then removes
//   the files, so a file is gone only once no restart can apply its event again;
// - inventory is the last InventoryApplied <= cursor; persisted_inventory, the one in
//   meta, is written no later than the cursor that passes it (recover() relies on it);
// - needs_recover: the rules in force, records and spool files of (persisted, cursor]
//   must be rebuilt from the log and git before the next event (at start, and after a
//   batch failed to publish).
struct Progress {
    std::uint64_t cursor = 0;     // last seq applied (its commit may still be in the batch)
    std::uint64_t published = 0;  // last seq whose effect is on main
    std::uint64_t persisted = 0;  // last cursor written to meta
    std::uint64_t inventory = 0;
    std::uint64_t persisted_inventory = 0;
    std::vector<std::pair<std::uint64_t, AppliedRecord>> records;
    std::vector<std::pair<std::uint64_t, std::string>> spool_to_remove;
    bool needs_recover = false;

    // A batch that failed to publish: main has not moved, so the events after it are
    // applied again, with the rules in force at that point (recover() rebuilds them).
    void rewind_to_published() {
        cursor = published;
        std::erase_if(records, [&](const auto& r) { return r.first > cursor; });
        std::erase_if(spool_to_remove, [&](const auto& f) { return f.first > cursor; });
        needs_recover = true;
    }
    // Nothing in flight: the batch is empty, published and covered by the cursor in meta.
    bool settled() const { return cursor == persisted && cursor == published && !needs_recover; }
};

// See the file comment. Threads: as GitWriter says; every member not marked otherwise
// belongs to the writer thread once start() has started it.
class GitWriterImpl final : public GitWriter {
public:
    GitWriterImpl(EventLog& log, GitWriterOptions options, std::unique_ptr<Libgit2> libgit2);
    ~GitWriterImpl() override;

    Status start() override;
    void stop() override;
    std::uint64_t applied_seq() const override { return applied_.load(); }
    GitWriterHealth health() const override;

private:
    // What the writer knows of one quarantined event (its record, and enough of the
    // event to retry it and to keep its spool file).
    struct Quarantined {
        QuarantineRecord record;
        bool inventory = false;
        std::string spool;
    };
    // A quarantined completion retried late, and what the log holds after it.
    struct LateRetry {
        CompletionRecorded event;
        std::optional<std::uint64_t> newer;  // a newer completion of its task, applied since
        bool inventory_since = false;        // an inventory was applied after it
    };

    static GitWriterOptions with_defaults(GitWriterOptions o);

    // ---- the thread (git_writer.cpp) ----
    void run();
    template <typename Step>
    bool retry(std::string_view what, Step step);
    bool stopping();
    void sleep_for(std::chrono::milliseconds d);
    void publish_health();
    void note_failure(std::string_view what, const Status& s);
    void note_success();

    // ---- start-up and recovery (recover.cpp) ----
    Status open_repository();
    void remove_stale_locks();
    Status load_quarantine();
    void open_state_dir();
    void write_marker(std::uint64_t seq);
    void clear_marker();
    Status recover();
    bool visit_recovered(EventRecord&& r, bool after_persisted,
                         const std::unordered_map<std::uint64_t, std::string>& commits);
    void recover_record(std::uint64_t seq, const CompletionRecorded& c,
                        const std::unordered_map<std::uint64_t, std::string>& commits);

    // ---- applying events (apply.cpp) ----
    Status apply_range(std::uint64_t from, std::uint64_t to);
    Status apply_guarded(const EventRecord& r);
    Status apply(const EventRecord& r);
    Status apply_completion(std::uint64_t seq, const CompletionRecorded& c);
    Result<git_oid> write_blob(std::uint64_t seq, const CompletionRecorded& c,
                               const InventoryRules& rules, std::string* masked = nullptr);
    Result<std::optional<git_oid>> ignored_change(const std::string& path, const git_oid& blob,
                                                  const std::string& masked, const Redactor& rules);
    void note_unredacted(std::uint64_t seq, const CompletionRecorded& c, std::uint64_t lines);
    std::string path_of(const InventoryRules& rules, const CompletionRecorded& c) const;
    template <typename Visit>
    Status scan_checked(std::uint64_t from, std::uint64_t to, Visit visit);

    // ---- quarantine and late retries (quarantine.cpp) ----
    Status quarantine(const EventRecord& r, std::string reason, std::uint32_t attempts);
    Status put_quarantine(std::uint64_t seq, const QuarantineRecord& record);
    Status handle_retries();
    Status take_requests();
    Status late_apply(std::uint64_t seq);
    Status scan_since(std::uint64_t seq, LateRetry& late);
    Status rules_at(std::uint64_t seq, InventoryRules& rules);
    Status commit_late(std::uint64_t seq, const CompletionRecorded& event,
                       const InventoryRules& rules, const std::string& path);
    Status finish_applied(std::uint64_t seq, const CompletionRecorded& c, AppliedRecord record);
    Status finish_retry(std::uint64_t seq, QuarantineState state, std::string detail);

    // ---- publishing a batch (publish.cpp) ----
    Status flush();
    void drop_spool(const std::string& name);

    // ---- spool sweep and git gc (sweep.cpp) ----
    timespec retention_cutoff() const;
    void sweep_spool(timespec older_than);
    void maybe_gc();
    Status run_gc();

    EventLog& log_;
    const GitWriterOptions options_;
    // netkeepd's spool (netkeepd opened it before the writer); the writer reads, stages in and
    // removes from it.
    Spool spool_;
    std::unique_ptr<Libgit2> libgit2_;  // before repo_: outlives it
    // Set by start() or, when the repository did not open then, by the thread; from then
    // on the thread's alone.
    std::optional<Repo> repo_;
    std::optional<std::uint64_t> meta_cursor_;

    mutable std::mutex health_mutex_;
    GitWriterHealth health_;  // guarded by health_mutex_ (applied_seq comes from applied_)

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  // guarded by mutex_
    std::atomic<std::uint64_t> applied_{0};
    std::atomic<std::uint64_t> redaction_lines_skipped_{0};
    std::thread thread_;

    // The writer thread's own (start() sets them before the thread exists).
    Progress progress_;
    InventoryRules rules_;  // in force at progress_.cursor
    timespec started_at_{};
    std::uint64_t commits_since_gc_ = 0;
    Status recover_error_;
    bool repo_failing_ = false;  // the last failure was the repository's
    // Quarantine (start() fills them before the thread exists; then the thread's own).
    std::map<std::uint64_t, Quarantined> quarantine_;
    std::unordered_map<std::uint64_t, std::uint32_t>
        failures_;  // seq → failed attempts in this process
    std::unordered_map<std::uint64_t, std::uint32_t> crashes_;  // seq → crashes the marker recorded
    int marker_fd_ = -1;
};

// scan(), plus the check that the visitor saw every seq of [from, to]: the log promises
// no gaps, and a gap silently passed would be a skipped event.
template <typename Visit>
Status GitWriterImpl::scan_checked(std::uint64_t from, std::uint64_t to, Visit visit) {
    std::uint64_t expected = from;
    Status inner;
    Status s = log_.scan(from, to, [&](EventRecord&& r) {
        if (r.seq != expected) {
            inner = Status::corruption(fmt::format("seq {}: missing from the log", expected));
            return false;
        }
        ++expected;
        return visit(std::move(r));
    });
    if (!s) return s;
    if (!inner) return inner;
    return Status::ok();
}

}  // namespace netkeep::gitwriter
