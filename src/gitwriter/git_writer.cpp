// The git writer's thread: tails the event log from its cursor and applies each event in
// sequence order. docs/git.md has the whole story; the invariants are repeated where they
// are kept.
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

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/format.hpp"
#include "gitwriter/git.hpp"
#include "gitwriter/redact.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/posix.hpp"
#include "netkeep/run_program.hpp"
#include "netkeep/sha256.hpp"
#include "netkeep/spool.hpp"

namespace netkeep {

namespace {

using gitwriter::Repo;

// Where redacted content is staged before it is streamed into git. One at a time (the
// writer is one thread); a leftover from a crash is removed at start.
constexpr std::string_view k_redacting = ".gitwriter-redacting";
constexpr std::size_t k_chunk = 1 << 16;
// A batch is published once it holds this many commits or bytes in memory, whatever the
// event batch: a 10,000-device root tree is 400 KB a commit.
constexpr std::size_t k_publish_commits = 64;
constexpr std::uint64_t k_publish_bytes = 32 << 20;

// A fault of the repository (or of the disk under it), not of the event being applied:
// never counted towards the event's quarantine. The writer tells the two apart by code.
Status repo_fault(const Status& s) { return Status::unavailable(s.message()); }
bool is_repo_fault(const Status& s) { return s.code() == Status::Code::unavailable; }

// Streams the file at path (exactly `size` bytes) into a blob, feeding `also` each chunk.
// Errors reading the file keep their code; errors writing the blob are repo_fault()s.
template <typename Also>
Result<git_oid> stream_file(Repo& repo, const std::string& path, std::uint64_t size, Also also) {
    UniqueFd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.get() < 0) return errno_status(errno, "opening", path);
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) return errno_status(errno, "stat of", path);
    if (std::uint64_t(st.st_size) != size)
        return Status::corruption(
            fmt::format("{} has {} bytes, expected {}", path, st.st_size, size));
    auto blob = repo.blob_writer(size);
    if (!blob) return repo_fault(blob.status());
    std::string buf(k_chunk, '\0');
    for (;;) {
        ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_status(errno, "reading", path);
        if (n == 0) break;
        std::string_view chunk(buf.data(), std::size_t(n));
        also(chunk);
        if (Status s = blob->write(chunk); !s) return repo_fault(s);
    }
    auto id = blob->finish();
    if (!id) return repo_fault(id.status());
    return id;
}

// The crash marker: names the event being applied, written (pwrite, no fsync) before it
// and cleared after. A crash of the process, the only thing it must survive, leaves it in
// the page cache; a power cut may lose it, which only loses one crash's attribution.
// Fixed width, so every write replaces the whole content.
std::string marker_text(std::uint64_t seq, std::uint32_t crashes) {
    return fmt::format("{:020} {:010}\n", seq, crashes);
}

class GitWriterImpl final : public GitWriter {
public:
    GitWriterImpl(EventLog& log, GitWriterOptions options,
                  std::unique_ptr<gitwriter::Libgit2> libgit2)
        : log_(log),
          options_(with_defaults(std::move(options))),
          spool_(Spool::existing(options_.spool_dir)),
          libgit2_(std::move(libgit2)) {}

    ~GitWriterImpl() override {
        stop();
        if (marker_fd_ >= 0) ::close(marker_fd_);
    }

    Status start() override {
        if (thread_.joinable()) return Status::conflict("the git writer is already running");
        auto meta = log_.get_meta(std::string(gitwriter::k_cursor_key));
        if (meta) {
            meta_cursor_ = gitwriter::parse_u64(*meta);
            if (!meta_cursor_)
                return Status::corruption(fmt::format("{} is not a sequence number: '{}'",
                                                      gitwriter::k_cursor_key, *meta));
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

    void stop() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    std::uint64_t applied_seq() const override { return applied_.load(); }

    GitWriterHealth health() const override {
        std::lock_guard lock(health_mutex_);
        GitWriterHealth h = health_;
        h.applied_seq = applied_.load();
        h.redaction_lines_skipped = redaction_lines_skipped_.load();
        return h;
    }

private:
    static GitWriterOptions with_defaults(GitWriterOptions o) {
        if (o.state_dir.empty())
            o.state_dir = (std::filesystem::path(o.repo_path).parent_path() / "gitwriter").string();
        if (o.quarantine_after == 0) o.quarantine_after = 1;
        return o;
    }

    // What the writer knows of one quarantined event (its record, and enough of the
    // event to retry it and to keep its spool file).
    struct Quarantined {
        gitwriter::QuarantineRecord record;
        bool inventory = false;
        std::string spool;
    };

    // ---- start-up ----

    // Opens (or creates) the repository and resumes from max(meta cursor, newest
    // position on main). Called by start(), and by the thread until it succeeds.
    Status open_repository() {
        auto repo = Repo::open_or_create(options_.repo_path);
        if (!repo) return repo_fault(repo.status());
        auto position = repo->last_position();
        if (!position) return repo_fault(position.status());
        auto cursor = gitwriter::resume_cursor(meta_cursor_, *position, log_.last_seq());
        if (!cursor) return cursor.status();
        repo_ = std::move(*repo);
        remove_stale_locks();
        cursor_ = *cursor;
        published_ = *cursor;
        persisted_ = meta_cursor_.value_or(0);
        applied_.store(cursor_);
        needs_recover_ = true;
        log_line(LogLevel::info, "gitwriter.starting",
                 {{"cursor", std::to_string(cursor_)},
                  {"meta_cursor", meta_cursor_ ? std::to_string(*meta_cursor_) : "none"},
                  {"head_seq", *position ? std::to_string(**position) : "none"},
                  {"repo", options_.repo_path}});
        return Status::ok();
    }

    // The quarantine records, and the event each names (its kind and spool file).
    Status load_quarantine() {
        quarantine_.clear();
        std::vector<std::pair<std::uint64_t, gitwriter::QuarantineRecord>> found;
        Status s = log_.scan_meta(
            gitwriter::k_quarantine_prefix, [&](std::string_view key, std::string_view value) {
                auto seq = gitwriter::parse_u64(key.substr(gitwriter::k_quarantine_prefix.size()));
                auto record = gitwriter::parse_quarantine_record(value);
                if (!seq || !record) {
                    log_line(LogLevel::warn, "gitwriter.quarantine_record_invalid",
                             {{"key", std::string(key)}, {"value", std::string(value)}});
                    return true;
                }
                found.emplace_back(*seq, std::move(*record));
                return true;
            });
        if (!s) return s;
        for (auto& [seq, record] : found) {
            Quarantined q{std::move(record), false, {}};
            Status scanned = log_.scan(seq, seq, [&](EventRecord&& r) {
                q.inventory = std::holds_alternative<InventoryApplied>(r.event);
                if (auto* c = std::get_if<CompletionRecorded>(&r.event)) q.spool = c->spool;
                return false;
            });
            if (!scanned) return scanned;
            quarantine_.emplace(seq, std::move(q));
        }
        return Status::ok();
    }

    // The state dir, and the crash marker: one left behind names an event that was being
    // applied when the process died. It counts as a failed attempt of that event.
    void open_state_dir() {
        if (Status s = create_directories_durably(options_.state_dir + "/retry"); !s) {
            // Without it the writer still runs; it only cannot tell a crashing event.
            log_line(LogLevel::error, "gitwriter.state_dir_failed", {{"error", s.to_string()}});
            return;
        }
        std::string path = options_.state_dir + "/applying";
        if (marker_fd_ < 0) marker_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (marker_fd_ < 0) {
            log_line(LogLevel::error, "gitwriter.marker_failed",
                     {{"path", path}, {"error", std::strerror(errno)}});
            return;
        }
        char buf[64] = {};
        ssize_t n = ::pread(marker_fd_, buf, sizeof buf - 1, 0);
        std::string_view text(buf, n > 0 ? std::size_t(n) : 0);
        if (text.size() == 32 && text[20] == ' ' && text.back() == '\n') {
            auto seq = gitwriter::parse_u64(text.substr(0, 20));
            auto crashes = gitwriter::parse_u64(text.substr(21, 10));
            if (seq && crashes && *seq > 0) {
                crashes_[*seq] = std::uint32_t(*crashes + 1);
                log_line(LogLevel::error, "gitwriter.crash_detected",
                         {{"seq", std::to_string(*seq)},
                          {"crashes", std::to_string(*crashes + 1)},
                          {"quarantine_after", std::to_string(options_.quarantine_after)}});
                // A crash during a late retry: back to quarantined, no loop (the operator
                // asked once; another retry needs another request).
                if (auto q = quarantine_.find(*seq);
                    q != quarantine_.end() &&
                    (q->second.record.state == gitwriter::QuarantineState::retry ||
                     q->second.record.state == gitwriter::QuarantineState::retrying) &&
                    !q->second.inventory) {
                    q->second.record.state = gitwriter::QuarantineState::quarantined;
                    q->second.record.attempts += 1;
                    q->second.record.detail = "the retry crashed the writer";
                    q->second.record.at = now_unix();
                    if (Status s = put_quarantine(*seq, q->second.record); !s)
                        log_line(LogLevel::error, "gitwriter.quarantine_write_failed",
                                 {{"error", s.to_string()}});
                }
            }
        }
        clear_marker();
    }

    void write_marker(std::uint64_t seq) {
        if (marker_fd_ < 0) return;
        std::string text = marker_text(seq, crashes_.contains(seq) ? crashes_[seq] : 0);
        if (::pwrite(marker_fd_, text.data(), text.size(), 0) != ssize_t(text.size()))
            log_line(LogLevel::warn, "gitwriter.marker_failed", {{"error", std::strerror(errno)}});
    }
    void clear_marker() {
        if (marker_fd_ < 0) return;
        std::string text = marker_text(0, 0);
        (void)!::pwrite(marker_fd_, text.data(), text.size(), 0);
    }

    static unix_time now_unix() {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    // A kill -9 in the middle of a commit (or of git gc) leaves git's lock files, and
    // libgit2 would refuse every later commit. Nothing else writes to repo.git while
    // netkeepd runs, and the event log's lock (held by now) shuts out a second netkeepd,
    // so a lock found at start is stale. (Hence docs/git.md: no git writes into repo.git
    // by hand while netkeepd runs.)
    void remove_stale_locks() {
        for (const char* name : {"refs/heads/main.lock", "packed-refs.lock", "HEAD.lock"}) {
            std::string path = options_.repo_path + "/" + name;
            if (::unlink(path.c_str()) == 0)
                log_line(LogLevel::warn, "gitwriter.stale_lock_removed", {{"path", path}});
        }
    }

    // ---- health ----

    void publish_health() {
        std::uint64_t open = 0;
        for (const auto& [seq, q] : quarantine_) open += gitwriter::is_open(q.record.state) ? 1 : 0;
        std::lock_guard lock(health_mutex_);
        health_.quarantined = open;
        health_.repo_ok = repo_.has_value() && !repo_failing_;
    }
    void note_failure(std::string_view what, const Status& s) {
        repo_failing_ = is_repo_fault(s) || !repo_;
        {
            std::lock_guard lock(health_mutex_);
            health_.consecutive_failures += 1;
            health_.errors_total += 1;
            health_.last_error = fmt::format("{}: {}", what, s.to_string());
        }
        publish_health();
    }
    void note_success() {
        repo_failing_ = false;
        {
            std::lock_guard lock(health_mutex_);
            health_.consecutive_failures = 0;
            health_.last_error.clear();
        }
        publish_health();
    }

    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    // Sleeps for d unless stop() comes first.
    void sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, d, [this] { return stopping_; });
    }

    // Retries `step` with backoff until it succeeds or stop() is called. An event is
    // skipped only through quarantine (apply_range), never here. `what` names the log line.
    template <typename Step>
    bool retry(std::string_view what, Step step) {
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
                     {{"cursor", std::to_string(cursor_)},
                      {"error", s.to_string()},
                      {"retry_ms", std::to_string(delay.count())}});
            sleep_for(delay);
            delay = std::min(delay * 2, options_.retry_max);
        }
    }

    void run() {
        pthread_setname_np(pthread_self(), "netkeep-git");
        (void)spool_.remove(k_redacting);  // a leftover of a crash while redacting
        if (!repo_ && !retry("gitwriter.open_failed", [this] { return open_repository(); })) return;
        if (!retry("gitwriter.recover_failed", [this] { return recover(); })) return;
        log_line(LogLevel::info, "gitwriter.started", {{"cursor", std::to_string(cursor_)}});
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
            std::uint64_t last = log_.wait_for(cursor_, options_.poll);
            if (last <= cursor_) continue;
            // One batch per round: the events, then one publish and one durable cursor
            // write for all.
            std::uint64_t to = std::min(last, cursor_ + std::max<std::uint32_t>(options_.batch, 1));
            bool applied = retry("gitwriter.apply_failed", [&] {
                if (needs_recover_)
                    if (Status r = recover(); !r) return r;
                // While an event waits (a missing file, a failing git), a retry request
                // can still be the way out: one of a held inventory, say.
                if (Status h = handle_retries(); !h) return h;
                Status s = apply_range(cursor_ + 1, to);
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
        log_line(LogLevel::info, "gitwriter.stopped", {{"cursor", std::to_string(cursor_)}});
    }

    // Before the first event (and after a batch failed to publish): the inventory rules in
    // force at the cursor, and for the events after the persisted cursor, up to the
    // cursor, whose cursor write was lost (a crash, or a failed write), their records and
    // spool files.
    Status recover() {
        needs_recover_ = true;  // until this succeeds
        rules_ = {};
        last_inventory_ = 0;
        spool_to_remove_.clear();
        records_.clear();
        repo_->discard();
        if (cursor_ == 0) {
            needs_recover_ = false;
            return Status::ok();
        }
        std::uint64_t inventory_seq = 0;
        if (auto v = log_.get_meta(std::string(gitwriter::k_inventory_key)); v) {
            inventory_seq = gitwriter::parse_u64(*v).value_or(0);
        } else if (v.status().code() != Status::Code::not_found) {
            return v.status();
        }
        std::unordered_map<std::uint64_t, std::string> commits;  // seq → commit, after persisted_
        if (cursor_ > persisted_) {
            auto found = repo_->commits_after(persisted_);
            if (!found) return repo_fault(found.status());
            commits.insert(found->begin(), found->end());
        }
        // The meta value is the last InventoryApplied at or before the persisted cursor
        // (flush() writes it with the cursor). Later ones, up to cursor_, are in
        // (persisted_, cursor_], scanned below. Without a usable value: the whole prefix.
        std::uint64_t from = persisted_ + 1;
        if (inventory_seq == 0 || inventory_seq > persisted_) {
            from = 1;
        } else {
            Status s = log_.scan(inventory_seq, inventory_seq, [&](EventRecord&& r) {
                return visit_recovered(std::move(r), false, commits);
            });
            if (!s) return s;
            if (!recover_error_) return std::exchange(recover_error_, Status::ok());
        }
        Status s = scan_checked(from, cursor_, [&](EventRecord&& r) {
            bool applied_after_persisted = r.seq > persisted_;
            return visit_recovered(std::move(r), applied_after_persisted, commits);
        });
        if (!s) return s;
        if (!recover_error_) return std::exchange(recover_error_, Status::ok());
        Status f = flush();
        if (f) needs_recover_ = false;
        return f;
    }

    bool visit_recovered(EventRecord&& r, bool after_persisted,
                         const std::unordered_map<std::uint64_t, std::string>& commits) {
        auto q = quarantine_.find(r.seq);
        if (auto* inventory = std::get_if<InventoryApplied>(&r.event)) {
            // A held inventory is never passed, so one at or before the cursor was applied
            // after a retry: its rules are in force.
            recover_error_ = rules_.apply(r.seq, *inventory);
            if (!recover_error_.is_ok()) return false;
            last_inventory_ = r.seq;
            return true;
        }
        auto* c = std::get_if<CompletionRecorded>(&r.event);
        if (!c || !after_persisted) return true;
        if (q != quarantine_.end())
            return true;  // skipped: no record, its file is kept for a retry
        if (!c->failure) recover_record(r.seq, *c, commits);
        if (!c->spool.empty()) spool_to_remove_.emplace_back(r.seq, c->spool);
        return true;
    }

    // The record of a completion applied before the crash: its commit is the one with its
    // seq in the trailer, the blob the one at its path there. Without a commit (the content
    // was unchanged) the blob is written again from the spool file: a no-op for git.
    void recover_record(std::uint64_t seq, const CompletionRecorded& c,
                        const std::unordered_map<std::uint64_t, std::string>& commits) {
        std::string path = path_of(rules_, c);
        auto commit = commits.find(seq);
        Result<git_oid> blob = Status::unavailable("not written");
        if (commit != commits.end()) {
            blob = repo_->blob_at(commit->second, path);
        } else if (crashes_.contains(seq)) {
            // It crashed the writer here before: git is right already, the record is for
            // verify only, and not worth a crash loop.
            blob = Status::corruption("it crashed the writer while its record was rebuilt");
        } else {
            write_marker(seq);
            blob = write_blob(seq, c, rules_);
            clear_marker();
        }
        if (!blob) {
            // The record is for verify only: git itself is already right.
            log_line(LogLevel::warn, "gitwriter.record_lost",
                     {{"seq", std::to_string(seq)}, {"error", blob.status().to_string()}});
            return;
        }
        records_.emplace_back(
            seq, gitwriter::AppliedRecord{gitwriter::hex_of(*blob),
                                          commit == commits.end() ? "" : commit->second, path});
    }

    std::string path_of(const gitwriter::InventoryRules& rules, const CompletionRecorded& c) const {
        return gitwriter::tree_path(options_.layout, rules.group_of(c.device), c.device, c.job);
    }

    // scan(), plus the check that the visitor saw every seq of [from, to]: the log
    // promises no gaps, and a gap silently passed would be a skipped event.
    template <typename Visit>
    Status scan_checked(std::uint64_t from, std::uint64_t to, Visit visit) {
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

    Status apply_range(std::uint64_t from, std::uint64_t to) {
        Status failed;
        Status s = scan_checked(from, to, [&](EventRecord&& r) {
            if (stopping()) return false;
            failed = apply_guarded(r);
            if (!failed) return false;
            cursor_ = r.seq;
            return repo_->pending_commits() < k_publish_commits &&
                   repo_->pending_bytes() < k_publish_bytes;
        });
        if (!failed) return failed;
        return s;
    }

    // apply(), with the quarantine around it: a quarantined completion is skipped, a held
    // inventory stops the writer, and an event that fails (or crashed the writer)
    // quarantine_after times for a reason of its own is quarantined.
    Status apply_guarded(const EventRecord& r) {
        const bool inventory = std::holds_alternative<InventoryApplied>(r.event);
        const auto* c = std::get_if<CompletionRecorded>(&r.event);
        if (!inventory && !(c && !c->failure)) return apply(r);  // nothing here can fail for itself
        auto q = quarantine_.find(r.seq);
        if (q != quarantine_.end()) {
            if (!inventory) return Status::ok();  // skipped in order: applied late, if retried
            if (q->second.record.state == gitwriter::QuarantineState::held)
                return Status::conflict(
                    fmt::format("seq {}: inventory held after {} failed attempts ({}); the writer "
                                "waits here until "
                                "`netkeepctl quarantine retry {}`",
                                r.seq, q->second.record.attempts, q->second.record.detail, r.seq));
            // A retried inventory: applied in order, here, like any other.
        }
        const std::uint32_t crashed = crashes_.contains(r.seq) ? crashes_[r.seq] : 0;
        if (crashed >= options_.quarantine_after)
            return quarantine(r, fmt::format("crashed the writer {} times", crashed), crashed);
        write_marker(r.seq);
        if (options_.test_before_apply) options_.test_before_apply(r.seq);
        Status s = apply(r);
        clear_marker();
        if (s) {
            failures_.erase(r.seq);
            if (q != quarantine_.end()) {
                q->second.record.state = gitwriter::QuarantineState::applied;
                q->second.record.detail = "applied in order after a retry";
                if (Status w = put_quarantine(r.seq, q->second.record); !w) return w;
                publish_health();
            }
            return s;
        }
        if (is_repo_fault(s)) return s;
        const std::uint32_t attempts = ++failures_[r.seq] + crashed;
        if (attempts >= options_.quarantine_after) return quarantine(r, s.to_string(), attempts);
        return s;
    }

    // Records the event as quarantined (durably, before the cursor may pass it). A
    // completion is then skipped (ok); an inventory is held (a conflict: the writer waits,
    // and the repository is not to blame).
    Status quarantine(const EventRecord& r, std::string reason, std::uint32_t attempts) {
        const bool inventory = std::holds_alternative<InventoryApplied>(r.event);
        Quarantined q;
        q.inventory = inventory;
        if (auto* c = std::get_if<CompletionRecorded>(&r.event)) q.spool = c->spool;
        q.record.state =
            inventory ? gitwriter::QuarantineState::held : gitwriter::QuarantineState::quarantined;
        q.record.attempts = attempts;
        q.record.at = now_unix();
        q.record.detail = std::move(reason);
        if (Status s = put_quarantine(r.seq, q.record); !s) return s;
        failures_.erase(r.seq);
        crashes_.erase(r.seq);
        log_line(LogLevel::error, inventory ? "gitwriter.held" : "gitwriter.quarantined",
                 {{"seq", std::to_string(r.seq)},
                  {"attempts", std::to_string(attempts)},
                  {"reason", q.record.detail}});
        quarantine_[r.seq] = std::move(q);
        {
            std::lock_guard lock(health_mutex_);
            health_.quarantined_total += 1;
        }
        publish_health();
        if (inventory)
            return Status::conflict(
                fmt::format("seq {}: inventory held: {}", r.seq, quarantine_[r.seq].record.detail));
        return Status::ok();
    }

    Status put_quarantine(std::uint64_t seq, const gitwriter::QuarantineRecord& record) {
        return log_.put_meta(gitwriter::quarantine_key(seq),
                             gitwriter::format_quarantine_record(record));
    }

    Status apply(const EventRecord& r) {
        if (auto* inventory = std::get_if<InventoryApplied>(&r.event)) {
            if (Status s = rules_.apply(r.seq, *inventory); !s) return s;
            last_inventory_ = r.seq;
            return Status::ok();
        }
        auto* c = std::get_if<CompletionRecorded>(&r.event);
        if (!c) return Status::ok();
        if (c->failure) {
            // A failed attempt never touches the tree; it is kept in the log. Its spool
            // file (whatever the worker had collected) goes with the others.
            if (!c->spool.empty()) spool_to_remove_.emplace_back(r.seq, c->spool);
            return Status::ok();
        }
        return apply_completion(r.seq, *c);
    }

    // The completion's content as a blob: redacted with `rules`, checked against the size
    // and SHA-256 recorded for it. Repository errors are repo_fault()s; the others (the
    // file is missing or differs, redaction fails) are the event's own.
    Result<git_oid> write_blob(std::uint64_t seq, const CompletionRecorded& c,
                               const gitwriter::InventoryRules& rules) {
        std::string spool_path = spool_.path_of(c.spool);
        Sha256 hash;
        auto hashing = [&](std::string_view chunk) { hash.update(chunk); };
        Result<git_oid> blob = Status::unavailable("not written");
        const gitwriter::Redactor* redactor = rules.find(c.job);
        if (redactor == nullptr) {
            blob = stream_file(*repo_, spool_path, c.size, hashing);
        } else {
            std::string staged = spool_.path_of(k_redacting);
            auto redacted = gitwriter::redact_file(*redactor, spool_path, c.size, staged, hashing);
            if (redacted) {
                blob = stream_file(*repo_, staged, redacted->bytes_out, [](std::string_view) {});
                if (redacted->lines_skipped > 0) note_unredacted(seq, c, redacted->lines_skipped);
            } else {
                blob = redacted.status();
            }
            (void)spool_.remove(k_redacting);
        }
        if (!blob) {
            const Status& s = blob.status();
            std::string message = fmt::format("seq {}: {}", seq, s.message());
            switch (s.code()) {
                case Status::Code::not_found:
                    return Status::not_found(std::move(message));
                case Status::Code::unavailable:
                    return Status::unavailable(std::move(message));
                case Status::Code::corruption:
                    return Status::corruption(std::move(message));
                case Status::Code::invalid_argument:
                    return Status::invalid_argument(std::move(message));
                default:
                    return Status::io_error(std::move(message));
            }
        }
        auto digest = hash.finish();
        if (std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()) !=
            c.sha256) {
            return Status::corruption(fmt::format(
                "seq {}: {} does not match the SHA-256 recorded for it", seq, spool_path));
        }
        return blob;
    }

    Status apply_completion(std::uint64_t seq, const CompletionRecorded& c) {
        auto blob = write_blob(seq, c, rules_);
        if (!blob) {
            if (blob.status().code() == Status::Code::not_found) {
                // Counted towards its quarantine; docs/git.md says what the operator can do.
                log_line(LogLevel::error, "gitwriter.spool_missing",
                         {{"seq", std::to_string(seq)},
                          {"device", c.device},
                          {"job", c.job},
                          {"spool", spool_.path_of(c.spool)}});
            }
            return blob.status();
        }
        std::string path = path_of(rules_, c);
        auto commit =
            repo_->commit_file(path, *blob, c.end_timestamp,
                               gitwriter::format_commit_message(seq, c), options_.commit_unchanged);
        if (!commit)
            return Status::unavailable(fmt::format("seq {}: {}", seq, commit.status().message()));
        if (*commit) {
            ++commits_since_gc_;
            log_line(LogLevel::info, "gitwriter.committed",
                     {{"seq", std::to_string(seq)}, {"path", path}, {"commit", **commit}});
        } else {
            log_line(LogLevel::debug, "gitwriter.unchanged",
                     {{"seq", std::to_string(seq)}, {"path", path}});
        }
        records_.emplace_back(
            seq, gitwriter::AppliedRecord{gitwriter::hex_of(*blob), commit->value_or(""), path});
        spool_to_remove_.emplace_back(seq, c.spool);
        return Status::ok();
    }

    // Lines too long for the redaction rules went to git as they were: the operator must
    // hear of it (docs/jobs.md#redact).
    void note_unredacted(std::uint64_t seq, const CompletionRecorded& c, std::uint64_t lines) {
        redaction_lines_skipped_.fetch_add(lines);
        log_line(LogLevel::warn, "gitwriter.redaction_skipped",
                 {{"seq", std::to_string(seq)},
                  {"device", c.device},
                  {"job", c.job},
                  {"lines", std::to_string(lines)},
                  {"max_line", std::to_string(gitwriter::Redactor::k_max_line)}});
    }

    // ---- retries of quarantined events (docs/git.md#quarantine) ----

    // Turns the request files netkeepctl left into durable "retry" records, then applies
    // the retried completions late, in order of request. Only between batches: the batch
    // is empty and the cursor persisted, so a late commit sits on top of everything the
    // cursor covers.
    Status handle_retries() {
        if (cursor_ != persisted_ || cursor_ != published_ || needs_recover_) return Status::ok();
        if (Status s = take_requests(); !s) return s;
        for (;;) {
            std::optional<std::pair<std::uint64_t, std::uint64_t>> next;  // order, seq
            for (const auto& [seq, q] : quarantine_) {
                auto st = q.record.state;
                if (q.inventory || seq > cursor_ ||
                    (st != gitwriter::QuarantineState::retry &&
                     st != gitwriter::QuarantineState::retrying))
                    continue;
                if (!next || q.record.order < next->first) next = std::pair(q.record.order, seq);
            }
            if (!next || stopping()) return Status::ok();
            if (Status s = late_apply(next->second); !s) return s;
        }
    }

    Status take_requests() {
        std::string dir = options_.state_dir + "/retry";
        std::error_code ec;
        std::vector<std::pair<std::string, std::uint64_t>> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
            std::string name = entry.path().filename().string();
            if (name.find(".tmp") != std::string::npos) continue;  // netkeepctl is still writing it
            files.emplace_back(name, 0);
        }
        if (ec) return Status::ok();  // no dir: no requests (open_state_dir logged why)
        for (auto& [name, unused] : files) {
            std::string path = dir + "/" + name;
            auto seq = gitwriter::parse_u64(name);
            std::string text;
            {
                std::ifstream in(path);
                std::getline(in, text);
            }
            auto order = gitwriter::parse_u64(text);
            auto q = seq ? quarantine_.find(*seq) : quarantine_.end();
            if (!seq || !order || q == quarantine_.end() ||
                (q->second.record.state != gitwriter::QuarantineState::quarantined &&
                 q->second.record.state != gitwriter::QuarantineState::held)) {
                log_line(LogLevel::warn, "gitwriter.retry_ignored",
                         {{"request", path},
                          {"why", q == quarantine_.end() ? "no such quarantined event"
                                                         : "not quarantined now"}});
            } else {
                q->second.record.state = gitwriter::QuarantineState::retry;
                q->second.record.order = *order;
                if (Status s = put_quarantine(*seq, q->second.record); !s) return s;
                // A fresh start for its counts: the operator fixed something.
                failures_.erase(*seq);
                crashes_.erase(*seq);
                log_line(LogLevel::info, "gitwriter.retry_requested",
                         {{"seq", std::to_string(*seq)}, {"order", std::to_string(*order)}});
            }
            ::unlink(path.c_str());  // the record (durable by now) carries the request
        }
        if (!files.empty()) publish_health();
        return Status::ok();
    }

    // A quarantined completion, applied after the cursor has passed it: committed on top of
    // main with a Netkeep-Retried-After trailer, unless a newer completion of the same task
    // was applied since (then it is superseded: a late retry never hides a newer config).
    // Idempotent across crashes: "retrying" is written before the commit, and a commit
    // found for it on main is taken as done.
    Status late_apply(std::uint64_t seq) {
        auto& q = quarantine_[seq];
        std::optional<CompletionRecorded> event;
        if (Status s = log_.scan(seq, seq,
                                 [&](EventRecord&& r) {
                                     if (auto* c = std::get_if<CompletionRecorded>(&r.event))
                                         event = std::move(*c);
                                     return false;
                                 });
            !s)
            return s;
        if (!event || event->failure)
            return finish_retry(seq, gitwriter::QuarantineState::superseded,
                                "not a successful completion");

        // A newer completion of the task already applied? And the rules in force at seq.
        std::optional<std::uint64_t> newer;
        bool inventory_since = false;
        Status scanned = scan_checked(seq + 1, cursor_, [&](EventRecord&& r) {
            if (std::holds_alternative<InventoryApplied>(r.event)) inventory_since = true;
            auto* c = std::get_if<CompletionRecorded>(&r.event);
            if (c && !c->failure && c->device == event->device && c->job == event->job) {
                auto other = quarantine_.find(r.seq);
                if (other == quarantine_.end() ||
                    other->second.record.state == gitwriter::QuarantineState::applied)
                    newer = r.seq;
            }
            return true;
        });
        if (!scanned) return scanned;
        if (newer && q.record.state != gitwriter::QuarantineState::retrying)
            return finish_retry(
                seq, gitwriter::QuarantineState::superseded,
                fmt::format("seq {} of the same task was applied after it", *newer));
        gitwriter::InventoryRules at_seq;
        if (inventory_since) {
            Status s = log_.scan(1, seq, [&](EventRecord&& r) {
                if (auto* inv = std::get_if<InventoryApplied>(&r.event)) {
                    auto held = quarantine_.find(r.seq);
                    if (held == quarantine_.end() ||
                        held->second.record.state == gitwriter::QuarantineState::applied)
                        (void)at_seq.apply(r.seq, *inv);
                }
                return true;
            });
            if (!s) return s;
        }
        const gitwriter::InventoryRules& rules = inventory_since ? at_seq : rules_;
        std::string path = path_of(rules, *event);

        if (q.record.state == gitwriter::QuarantineState::retrying) {
            auto found = repo_->find_late_commit(seq, q.record.after);
            if (!found) return repo_fault(found.status());
            if (*found) {
                auto blob = repo_->blob_at(**found, path);
                if (!blob) return repo_fault(blob.status());
                return finish_applied(seq, *event, {gitwriter::hex_of(*blob), **found, path});
            }
            if (newer)  // not committed before the crash, and something newer came since
                return finish_retry(
                    seq, gitwriter::QuarantineState::superseded,
                    fmt::format("seq {} of the same task was applied after it", *newer));
        }
        q.record.state = gitwriter::QuarantineState::retrying;
        q.record.after = cursor_;
        if (Status s = put_quarantine(seq, q.record); !s) return s;

        write_marker(seq);
        if (options_.test_before_apply) options_.test_before_apply(seq);
        auto blob = write_blob(seq, *event, rules);
        clear_marker();
        if (!blob) {
            if (is_repo_fault(blob.status())) return blob.status();  // retried (still "retrying")
            q.record.state = gitwriter::QuarantineState::quarantined;
            q.record.attempts += 1;
            q.record.at = now_unix();
            q.record.detail = "retry failed: " + blob.status().to_string();
            log_line(LogLevel::error, "gitwriter.quarantined",
                     {{"seq", std::to_string(seq)}, {"reason", q.record.detail}});
            Status s = put_quarantine(seq, q.record);
            publish_health();
            return s;
        }
        auto commit =
            repo_->commit_file(path, *blob, event->end_timestamp,
                               gitwriter::format_commit_message(seq, *event, cursor_), true);
        if (!commit) {
            repo_->discard();
            return repo_fault(commit.status());
        }
        if (Status s = repo_->publish(); !s) return repo_fault(s);
        log_line(LogLevel::info, "gitwriter.committed_late",
                 {{"seq", std::to_string(seq)},
                  {"path", path},
                  {"commit", **commit},
                  {"after", std::to_string(cursor_)}});
        return finish_applied(seq, *event, {gitwriter::hex_of(*blob), **commit, path});
    }

    Status finish_applied(std::uint64_t seq, const CompletionRecorded& c,
                          gitwriter::AppliedRecord record) {
        auto& q = quarantine_[seq];
        q.record.state = gitwriter::QuarantineState::applied;
        q.record.detail = record.commit;
        // The record and the state in one write: verify never sees one without the other.
        if (Status s = log_.put_meta_batch(
                {{gitwriter::applied_key(seq), gitwriter::format_applied_record(record)},
                 {gitwriter::quarantine_key(seq), gitwriter::format_quarantine_record(q.record)}});
            !s)
            return s;
        if (options_.on_applied)
            options_.on_applied(
                {{seq, std::move(record.blob), std::move(record.commit), std::move(record.path)}});
        drop_spool(c.spool);
        publish_health();
        return Status::ok();
    }

    Status finish_retry(std::uint64_t seq, gitwriter::QuarantineState state, std::string detail) {
        auto& q = quarantine_[seq];
        q.record.state = state;
        q.record.detail = std::move(detail);
        if (Status s = put_quarantine(seq, q.record); !s) return s;
        log_line(LogLevel::info, "gitwriter.retry_done",
                 {{"seq", std::to_string(seq)},
                  {"state", std::string(gitwriter::state_name(state))},
                  {"detail", q.record.detail}});
        drop_spool(q.spool);
        publish_health();
        return Status::ok();
    }

    void drop_spool(const std::string& name) {
        if (name.empty() || options_.spool_retention.count() > 0)
            return;  // the sweep takes it in time
        if (Status s = spool_.remove(name); !s)
            log_line(LogLevel::warn, "gitwriter.spool_remove_failed",
                     {{"spool", name}, {"error", s.message()}});
    }

    // Publishes the batch (its commits reach main), then makes the cursor durable with the
    // records of the completions it covers, then drops their spool files. The order
    // matters: the cursor never passes a commit that is not on main, and a file is gone
    // only once no restart can apply its event again.
    Status flush() {
        if (Status s = repo_->publish(); !s) {
            // main has not moved: the events after it are applied again, with the rules in
            // force at that point (recover() rebuilds them).
            cursor_ = published_;
            std::erase_if(records_, [&](const auto& r) { return r.first > cursor_; });
            std::erase_if(spool_to_remove_, [&](const auto& f) { return f.first > cursor_; });
            needs_recover_ = true;
            return repo_fault(s);
        }
        published_ = cursor_;
        applied_.store(cursor_);

        std::vector<std::pair<std::string, std::string>> meta;
        for (const auto& [seq, record] : records_)
            meta.emplace_back(gitwriter::applied_key(seq),
                              gitwriter::format_applied_record(record));
        // The inventory seq before (or with) the cursor that passes it: recover() relies on it.
        if (last_inventory_ > persisted_inventory_)
            meta.emplace_back(std::string(gitwriter::k_inventory_key),
                              std::to_string(last_inventory_));
        if (cursor_ > persisted_)
            meta.emplace_back(std::string(gitwriter::k_cursor_key), std::to_string(cursor_));
        if (!meta.empty())
            if (Status s = log_.put_meta_batch(meta); !s) return s;
        if (options_.on_applied && !records_.empty()) {
            std::vector<GitAppliedRecord> applied;
            applied.reserve(records_.size());
            for (auto& [seq, record] : records_)
                applied.push_back({seq, std::move(record.blob), std::move(record.commit),
                                   std::move(record.path)});
            options_.on_applied(std::move(applied));
        }
        records_.clear();
        persisted_inventory_ = last_inventory_;
        persisted_ = cursor_;

        for (const auto& [seq, name] : spool_to_remove_)
            drop_spool(name);  // with a retention, the sweep
        spool_to_remove_.clear();
        return Status::ok();
    }

    timespec retention_cutoff() const {
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
    void sweep_spool(timespec older_than) {
        auto listed = spool_.files_modified_before(older_than);
        if (!listed) {
            log_line(LogLevel::warn, "gitwriter.sweep_failed",
                     {{"error", listed.status().message()}});
            return;
        }
        std::unordered_set<std::string> old(std::make_move_iterator(listed->begin()),
                                            std::make_move_iterator(listed->end()));
        // A quarantined event's file waits for its retry.
        for (const auto& [seq, q] : quarantine_)
            if (gitwriter::is_open(q.record.state)) old.erase(q.spool);
        if (old.empty()) return;
        Status s = log_.scan(persisted_ + 1, log_.last_seq(), [&](EventRecord&& r) {
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
    void maybe_gc() {
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

    Status run_gc() {
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

    EventLog& log_;
    const GitWriterOptions options_;
    // netkeepd's spool (Service opened it); the writer reads, stages in and removes from it.
    Spool spool_;
    std::unique_ptr<gitwriter::Libgit2> libgit2_;  // before repo_: outlives it
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
    std::uint64_t cursor_ = 0;     // last seq applied (its commit may still be in the batch)
    std::uint64_t published_ = 0;  // last seq whose effect is on main
    std::uint64_t persisted_ = 0;  // last cursor written to meta
    std::uint64_t last_inventory_ = 0;
    std::uint64_t persisted_inventory_ = 0;
    gitwriter::InventoryRules rules_;
    // Of events <= cursor_, by seq: written by flush() with the cursor / then dropped.
    std::vector<std::pair<std::uint64_t, gitwriter::AppliedRecord>> records_;
    std::vector<std::pair<std::uint64_t, std::string>> spool_to_remove_;
    bool needs_recover_ = false;
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

}  // namespace

Result<std::unique_ptr<GitWriter>> open_git_writer(EventLog& log, GitWriterOptions options) {
    auto libgit2 = std::make_unique<gitwriter::Libgit2>();
    if (!libgit2->status()) return libgit2->status();
    return std::unique_ptr<GitWriter>(
        std::make_unique<GitWriterImpl>(log, std::move(options), std::move(libgit2)));
}

}  // namespace netkeep
