#pragma once
// The git writer: the one consumer that turns CompletionRecorded events into commits of
// a bare git repository, in log order, exactly once across crashes. docs/git.md
// describes the repository, the commit format and the exactly-once argument.
//
// No libgit2 type appears here: only src/gitwriter/ includes <git2.h>.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// Where a task's file goes in the tree (docs/git.md#path-layout).
enum class PathLayout {
    device,  // <device>/<job>: the root tree has one entry per device
    group,   // <group>/<device>/<job>, group from the inventory ("ungrouped" when none)
};

// What the writer put into git for one successful completion: the content of its
// "gitwriter.applied.<seq>" meta record (docs/git.md "Records of what was applied").
struct GitAppliedRecord {
    std::uint64_t seq = 0;  // of the CompletionRecorded
    std::string blob;       // hex id of the blob written (redacted content)
    std::string commit;     // hex id of its commit; empty when main already had that blob
    std::string path;       // where, in the tree
    friend bool operator==(const GitAppliedRecord&, const GitAppliedRecord&) = default;
};

// A snapshot of the writer's state for /metrics and readiness: cheap (one mutex, no I/O)
// and callable from any thread.
struct GitWriterHealth {
    std::uint64_t applied_seq = 0;  // last seq applied and on main
    bool repo_ok = false;           // the repository is open and its last write succeeded
    std::uint64_t consecutive_failures =
        0;                                // failed attempts since the last success (0: not stuck)
    std::string last_error;               // of the last failed attempt; empty after a success
    std::uint64_t quarantined = 0;        // events quarantined now (not applied, not superseded)
    std::uint64_t quarantined_total = 0;  // events this process quarantined
    std::uint64_t errors_total = 0;       // failed attempts (open, apply, publish) of this process
    // Lines written unredacted because they were longer than the redaction rules look at
    // (docs/jobs.md#redact), counted each time a completion is applied.
    std::uint64_t redaction_lines_skipped = 0;
};

struct GitWriterOptions {
    std::string repo_path;  // <data-dir>/repo.git, bare; created if missing
    std::string spool_dir;  // <data-dir>/spool, where CompletionRecorded::spool lives
    // <data-dir>/gitwriter: the crash marker ("applying") and the retry requests
    // netkeepctl leaves ("retry/<seq>"). Empty: "gitwriter" beside repo_path.
    std::string state_dir;
    // `git gc --auto` runs after this many commits (0: never). libgit2 only writes loose
    // objects; without gc the repository grows one file per object forever.
    std::uint64_t gc_every = 1000;
    std::string git_program = "/usr/bin/git";
    // How long one wait_for() sleeps; bounds how long stop() waits for the thread.
    std::chrono::milliseconds poll{250};
    // Backoff between retries of an event that cannot be applied (a missing spool file,
    // a failed git write), and of opening the repository: doubled from first to max.
    std::chrono::milliseconds retry_first{100};
    std::chrono::milliseconds retry_max{std::chrono::seconds(30)};
    // A completion that fails this many times for a reason of its own (its spool file is
    // missing or does not match, its redaction fails, it crashed the writer) is
    // quarantined: recorded durably, skipped, and left for `netkeepctl quarantine retry`.
    // An inventory is held instead (the writer waits at it: skipping it could commit
    // content its redaction rules should hide). Repository faults (a failed git write)
    // are never counted: they stop every event alike and are retried with backoff.
    std::uint32_t quarantine_after = 3;
    // Events applied before the cursor is written (and spool files dropped). The commits
    // of a batch reach main together, as one pack (docs/git.md#batches).
    std::uint32_t batch = 256;
    PathLayout layout = PathLayout::device;
    // Commit every successful completion, also when the output did not change (a commit
    // with an unchanged tree). Off: a commit only when the content changed.
    bool commit_unchanged = false;
    // How long a spool file is kept after its completion was applied (0: deleted at once).
    // Kept files, and files no event refers to (an upload whose event was never
    // appended), are swept every sweep_every once older than this; at start, too.
    std::chrono::seconds spool_retention{0};
    std::chrono::seconds sweep_every{600};
    // Observer (may be empty): called on the writer thread after each flush that made
    // records durable (their meta keys and the cursor covering them are written), with
    // those records in log order. A record recovered at start (its meta write lost in a
    // crash) is reported when it is written. Must be quick and must not call back into
    // the writer: hand the records to another thread (netkeepd posts them to its
    // io_context for the history index and the commit counter).
    std::function<void(std::vector<GitAppliedRecord>)> on_applied = {};
    // Tests only (netkeepd never sets it): called on the writer thread right before an
    // event with content or an inventory is applied, after the crash marker names it. A
    // unit test makes it abort in a child process to stage a writer crash.
    std::function<void(std::uint64_t seq)> test_before_apply = {};
    // Tests only: called on the writer thread at each step of publishing a batch's pack:
    // "pack" (the .pack is durable, its .idx not yet written) and "index" (both are,
    // main has not moved). A unit test kills the process there (kill -9 at the new points).
    std::function<void(std::string_view step)> test_publish_step = {};
};

// Threads: open_git_writer(), start() and stop() are called from one owning thread
// (netkeepd's main thread), never concurrently. start() runs one thread, "netkeep-git",
// which alone touches the repository, the spool files it consumes and the meta keys
// "gitwriter.*"; it reads the log with wait_for()/scan(). stop() must be called (the
// destructor does) before the event log is closed: the thread writes its cursor to the
// log's meta on the way out.
class GitWriter {
public:
    virtual ~GitWriter() = default;

    // Recovers the cursor (see docs/git.md) and starts the thread. Fails if the cursor
    // or the repository's last Netkeep-Seq trailer is ahead of the log: that repository
    // does not belong to this log, and writing into it would mix two histories. A
    // repository that cannot be opened (or created) is no failure here: the thread
    // retries with backoff while ingest goes on, and health() shows it.
    virtual Status start() = 0;

    // Finishes the event in progress, persists the cursor, joins the thread. Idempotent.
    virtual void stop() = 0;

    // The last sequence number applied and visible on main (committed, found unchanged,
    // or not a completion). Any thread; for tests and metrics.
    virtual std::uint64_t applied_seq() const = 0;

    // Any thread; cheap (see GitWriterHealth).
    virtual GitWriterHealth health() const = 0;
};

// Opens the repository, creating it (bare, HEAD -> refs/heads/main) if missing. Fails only
// if libgit2 cannot be initialized: a repository that does not open is retried by the
// writer's thread after start().
Result<std::unique_ptr<GitWriter>> open_git_writer(EventLog& log, GitWriterOptions options);

}  // namespace netkeep
