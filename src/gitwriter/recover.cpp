// The git writer at start-up, and after a batch failed to publish: opening the
// repository and resuming from max(meta cursor, newest position on main), the quarantine
// records, the crash marker, and rebuilding what a crash between a publish and its
// cursor write lost (the rules in force, the records and spool files of those events).

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::gitwriter {

namespace {

// The crash marker: names the event being applied, written (pwrite, no fsync) before it
// and cleared after. A crash of the process, the only thing it must survive, leaves it in
// the page cache; a power cut may lose it, which only loses one crash's attribution.
// Fixed width, so every write replaces the whole content.
std::string marker_text(std::uint64_t seq, std::uint32_t crashes) {
    return fmt::format("{:020} {:010}\n", seq, crashes);
}

}  // namespace

// Opens (or creates) the repository and resumes from max(meta cursor, newest
// position on main). Called by start(), and by the thread until it succeeds.
Status GitWriterImpl::open_repository() {
    auto repo = Repo::open_or_create(options_.repo_path);
    if (!repo) return repo_fault(repo.status());
    auto position = repo->last_position();
    if (!position) return repo_fault(position.status());
    auto cursor = resume_cursor(meta_cursor_, *position, log_.last_seq());
    if (!cursor) return cursor.status();
    repo_ = std::move(*repo);
    repo_->set_test_step(options_.test_publish_step);
    remove_stale_locks();
    progress_.cursor = *cursor;
    progress_.published = *cursor;
    progress_.persisted = meta_cursor_.value_or(0);
    applied_.store(progress_.cursor);
    progress_.needs_recover = true;
    log_line(LogLevel::info, "gitwriter.starting",
             {{"cursor", std::to_string(progress_.cursor)},
              {"meta_cursor", meta_cursor_ ? std::to_string(*meta_cursor_) : "none"},
              {"head_seq", *position ? std::to_string(**position) : "none"},
              {"repo", options_.repo_path}});
    return Status::ok();
}

// A kill -9 in the middle of a commit (or of git gc) leaves git's lock files, and
// libgit2 would refuse every later commit. Nothing else writes to repo.git while
// netkeepd runs, and the event log's lock (held by now) shuts out a second netkeepd,
// so a lock found at start is stale. (Hence docs/git.md: no git writes into repo.git
// by hand while netkeepd runs.)
void GitWriterImpl::remove_stale_locks() {
    for (const char* name : {"refs/heads/main.lock", "packed-refs.lock", "HEAD.lock"}) {
        std::string path = options_.repo_path + "/" + name;
        if (::unlink(path.c_str()) == 0)
            log_line(LogLevel::warn, "gitwriter.stale_lock_removed", {{"path", path}});
    }
    // A pack or index the writer was writing when it crashed (PackWriter::write:
    // pack-<sum>.pack.tmp-<pid>); never read by git, only taking space. A .pack whose .idx
    // was never written is ignored by git and libgit2 alike, and written again, whole,
    // when its batch is.
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(options_.repo_path + "/objects/pack", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("pack-") && name.find(".tmp-") != std::string::npos &&
            std::filesystem::remove(entry.path(), ec))
            log_line(LogLevel::warn, "gitwriter.stale_pack_removed",
                     {{"path", entry.path().string()}});
    }
}

// The quarantine records, and the event each names (its kind and spool file).
Status GitWriterImpl::load_quarantine() {
    quarantine_.clear();
    std::vector<std::pair<std::uint64_t, QuarantineRecord>> found;
    Status s =
        log_.scan_meta(k_quarantine_prefix, [&](std::string_view key, std::string_view value) {
            auto seq = parse_u64(key.substr(k_quarantine_prefix.size()));
            auto record = parse_quarantine_record(value);
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
void GitWriterImpl::open_state_dir() {
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
        auto seq = parse_u64(text.substr(0, 20));
        auto crashes = parse_u64(text.substr(21, 10));
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
                (q->second.record.state == QuarantineState::retry ||
                 q->second.record.state == QuarantineState::retrying) &&
                !q->second.inventory) {
                q->second.record.state = QuarantineState::quarantined;
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

void GitWriterImpl::write_marker(std::uint64_t seq) {
    if (marker_fd_ < 0) return;
    std::string text = marker_text(seq, crashes_.contains(seq) ? crashes_[seq] : 0);
    if (::pwrite(marker_fd_, text.data(), text.size(), 0) != ssize_t(text.size()))
        log_line(LogLevel::warn, "gitwriter.marker_failed", {{"error", std::strerror(errno)}});
}

void GitWriterImpl::clear_marker() {
    if (marker_fd_ < 0) return;
    std::string text = marker_text(0, 0);
    (void)!::pwrite(marker_fd_, text.data(), text.size(), 0);
}

// Before the first event (and after a batch failed to publish): the inventory rules in
// force at the cursor, and for the events after the persisted cursor, up to the
// cursor, whose cursor write was lost (a crash, or a failed write), their records and
// spool files.
Status GitWriterImpl::recover() {
    progress_.needs_recover = true;  // until this succeeds
    rules_ = {};
    progress_.inventory = 0;
    progress_.spool_to_remove.clear();
    progress_.records.clear();
    repo_->discard();
    if (progress_.cursor == 0) {
        progress_.needs_recover = false;
        return Status::ok();
    }
    std::uint64_t inventory_seq = 0;
    if (auto v = log_.get_meta(std::string(k_inventory_key)); v) {
        inventory_seq = parse_u64(*v).value_or(0);
    } else if (v.status().code() != Status::Code::not_found) {
        return v.status();
    }
    std::unordered_map<std::uint64_t, std::string> commits;  // seq → commit, after persisted
    if (progress_.cursor > progress_.persisted) {
        auto found = repo_->commits_after(progress_.persisted);
        if (!found) return repo_fault(found.status());
        commits.insert(found->begin(), found->end());
    }
    // The meta value is the last InventoryApplied at or before the persisted cursor
    // (flush() writes it with the cursor). Later ones, up to the cursor, are in
    // (persisted, cursor], scanned below. Without a usable value: the whole prefix.
    std::uint64_t from = progress_.persisted + 1;
    if (inventory_seq == 0 || inventory_seq > progress_.persisted) {
        from = 1;
    } else {
        Status s = log_.scan(inventory_seq, inventory_seq, [&](EventRecord&& r) {
            return visit_recovered(std::move(r), false, commits);
        });
        if (!s) return s;
        if (!recover_error_) return std::exchange(recover_error_, Status::ok());
    }
    Status s = scan_checked(from, progress_.cursor, [&](EventRecord&& r) {
        bool applied_after_persisted = r.seq > progress_.persisted;
        return visit_recovered(std::move(r), applied_after_persisted, commits);
    });
    if (!s) return s;
    if (!recover_error_) return std::exchange(recover_error_, Status::ok());
    Status f = flush();
    if (f) progress_.needs_recover = false;
    return f;
}

bool GitWriterImpl::visit_recovered(EventRecord&& r, bool after_persisted,
                                    const std::unordered_map<std::uint64_t, std::string>& commits) {
    auto q = quarantine_.find(r.seq);
    if (auto* inventory = std::get_if<InventoryApplied>(&r.event)) {
        // A held inventory is never passed, so one at or before the cursor was applied
        // after a retry: its rules are in force.
        recover_error_ = rules_.apply(r.seq, *inventory);
        if (!recover_error_.is_ok()) return false;
        progress_.inventory = r.seq;
        return true;
    }
    auto* c = std::get_if<CompletionRecorded>(&r.event);
    if (!c || !after_persisted) return true;
    if (q != quarantine_.end()) return true;  // skipped: no record, its file is kept for a retry
    if (!c->failure) recover_record(r.seq, *c, commits);
    if (!c->spool.empty()) progress_.spool_to_remove.emplace_back(r.seq, c->spool);
    return true;
}

// The record of a completion applied before the crash: its commit is the one with its
// seq in the trailer, the blob the one at its path there. Without a commit (the content
// was unchanged, or changed only in ignored lines) the blob is the one at its path on
// main as the writer saw it then (the newest commit before it): the record names what
// stayed in the tree, as apply_completion's does. Only when main has no such file is the
// blob written again from the spool file (a no-op for git).
void GitWriterImpl::recover_record(std::uint64_t seq, const CompletionRecorded& c,
                                   const std::unordered_map<std::uint64_t, std::string>& commits) {
    std::string path = path_of(rules_, c);
    auto commit = commits.find(seq);
    Result<git_oid> blob = Status::unavailable("not written");
    Result<std::optional<git_oid>> before = std::optional<git_oid>();
    if (commit == commits.end()) before = repo_->blob_before(seq, path);
    if (commit != commits.end()) {
        blob = repo_->blob_at(commit->second, path);
    } else if (!before) {
        blob = before.status();
    } else if (*before) {
        blob = **before;
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
    progress_.records.emplace_back(
        seq, AppliedRecord{hex_of(*blob), commit == commits.end() ? "" : commit->second, path});
}

}  // namespace netkeep::gitwriter
