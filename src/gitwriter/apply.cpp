// The git writer applying one event: an inventory's redaction rules, a completion's
// content (redacted, checked against its recorded size and SHA-256) as a blob, and its
// commit into the batch; around it, the guard that counts an event's own failures and
// crashes towards its quarantine.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/sha256.hpp"
#include "util/posix.hpp"

namespace netkeep::gitwriter {

namespace {

constexpr std::size_t k_chunk = 1 << 16;
// A batch is published once it holds this many commits or bytes in memory, whatever the
// event batch: a 10,000-device root tree is 400 KB a commit.
constexpr std::size_t k_publish_commits = 64;
constexpr std::uint64_t k_publish_bytes = 32 << 20;

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

}  // namespace

Status GitWriterImpl::apply_range(std::uint64_t from, std::uint64_t to) {
    Status failed;
    Status s = scan_checked(from, to, [&](EventRecord&& r) {
        if (stopping()) return false;
        failed = apply_guarded(r);
        if (!failed) return false;
        progress_.cursor = r.seq;
        return repo_->pending_commits() < k_publish_commits &&
               repo_->pending_bytes() < k_publish_bytes;
    });
    if (!failed) return failed;
    return s;
}

// apply(), with the quarantine around it: a quarantined completion is skipped, a held
// inventory stops the writer, and an event that fails (or crashed the writer)
// quarantine_after times for a reason of its own is quarantined.
Status GitWriterImpl::apply_guarded(const EventRecord& r) {
    const bool inventory = std::holds_alternative<InventoryApplied>(r.event);
    const auto* c = std::get_if<CompletionRecorded>(&r.event);
    if (!inventory && !(c && !c->failure)) return apply(r);  // nothing here can fail for itself
    auto q = quarantine_.find(r.seq);
    if (q != quarantine_.end()) {
        if (!inventory) return Status::ok();  // skipped in order: applied late, if retried
        if (q->second.record.state == QuarantineState::held)
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
            q->second.record.state = QuarantineState::applied;
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

Status GitWriterImpl::apply(const EventRecord& r) {
    if (auto* inventory = std::get_if<InventoryApplied>(&r.event)) {
        if (Status s = rules_.apply(r.seq, *inventory); !s) return s;
        progress_.inventory = r.seq;
        return Status::ok();
    }
    auto* c = std::get_if<CompletionRecorded>(&r.event);
    if (!c) return Status::ok();
    if (c->failure) {
        // A failed attempt never touches the tree; it is kept in the log. Its spool
        // file (whatever the worker had collected) goes with the others.
        if (!c->spool.empty()) progress_.spool_to_remove.emplace_back(r.seq, c->spool);
        return Status::ok();
    }
    return apply_completion(r.seq, *c);
}

Status GitWriterImpl::apply_completion(std::uint64_t seq, const CompletionRecorded& c) {
    std::string masked;  // set when the task has "ignore" noise rules
    auto blob = write_blob(seq, c, rules_, options_.commit_unchanged ? nullptr : &masked);
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
    if (!masked.empty()) {
        // A change only in ignored lines: no commit, and the record names the blob that
        // stays in the tree (what verify finds there). Deciding again after a crash gives
        // the same answer: the same content against the same tree.
        auto kept = ignored_change(path, *blob, masked, *rules_.find(c.device, c.job));
        if (!kept) return repo_fault(kept.status());
        if (*kept) {
            log_line(LogLevel::info, "gitwriter.unchanged",
                     {{"seq", std::to_string(seq)}, {"path", path}, {"reason", "ignored"}});
            progress_.records.emplace_back(seq, AppliedRecord{hex_of(**kept), "", path});
            progress_.spool_to_remove.emplace_back(seq, c.spool);
            return Status::ok();
        }
    }
    auto commit = repo_->commit_file(path, *blob, c.end_timestamp, format_commit_message(seq, c),
                                     options_.commit_unchanged);
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
    progress_.records.emplace_back(seq, AppliedRecord{hex_of(*blob), commit->value_or(""), path});
    progress_.spool_to_remove.emplace_back(seq, c.spool);
    return Status::ok();
}

// The blob at `path` when the new `blob` differs from it only in ignored lines (equal
// masked hashes); nullopt when there is none, it is the same blob, or the change is real.
Result<std::optional<git_oid>> GitWriterImpl::ignored_change(const std::string& path,
                                                             const git_oid& blob,
                                                             const std::string& masked,
                                                             const Redactor& rules) {
    auto old = repo_->blob_at_tip(path);
    if (!old) return old.status();
    if (!*old || git_oid_equal(&**old, &blob)) return std::optional<git_oid>();
    MaskedHash hash(rules);
    if (Status s = repo_->read_blob(**old, [&](std::string_view piece) { hash.feed(piece); }); !s)
        return s;
    if (hash.finish() != masked) return std::optional<git_oid>();
    return old;
}

// The completion's content as a blob: redacted with `rules`, checked against the size
// and SHA-256 recorded for it. Repository errors are repo_fault()s; the others (the
// file is missing or differs, redaction fails) are the event's own.
Result<git_oid> GitWriterImpl::write_blob(std::uint64_t seq, const CompletionRecorded& c,
                                          const InventoryRules& rules, std::string* masked) {
    std::string spool_path = spool_.path_of(c.spool);
    Sha256 hash;
    auto hashing = [&](std::string_view chunk) { hash.update(chunk); };
    Result<git_oid> blob = Status::unavailable("not written");
    const Redactor* redactor = rules.find(c.device, c.job);
    if (redactor == nullptr) {
        blob = stream_file(*repo_, spool_path, c.size, hashing);
    } else {
        std::string staged = spool_.path_of(k_redacting);
        std::optional<MaskedHash> masking;
        if (masked && redactor->has_ignore()) masking.emplace(*redactor);
        auto masking_output = [&](std::string_view piece) {
            if (masking) masking->feed(piece);
        };
        auto redacted = redact_file(*redactor, spool_path, c.size, staged, hashing, masking_output);
        if (redacted && masking) *masked = masking->finish();
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
    if (std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()) != c.sha256) {
        return Status::corruption(
            fmt::format("seq {}: {} does not match the SHA-256 recorded for it", seq, spool_path));
    }
    return blob;
}

// Lines too long for the redaction rules went to git as they were: the operator must
// hear of it (docs/jobs.md#redact).
void GitWriterImpl::note_unredacted(std::uint64_t seq, const CompletionRecorded& c,
                                    std::uint64_t lines) {
    redaction_lines_skipped_.fetch_add(lines);
    log_line(LogLevel::warn, "gitwriter.redaction_skipped",
             {{"seq", std::to_string(seq)},
              {"device", c.device},
              {"job", c.job},
              {"lines", std::to_string(lines)},
              {"max_line", std::to_string(Redactor::k_max_line)}});
}

std::string GitWriterImpl::path_of(const InventoryRules& rules, const CompletionRecorded& c) const {
    return tree_path(options_.layout, rules.group_of(c.device), c.device, c.job);
}

}  // namespace netkeep::gitwriter
