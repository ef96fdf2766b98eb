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

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gitwriter/format.hpp"
#include "gitwriter/git.hpp"
#include "gitwriter/redact.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/sha256.hpp"

extern char** environ;

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


Status errno_status(std::string_view what, const std::string& path) {
    int e = errno;
    std::string message = fmt::format("{} {}: {}", what, path, std::strerror(e));
    return e == ENOENT ? Status::not_found(std::move(message))
                       : Status::io_error(std::move(message));
}

struct fd_closer {
    int fd = -1;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

// Streams the file at path (exactly `size` bytes) into a blob, feeding `also` each chunk.
template <typename Also>
Result<git_oid> stream_file(Repo& repo, const std::string& path, std::uint64_t size, Also also) {
    fd_closer in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return errno_status("opening", path);
    struct stat st {};
    if (::fstat(in.fd, &st) != 0) return errno_status("stat of", path);
    if (std::uint64_t(st.st_size) != size)
        return Status::corruption(
            fmt::format("{} has {} bytes, expected {}", path, st.st_size, size));
    auto blob = repo.blob_writer(size);
    if (!blob) return blob.status();
    std::string buf(k_chunk, '\0');
    for (;;) {
        ssize_t n = ::read(in.fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_status("reading", path);
        if (n == 0) break;
        std::string_view chunk(buf.data(), std::size_t(n));
        also(chunk);
        if (Status s = blob->write(chunk); !s) return s;
    }
    return blob->finish();
}

class GitWriterImpl final : public GitWriter {
public:
    GitWriterImpl(EventLog& log, GitWriterOptions options,
                  std::unique_ptr<gitwriter::Libgit2> libgit2, Repo repo)
        : log_(log),
          options_(std::move(options)),
          libgit2_(std::move(libgit2)),
          repo_(std::move(repo)) {}

    ~GitWriterImpl() override { stop(); }

    Status start() override {
        if (thread_.joinable()) return Status::conflict("the git writer is already running");
        std::optional<std::uint64_t> meta_cursor;
        auto meta = log_.get_meta(std::string(gitwriter::k_cursor_key));
        if (meta) {
            meta_cursor = gitwriter::parse_u64(*meta);
            if (!meta_cursor)
                return Status::corruption(fmt::format("{} is not a sequence number: '{}'",
                                                      gitwriter::k_cursor_key, *meta));
        } else if (meta.status().code() != Status::Code::not_found) {
            return meta.status();
        }
        auto trailer = repo_.last_seq_trailer();
        if (!trailer) return trailer.status();
        auto cursor = gitwriter::resume_cursor(meta_cursor, *trailer, log_.last_seq());
        if (!cursor) return cursor.status();

        remove_stale_locks();

        cursor_ = *cursor;
        published_ = *cursor;
        persisted_ = meta_cursor.value_or(0);
        applied_.store(cursor_);
        // The coarse clock is the one the kernel stamps file times with: a spool file
        // written after this point has an mtime >= started_at_, even within one tick.
        ::clock_gettime(CLOCK_REALTIME_COARSE, &started_at_);
        {
            std::lock_guard lock(mutex_);
            stopping_ = false;
        }
        log_line(LogLevel::info, "gitwriter.starting",
                 {{"cursor", std::to_string(cursor_)},
                  {"meta_cursor", meta_cursor ? std::to_string(*meta_cursor) : "none"},
                  {"head_seq", *trailer ? std::to_string(**trailer) : "none"},
                  {"repo", options_.repo_path}});
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
    std::uint64_t redaction_lines_skipped() const override {
        return redaction_lines_skipped_.load();
    }

private:
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

    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    // Sleeps for d unless stop() comes first.
    void sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, d, [this] { return stopping_; });
    }

    // Retries `step` with backoff until it succeeds or stop() is called. Never gives up:
    // giving up on an event would mean skipping it, and a skipped completion is a lost
    // backup. `what` names the log line.
    template <typename Step>
    bool retry(std::string_view what, Step step) {
        auto delay = options_.retry_first;
        for (;;) {
            if (stopping()) return false;
            Status s = step();
            if (s) return true;
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
        std::string leftover = options_.spool_dir + "/" + std::string(k_redacting);
        ::unlink(leftover.c_str());
        if (!retry("gitwriter.recover_failed", [this] { return recover(); })) return;
        log_line(LogLevel::info, "gitwriter.started", {{"cursor", std::to_string(cursor_)}});
        // Before this process started, no upload was in flight: whatever no pending event
        // names is an orphan (or kept past its retention).
        sweep_spool(options_.spool_retention.count() == 0 ? started_at_ : retention_cutoff());
        auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_every;

        while (!stopping()) {
            if (options_.spool_retention.count() > 0 && std::chrono::steady_clock::now() >= next_sweep) {
                sweep_spool(retention_cutoff());
                next_sweep = std::chrono::steady_clock::now() + options_.sweep_every;
            }
            std::uint64_t last = log_.wait_for(cursor_, options_.poll);
            if (last <= cursor_) continue;
            // One batch per round: the events, then one publish and one durable cursor
            // write for all.
            std::uint64_t to = std::min(last, cursor_ + std::max<std::uint32_t>(options_.batch, 1));
            bool applied = retry("gitwriter.apply_failed", [&] {
                if (needs_recover_)
                    if (Status r = recover(); !r) return r;
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
        repo_.discard();
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
            auto found = repo_.commits_after(persisted_);
            if (!found) return found.status();
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
        if (auto* inventory = std::get_if<InventoryApplied>(&r.event)) {
            recover_error_ = rules_.apply(r.seq, *inventory);
            if (!recover_error_.is_ok()) return false;
            last_inventory_ = r.seq;
            return true;
        }
        auto* c = std::get_if<CompletionRecorded>(&r.event);
        if (!c || !after_persisted) return true;
        if (!c->failure) recover_record(r.seq, *c, commits);
        if (!c->spool.empty()) spool_to_remove_.emplace_back(r.seq, c->spool);
        return true;
    }

    // The record of a completion applied before the crash: its commit is the one with its
    // seq in the trailer, the blob the one at its path there. Without a commit (the content
    // was unchanged) the blob is written again from the spool file: a no-op for git.
    void recover_record(std::uint64_t seq, const CompletionRecorded& c,
                        const std::unordered_map<std::uint64_t, std::string>& commits) {
        std::string path = path_of(c);
        auto commit = commits.find(seq);
        auto blob = commit != commits.end() ? repo_.blob_at(commit->second, path) : write_blob(seq, c);
        if (!blob) {
            // The record is for verify only: git itself is already right.
            log_line(LogLevel::warn, "gitwriter.record_lost",
                     {{"seq", std::to_string(seq)}, {"error", blob.status().to_string()}});
            return;
        }
        records_.emplace_back(seq, gitwriter::AppliedRecord{gitwriter::hex_of(*blob),
                                                            commit == commits.end() ? "" : commit->second, path});
    }

    std::string path_of(const CompletionRecorded& c) const {
        return gitwriter::tree_path(options_.layout, rules_.group_of(c.device), c.device, c.job);
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
            failed = apply(r);
            if (!failed) return false;
            cursor_ = r.seq;
            return repo_.pending_commits() < k_publish_commits && repo_.pending_bytes() < k_publish_bytes;
        });
        if (!failed) return failed;
        return s;
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

    // The completion's content as a blob: redacted with its job's rules, checked against
    // the size and SHA-256 recorded for it.
    Result<git_oid> write_blob(std::uint64_t seq, const CompletionRecorded& c) {
        std::string spool_path = options_.spool_dir + "/" + c.spool;
        Sha256 hash;
        auto hashing = [&](std::string_view chunk) { hash.update(chunk); };
        Result<git_oid> blob = Status::unavailable("not written");
        const gitwriter::Redactor* rules = rules_.find(c.job);
        if (rules == nullptr) {
            blob = stream_file(repo_, spool_path, c.size, hashing);
        } else {
            std::string staged = options_.spool_dir + "/" + std::string(k_redacting);
            auto redacted = gitwriter::redact_file(*rules, spool_path, c.size, staged, hashing);
            if (redacted) {
                blob = stream_file(repo_, staged, redacted->bytes_out, [](std::string_view) {});
                if (redacted->lines_skipped > 0) note_unredacted(seq, c, redacted->lines_skipped);
            } else {
                blob = redacted.status();
            }
            ::unlink(staged.c_str());
        }
        if (!blob) {
            std::string message = fmt::format("seq {}: {}", seq, blob.status().message());
            if (blob.status().code() == Status::Code::not_found)
                return Status::not_found(std::move(message));
            return Status::io_error(std::move(message));
        }
        auto digest = hash.finish();
        if (std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()) != c.sha256) {
            return Status::corruption(
                fmt::format("seq {}: {} does not match the SHA-256 recorded for it", seq, spool_path));
        }
        return blob;
    }

    Status apply_completion(std::uint64_t seq, const CompletionRecorded& c) {
        auto blob = write_blob(seq, c);
        if (!blob) {
            if (blob.status().code() == Status::Code::not_found) {
                // Never skipped: the event is the only record of that backup, and git must
                // not silently miss it. docs/git.md says what the operator can do.
                log_line(LogLevel::error, "gitwriter.spool_missing",
                         {{"seq", std::to_string(seq)},
                          {"device", c.device},
                          {"job", c.job},
                          {"spool", options_.spool_dir + "/" + c.spool}});
            }
            return blob.status();
        }
        std::string path = path_of(c);
        auto commit = repo_.commit_file(path, *blob, c.end_timestamp, gitwriter::format_commit_message(seq, c),
                                        options_.commit_unchanged);
        if (!commit) return Status::io_error(fmt::format("seq {}: {}", seq, commit.status().message()));
        if (*commit) {
            ++commits_since_gc_;
            log_line(LogLevel::info, "gitwriter.committed",
                     {{"seq", std::to_string(seq)}, {"path", path}, {"commit", **commit}});
        } else {
            log_line(LogLevel::debug, "gitwriter.unchanged", {{"seq", std::to_string(seq)}, {"path", path}});
        }
        records_.emplace_back(seq, gitwriter::AppliedRecord{gitwriter::hex_of(*blob), commit->value_or(""), path});
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

    // Publishes the batch (its commits reach main), then makes the cursor durable with the
    // records of the completions it covers, then drops their spool files. The order
    // matters: the cursor never passes a commit that is not on main, and a file is gone
    // only once no restart can apply its event again.
    Status flush() {
        if (Status s = repo_.publish(); !s) {
            // main has not moved: the events after it are applied again, with the rules in
            // force at that point (recover() rebuilds them).
            cursor_ = published_;
            std::erase_if(records_, [&](const auto& r) { return r.first > cursor_; });
            std::erase_if(spool_to_remove_, [&](const auto& f) { return f.first > cursor_; });
            needs_recover_ = true;
            return s;
        }
        published_ = cursor_;
        applied_.store(cursor_);

        std::vector<std::pair<std::string, std::string>> meta;
        for (const auto& [seq, record] : records_)
            meta.emplace_back(gitwriter::applied_key(seq), gitwriter::format_applied_record(record));
        // The inventory seq before (or with) the cursor that passes it: recover() relies on it.
        if (last_inventory_ > persisted_inventory_)
            meta.emplace_back(std::string(gitwriter::k_inventory_key), std::to_string(last_inventory_));
        if (cursor_ > persisted_) meta.emplace_back(std::string(gitwriter::k_cursor_key), std::to_string(cursor_));
        if (!meta.empty())
            if (Status s = log_.put_meta_batch(meta); !s) return s;
        if (options_.on_applied && !records_.empty()) {
            std::vector<GitAppliedRecord> applied;
            applied.reserve(records_.size());
            for (auto& [seq, record] : records_)
                applied.push_back({seq, std::move(record.blob), std::move(record.commit), std::move(record.path)});
            options_.on_applied(std::move(applied));
        }
        records_.clear();
        persisted_inventory_ = last_inventory_;
        persisted_ = cursor_;

        if (options_.spool_retention.count() == 0) {
            for (const auto& [seq, name] : spool_to_remove_) {
                std::string path = options_.spool_dir + "/" + name;
                // Already gone is fine: this may be a second attempt after a crash.
                if (::unlink(path.c_str()) != 0 && errno != ENOENT)
                    log_line(LogLevel::warn, "gitwriter.spool_remove_failed",
                             {{"spool", path}, {"error", std::strerror(errno)}});
            }
        }
        spool_to_remove_.clear();  // with a retention, sweep_spool() removes them in time
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
        std::unordered_set<std::string> old;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(options_.spool_dir, ec)) {
            std::string name = entry.path().filename().string();
            if (name.empty() || name.front() == '.') continue;
            struct stat st {};
            if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (st.st_mtim.tv_sec < older_than.tv_sec ||
                (st.st_mtim.tv_sec == older_than.tv_sec && st.st_mtim.tv_nsec < older_than.tv_nsec))
                old.insert(std::move(name));
        }
        if (ec) {
            log_line(LogLevel::warn, "gitwriter.sweep_failed", {{"error", ec.message()}});
            return;
        }
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
        for (const auto& name : old) {
            std::string path = options_.spool_dir + "/" + name;
            if (::unlink(path.c_str()) == 0) ++removed;
        }
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
        if (Status r = repo_.refresh(); s && !r) s = r;
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        if (!s)
            log_line(LogLevel::warn, "gitwriter.gc_failed", {{"error", s.to_string()}});
        else
            log_line(LogLevel::info, "gitwriter.gc", {{"ms", std::to_string(ms.count())}});
    }

    Status run_gc() {
        // gc.autoDetach=false: a detached gc would keep running while the writer goes on.
        std::vector<std::string> args{options_.git_program,
                                      "-c",
                                      "gc.autoDetach=false",
                                      "--git-dir",
                                      options_.repo_path,
                                      "gc",
                                      "--auto",
                                      "--quiet"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        // The server's sockets and RocksDB files are not git's business.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3);
        pid_t pid = 0;
        int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0)
            return Status::io_error(
                fmt::format("spawning {}: {}", options_.git_program, std::strerror(rc)));
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR)
                return Status::io_error(
                    fmt::format("waiting for git gc: {}", std::strerror(errno)));
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
        return Status::io_error(WIFEXITED(status)
                                    ? fmt::format("git gc exited with {}", WEXITSTATUS(status))
                                    : fmt::format("git gc killed by signal {}", WTERMSIG(status)));
    }

    EventLog& log_;
    const GitWriterOptions options_;
    std::unique_ptr<gitwriter::Libgit2> libgit2_;  // before repo_: outlives it
    Repo repo_;

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
};

}  // namespace

Result<std::unique_ptr<GitWriter>> open_git_writer(EventLog& log, GitWriterOptions options) {
    auto libgit2 = std::make_unique<gitwriter::Libgit2>();
    if (!libgit2->status()) return libgit2->status();
    auto repo = Repo::open_or_create(options.repo_path);
    if (!repo) return repo.status();
    return std::unique_ptr<GitWriter>(std::make_unique<GitWriterImpl>(
        log, std::move(options), std::move(libgit2), std::move(*repo)));
}

}  // namespace netkeep
