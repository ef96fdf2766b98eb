// `netkeepctl verify`: the repository against the log and the git writer's records
// (docs/git.md "Records of what was applied", "Exactly once"; docs/operations.md).
//
// What is checked:
// - the log decodes and replays with the server's projection;
// - the cursor (meta gitwriter.cursor) is not ahead of the log, nor behind the newest
//   Netkeep-Seq trailer on main (which happens for a moment between a batch's publication
//   and its cursor write, and after a crash there until netkeepd restarts);
// - every record (meta gitwriter.applied.<seq>) belongs to a successful completion, and
//   its blob is at its path in its commit (on main), or, for "-" (content unchanged), in
//   the tree of main at that point (the newest commit with a smaller Netkeep-Seq);
// - every successful completion at or before the cursor has a record;
// - every commit on main has a Netkeep-Seq trailer naming a successful completion whose
//   record names that commit (a commit without one was made by hand);
// - each path's newest record is what main's tip holds there;
// - for completions whose task had no content rules (redact or noise: its job's own, else
//   its platform's), the blob's size and SHA-256 are the event's (what the worker sent).
//   Blobs over k_hash_limit are checked by size only. A task with "ignore" noise rules
//   may keep an older blob (a change only in ignored lines): its record names that blob,
//   which must be in the tree of main before the event like any "-" record's.
// - quarantined events (meta gitwriter.quarantine.<seq>, docs/git.md#quarantine) are
//   reported as such, not as completions missing from git; one retried late has its
//   record and its commit (with a Netkeep-Retried-After trailer) like any other.

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "ctl/event_text.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/git_verify.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/json.hpp"
#include "netkeep/projection.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep::ctl {

namespace {

// Blobs larger than this are read into memory to hash them only up to here.
constexpr std::uint64_t k_hash_limit = std::uint64_t(64) << 20;
// The log is checked this many seqs at a time: its completions and the git writer's
// records for them are in memory for one chunk only (a year of 10,000 devices has 177M
// completions: held at once, they took more memory than the machine had).
constexpr std::uint64_t k_chunk_seqs = 1'000'000;
// Tests set NETKEEPCTL_VERIFY_CHUNK to a few seqs, to check small logs across chunks.
std::uint64_t chunk_seqs() {
    const char* v = std::getenv("NETKEEPCTL_VERIFY_CHUNK");
    std::uint64_t n = 0;
    if (v && std::from_chars(v, v + std::strlen(v), n).ec == std::errc() && n > 0) return n;
    return k_chunk_seqs;
}
// Discrepancies listed; the rest are counted.
constexpr std::size_t k_max_listed = 10'000;

struct Completion {
    std::string device;
    std::string job;
    bool ok = false;
    std::uint64_t size = 0;
    std::string sha256;
    bool redacted = false;  // the task had content rules (redact, noise) at this point of the log
};

struct Discrepancy {
    std::string message;
    std::optional<std::uint64_t> seq;
    std::string commit;
    std::string path;
};

struct Report {
    std::uint64_t last_seq = 0;
    std::uint64_t cursor = 0;
    std::optional<std::uint64_t> newest_trailer;
    std::size_t records = 0;
    std::size_t commits = 0;
    std::size_t hashed = 0;
    std::size_t hash_skipped = 0;    // larger than k_hash_limit: size checked only
    std::size_t pending = 0;         // successful completions after max(cursor, trailer)
    std::size_t quarantined = 0;     // quarantined, not applied (yet): listed by `quarantine list`
    std::size_t superseded = 0;      // retried, but a newer completion of the task was applied
    std::uint64_t first_seq = 1;     // retention: the records below are in the archive
    std::size_t segments = 0;        // archive segments (docs/retention.md)
    std::vector<Discrepancy> found;  // the first k_max_listed
    std::size_t discrepancies = 0;   // all of them

    void add(std::string message, std::optional<std::uint64_t> seq = {}, std::string commit = {},
             std::string path = {}) {
        if (++discrepancies <= k_max_listed)
            found.push_back({std::move(message), seq, std::move(commit), std::move(path)});
    }
};

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::string report_json(const Report& r) {
    std::string out = fmt::format(
        R"({{"ok":{},"log_last_seq":{},"cursor":{},"newest_trailer":{},"records":{},"commits":{},"hashes_checked":{},"hashes_skipped":{},"pending":{},"quarantined":{},"superseded":{},"log_first_seq":{},"archive_segments":{},"discrepancy_count":{},"discrepancies":[)",
        r.discrepancies == 0 ? "true" : "false", r.last_seq, r.cursor,
        r.newest_trailer ? std::to_string(*r.newest_trailer) : "null", r.records, r.commits,
        r.hashed, r.hash_skipped, r.pending, r.quarantined, r.superseded, r.first_seq, r.segments,
        r.discrepancies);
    for (std::size_t i = 0; i < r.found.size(); ++i) {
        const auto& d = r.found[i];
        out += fmt::format(R"({}{{"message":{},"seq":{},"commit":{},"path":{}}})", i ? "," : "",
                           json_quote(d.message), d.seq ? std::to_string(*d.seq) : "null",
                           d.commit.empty() ? "null" : json_quote(d.commit),
                           d.path.empty() ? "null" : json_quote(d.path));
    }
    return out + "]}";
}

// What the checks compare that is read once: the quarantine records, main's history and,
// as the log is checked, each path's newest record. The log's completions and the git
// writer's records are read a chunk at a time (LogCheck).
struct Evidence {
    std::map<std::uint64_t, gitwriter::QuarantineRecord> quarantine;
    bool any_record = false;                                // a gitwriter.applied.* key exists
    std::unique_ptr<GitRepoReader> repo;                    // null: no repository to check
    std::vector<GitCommitInfo> history;                     // main, newest first
    std::unordered_map<std::string, std::size_t> position;  // commit id -> index in history
    // Netkeep-Seq -> the commits carrying it (index in history); the log's scan removes
    // those it meets as a completion.
    std::unordered_multimap<std::uint64_t, std::size_t> by_trailer;
    // (position, index in history), ascending: main as the writer saw it before a seq.
    // Empty when positions decrease somewhere along main (commits rewritten by hand):
    // then main is walked, newest first.
    std::vector<std::pair<std::uint64_t, std::size_t>> by_position;
    std::map<std::string, std::pair<std::uint64_t, std::string>> newest_by_path;  // seq, blob
};

// Whether git holds the content as the worker sent it, per task, as the git writer
// decides it (gitwriter::InventoryRules): a task whose content rules (content_rules(): the
// job's own, else its device's platform's) are not empty has its content rewritten
// (redact, noise drop) or may keep an older blob (noise ignore). A task or job that
// leaves the inventory keeps its last rules, as in the writer.
class TaskRules {
public:
    void apply(const InventoryApplied& inv) {
        InventoryLoadOptions structural;
        structural.resolve_secrets = false;
        auto parsed = parse_inventory({inv.devices_json, inv.jobs_json}, structural);
        if (!parsed) return;
        for (const auto& job : parsed->jobs)
            jobs_[job.name] =
                (job.redact && !job.redact->empty()) || (job.noise && !job.noise->empty());
        for (const auto& task : parsed->tasks) {
            ContentRules rules = content_rules(*parsed, task);
            tasks_[task_key(parsed->devices[task.device].name, parsed->jobs[task.job].name)] =
                !rules.redact.empty() || !rules.noise.empty();
        }
    }
    bool transformed(const std::string& device, const std::string& job) const {
        if (auto it = tasks_.find(task_key(device, job)); it != tasks_.end()) return it->second;
        auto it = jobs_.find(job);
        return it != jobs_.end() && it->second;
    }

private:
    std::unordered_map<std::string, bool> tasks_;
    std::unordered_map<std::string, bool> jobs_;
};

// The cursor against the log and main.
void check_cursor(Report& r) {
    if (r.cursor > r.last_seq)
        r.add(fmt::format(
            "the git writer's cursor {} is ahead of the log's last seq {}: the log and the "
            "repository belong to different histories",
            r.cursor, r.last_seq));
    if (r.newest_trailer && *r.newest_trailer > r.last_seq)
        r.add(fmt::format("main's newest Netkeep-Seq {} is ahead of the log's last seq {}",
                          *r.newest_trailer, r.last_seq),
              r.newest_trailer);
    if (r.newest_trailer && r.cursor < *r.newest_trailer)
        r.add(fmt::format("the git writer's cursor {} is behind main's newest Netkeep-Seq {} (a "
                          "crash between a "
                          "commit and its cursor write: netkeepd catches up at start)",
                          r.cursor, *r.newest_trailer),
              r.newest_trailer);
}

// A commit on main without a Netkeep-Seq trailer: made by hand. Names what it changes.
void report_hand_made(const GitRepoReader& repo, const GitCommitInfo& c, Report& r) {
    std::string paths;
    if (auto changed = repo.changed_paths(c.id)) {
        for (const auto& p : *changed) paths += (paths.empty() ? "" : ", ") + p;
    }
    r.add(
        fmt::format("commit {} \"{}\" on main has no Netkeep-Seq trailer: not made by netkeep (by "
                    "hand?); it changes {}",
                    c.id, c.subject, paths.empty() ? "nothing" : paths),
        std::nullopt, c.id, paths);
}

// The writer's cursor and its quarantine records; whether it has written any record. An
// error is one reading the log (verify fails); a bad value is a discrepancy.
Status read_writer_records(const EventLog& log, Report& r, Evidence& e) {
    if (auto cursor = log.get_meta(std::string(gitwriter::k_cursor_key))) {
        if (auto v = gitwriter::parse_u64(*cursor))
            r.cursor = *v;
        else
            r.add(fmt::format("meta {} is not a number: '{}'", gitwriter::k_cursor_key, *cursor));
    } else if (cursor.status().code() != Status::Code::not_found) {
        return cursor.status();
    }
    Status scanned =
        log.scan_meta(gitwriter::k_applied_prefix, [&](std::string_view, std::string_view) {
            e.any_record = true;
            return false;
        });
    if (!scanned) return scanned;
    return log.scan_meta(
        gitwriter::k_quarantine_prefix, [&](std::string_view key, std::string_view value) {
            auto seq = gitwriter::parse_u64(key.substr(gitwriter::k_quarantine_prefix.size()));
            auto record = gitwriter::parse_quarantine_record(value);
            if (!seq || !record)
                r.add(fmt::format("meta {}: not a quarantine record of the git writer: '{}'", key,
                                  value));
            else
                e.quarantine[*seq] = std::move(*record);
            return true;
        });
}

// The repository and main's history, indexed by trailer and by position. No repository
// is a discrepancy only when the writer says it has written one. A commit without a
// trailer is reported here, as is a trailer on more than one commit.
Status read_repository(const Options& o, Report& r, Evidence& e) {
    if (auto opened = open_git_repo_reader(repo_dir(o))) {
        e.repo = std::move(*opened);
        auto h = e.repo->main_history();
        if (!h) return h.status();
        e.history = std::move(*h);
    } else if (opened.status().code() != Status::Code::not_found || e.any_record || r.cursor > 0) {
        r.add(fmt::format("cannot open the repository: {}", opened.status().to_string()));
    }
    r.commits = e.history.size();
    for (std::size_t i = 0; i < e.history.size(); ++i) {
        const GitCommitInfo& c = e.history[i];
        e.position[c.id] = i;
        if (c.position && !r.newest_trailer) r.newest_trailer = c.position;
        if (!c.seq) {
            report_hand_made(*e.repo, c, r);
            continue;
        }
        if (e.by_trailer.contains(*c.seq))
            r.add(fmt::format("commit {}: Netkeep-Seq {} is on more than one commit", c.id, *c.seq),
                  *c.seq, c.id);
        e.by_trailer.emplace(*c.seq, i);
    }
    // Positions never decrease along main (newest first, they do not increase) unless
    // commits were rewritten by hand: then record_tree walks main instead.
    for (std::size_t i = e.history.size(); i-- > 0;) {
        if (!e.history[i].position) continue;
        if (!e.by_position.empty() && *e.history[i].position < e.by_position.back().first) {
            e.by_position.clear();
            break;
        }
        e.by_position.emplace_back(*e.history[i].position, i);
    }
    return Status::ok();
}

// The commit whose tree a record is about: its own commit, which must be on main, or for
// "-" (content unchanged) main as the writer saw it, the newest commit before the event
// (by position: a late commit counts where it was made). nullopt: reported.
std::optional<std::string> record_tree(const Evidence& e, std::uint64_t seq,
                                       const gitwriter::AppliedRecord& rec, Report& r) {
    if (!rec.commit.empty()) {
        if (e.position.contains(rec.commit)) return rec.commit;
        auto has = e.repo->has_commit(rec.commit);
        r.add(fmt::format("record of seq {} ({}): commit {} {}", seq, rec.path, rec.commit,
                          has && *has ? "is not on main" : "is missing from the repository"),
              seq, rec.commit, rec.path);
        return std::nullopt;
    }
    if (e.by_position.empty()) {
        for (const auto& c : e.history)
            if (c.position && *c.position < seq) return c.id;
    } else {
        // The last with a position below seq; of equal positions the newest (the last here).
        auto after = std::lower_bound(e.by_position.begin(), e.by_position.end(), seq,
                                      [](const auto& p, std::uint64_t s) { return p.first < s; });
        if (after != e.by_position.begin()) return e.history[std::prev(after)->second].id;
    }
    r.add(fmt::format("record of seq {} ({}): content recorded as unchanged, but main "
                      "has no commit "
                      "before seq {}",
                      seq, rec.path, seq),
          seq, "", rec.path);
    return std::nullopt;
}

// The record's blob is at its path in git, and (unless the job redacts) is what the
// worker sent: its size, and its SHA-256 up to k_hash_limit.
void check_record_content(const Evidence& e, std::uint64_t seq, const gitwriter::AppliedRecord& rec,
                          const Completion& completion, Report& r) {
    auto where = record_tree(e, seq, rec, r);
    if (!where) return;
    auto blob = e.repo->blob_at(*where, rec.path);
    if (!blob) {
        r.add(fmt::format("record of seq {}: {}", seq, blob.status().to_string()), seq, *where,
              rec.path);
        return;
    }
    if (!*blob || **blob != rec.blob) {
        r.add(fmt::format("record of seq {}: {} in commit {} is {}, the record says blob {}", seq,
                          rec.path, short_id(*where),
                          *blob ? "blob " + **blob : std::string("missing"), rec.blob),
              seq, *where, rec.path);
        return;
    }
    if (completion.redacted) return;  // git holds the filtered content, the event the sent one
    auto size = e.repo->blob_size(rec.blob);
    if (!size) {
        r.add(fmt::format("record of seq {}: {}", seq, size.status().to_string()), seq, *where,
              rec.path);
        return;
    }
    if (*size != completion.size) {
        r.add(fmt::format("seq {}: {} in git has {} bytes, the worker sent {}", seq, rec.path,
                          *size, completion.size),
              seq, *where, rec.path);
        return;
    }
    if (*size > k_hash_limit) {
        ++r.hash_skipped;
        return;
    }
    auto sha = e.repo->blob_sha256(rec.blob);
    if (!sha) {
        r.add(fmt::format("record of seq {}: {}", seq, sha.status().to_string()), seq, *where,
              rec.path);
        return;
    }
    ++r.hashed;
    if (*sha != completion.sha256)
        r.add(fmt::format("seq {}: the SHA-256 of {} in git is {}, the event recorded {}", seq,
                          rec.path, to_hex(*sha), to_hex(completion.sha256)),
              seq, *where, rec.path);
}

// The log: replay it (as netkeepd does at start) and check it against the git writer's
// records and main, a chunk of seqs at a time. After retention the archive segments first
// (each one's checksums are checked as it is read), then the log: the whole history,
// gapless.
class LogCheck {
public:
    LogCheck(const EventLog& log, std::string archive_dir, Report& r, Evidence& e)
        : log_(log), archive_dir_(std::move(archive_dir)), r_(r), e_(e) {}

    Status run() {
        projection_.defer_indexing();
        r_.first_seq = log_.first_seq();
        r_.segments = list_archive_segments(archive_dir_).size();
        if (r_.first_seq > 1 && r_.segments == 0)
            r_.add(fmt::format(
                "the log starts at seq {} and {} holds no archive segment: the history before "
                "it was deleted (--archive none) and cannot be replayed",
                r_.first_seq, archive_dir_));
        for (std::uint64_t from = 1;; from += chunk_) {
            // The last chunk reaches the log's end, and takes every record after it.
            const bool last = r_.last_seq - std::min(r_.last_seq, from) < chunk_;
            const std::uint64_t to = last ? r_.last_seq : from + chunk_ - 1;
            Chunk chunk;
            if (replaying_ && from <= to) replay(from, to, chunk);
            if (Status s = read_records(from, last, chunk); !s) return s;
            check_commits(chunk);
            check_records(chunk);
            check_completions(chunk);
            if (last) break;
        }
        projection_.resume_indexing();
        report_unmatched_trailers();
        return Status::ok();
    }

private:
    // One chunk's completions and records, each ascending by seq.
    struct Chunk {
        std::vector<std::pair<std::uint64_t, Completion>> completions;
        std::vector<std::pair<std::uint64_t, gitwriter::AppliedRecord>> records;
    };

    template <typename T>
    static const T* find(const std::vector<std::pair<std::uint64_t, T>>& v, std::uint64_t seq) {
        auto it = std::lower_bound(v.begin(), v.end(), seq, [](const auto& item, std::uint64_t s) {
            return item.first < s;
        });
        return it != v.end() && it->first == seq ? &it->second : nullptr;
    }

    void replay(std::uint64_t from, std::uint64_t to, Chunk& chunk) {
        Status replayed = scan_with_archive(log_, archive_dir_, from, to, [&](EventRecord&& rec) {
            if (const auto* inv = std::get_if<InventoryApplied>(&rec.event)) {
                rules_.apply(*inv);
            } else if (const auto* c = std::get_if<CompletionRecorded>(&rec.event)) {
                chunk.completions.emplace_back(
                    rec.seq, Completion{c->device, c->job, !c->failure, c->size, c->sha256,
                                        rules_.transformed(c->device, c->job)});
            }
            if (Status s = projection_.apply(rec); !s) {
                r_.add(fmt::format("seq {}: the projection refuses it: {}", rec.seq, s.to_string()),
                       rec.seq);
                replaying_ = false;
                return false;
            }
            return true;
        });
        if (!replayed) {
            r_.add(fmt::format("the log does not replay: {}", replayed.to_string()));
            replaying_ = false;
        }
    }

    // The git writer's records of the chunk's seqs (keys sort by seq: 20 digits).
    Status read_records(std::uint64_t from, bool last, Chunk& chunk) {
        const std::string start = from == 1 ? std::string() : gitwriter::applied_key(from);
        const std::string end = last ? std::string() : gitwriter::applied_key(from + chunk_);
        Status scanned = log_.scan_meta_range(
            gitwriter::k_applied_prefix, {.start = start, .reverse = false},
            [&](std::string_view key, std::string_view value) {
                if (!end.empty() && key >= end) return false;
                auto seq = gitwriter::parse_u64(key.substr(gitwriter::k_applied_prefix.size()));
                auto record = gitwriter::parse_applied_record(value);
                if (!seq || key != gitwriter::applied_key(*seq) || !record)
                    r_.add(
                        fmt::format("meta {}: not a record of the git writer: '{}'", key, value));
                else
                    chunk.records.emplace_back(*seq, std::move(*record));
                return true;
            });
        r_.records += chunk.records.size();
        return scanned;
    }

    // The commits whose trailer names one of the chunk's completions: a successful one,
    // whose record names that commit.
    void check_commits(const Chunk& chunk) {
        for (const auto& [seq, completion] : chunk.completions) {
            auto [begin, end] = e_.by_trailer.equal_range(seq);
            for (auto it = begin; it != end; ++it) {
                const GitCommitInfo& c = e_.history[it->second];
                if (!completion.ok)
                    r_.add(fmt::format("commit {} has Netkeep-Seq {}, a failed completion "
                                       "(failures are never committed)",
                                       c.id, seq),
                           seq, c.id);
                const auto* record = find(chunk.records, seq);
                if (!record) {
                    if (seq <= r_.cursor)
                        r_.add(fmt::format(
                                   "commit {} (Netkeep-Seq {}, {}/{}) has no record of the git "
                                   "writer",
                                   c.id, seq, completion.device, completion.job),
                               seq, c.id);
                } else if (record->commit != c.id) {
                    r_.add(
                        fmt::format("commit {} has Netkeep-Seq {}, but the record of seq {} "
                                    "names commit {}",
                                    c.id, seq, seq, record->commit.empty() ? "-" : record->commit),
                        seq, c.id, record->path);
                }
            }
            e_.by_trailer.erase(begin, end);
        }
    }

    // Every record: of a successful completion, not after the cursor, its content in git.
    void check_records(const Chunk& chunk) {
        for (const auto& [seq, rec] : chunk.records) {
            const Completion* completion = find(chunk.completions, seq);
            if (!completion || !completion->ok) {
                r_.add(fmt::format(
                           "record of seq {} ({}): seq {} is not a successful CompletionRecorded",
                           seq, rec.path, seq),
                       seq, rec.commit, rec.path);
                continue;
            }
            if (seq > r_.cursor)
                r_.add(fmt::format("record of seq {} is after the git writer's cursor {}", seq,
                                   r_.cursor),
                       seq, rec.commit, rec.path);
            e_.newest_by_path[rec.path] = {seq, rec.blob};
            if (e_.repo) check_record_content(e_, seq, rec, *completion, r_);
        }
    }

    // Completions the writer has passed must have records; later ones are pending.
    void check_completions(const Chunk& chunk) {
        const std::uint64_t applied = std::max(r_.cursor, r_.newest_trailer.value_or(0));
        for (const auto& [seq, c] : chunk.completions) {
            if (!c.ok) continue;
            if (auto q = e_.quarantine.find(seq);
                q != e_.quarantine.end() &&
                q->second.state != gitwriter::QuarantineState::applied) {
                if (q->second.state == gitwriter::QuarantineState::superseded)
                    ++r_.superseded;
                else
                    ++r_.quarantined;
                if (find(chunk.records, seq))
                    r_.add(fmt::format("seq {} is {} but has a record of the git writer", seq,
                                       gitwriter::state_name(q->second.state)),
                           seq);
                continue;
            }
            if (seq > applied) {
                ++r_.pending;
            } else if (seq <= r_.cursor && !find(chunk.records, seq)) {
                r_.add(fmt::format("seq {} ({}/{}): a successful completion the git writer has "
                                   "passed (cursor {}) has no record",
                                   seq, c.device, c.job, r_.cursor),
                       seq);
            }
        }
    }

    // Trailers the scan did not meet as a completion, in main's order.
    void report_unmatched_trailers() {
        std::vector<std::size_t> left;
        for (const auto& [seq, index] : e_.by_trailer) left.push_back(index);
        std::sort(left.begin(), left.end());
        for (std::size_t index : left) {
            const GitCommitInfo& c = e_.history[index];
            r_.add(fmt::format(
                       "commit {} has Netkeep-Seq {}, which is not a CompletionRecorded in the log",
                       c.id, *c.seq),
                   c.seq, c.id);
        }
    }

    const EventLog& log_;
    const std::string archive_dir_;
    const std::uint64_t chunk_ = chunk_seqs();
    Report& r_;
    Evidence& e_;
    TaskRules rules_;
    Projection projection_;
    bool replaying_ = true;
};

// main's tip holds each path's newest record (a later hand-made commit changes that).
void check_tip(const Evidence& e, Report& r) {
    if (!e.repo || e.history.empty() || (r.newest_trailer && r.cursor < *r.newest_trailer)) return;
    const std::string& tip = e.history.front().id;
    for (const auto& [path, newest] : e.newest_by_path) {
        const auto& [seq, want] = newest;
        auto blob = e.repo->blob_at(tip, path);
        if (blob && (!*blob || **blob != want))
            r.add(fmt::format(
                      "{} on main ({}) is {}, the last backup written there (seq {}) is blob {}",
                      path, short_id(tip), *blob ? "blob " + **blob : std::string("missing"), seq,
                      want),
                  seq, tip, path);
    }
}

void print_report(const Options& o, Io io, const Report& r) {
    if (o.json) {
        fmt::print(io.out, "{}\n", report_json(r));
        return;
    }
    for (const auto& d : r.found) fmt::print(io.out, "discrepancy: {}\n", d.message);
    if (r.discrepancies > r.found.size())
        fmt::print(io.out, "... and {} more discrepancies (the first {} are listed)\n",
                   r.discrepancies - r.found.size(), r.found.size());
    if (r.first_seq > 1)
        fmt::print(io.out, "archive: {} segments before the log's first seq {}, replayed\n",
                   r.segments, r.first_seq);
    fmt::print(io.out,
               "{}: log seq {}, cursor {}, newest Netkeep-Seq {}, {} commits, {} records, {} "
               "hashes checked{}, "
               "{} completions pending{}\n",
               r.discrepancies == 0 ? "OK"
                                    : fmt::format("{} DISCREPANC{}", r.discrepancies,
                                                  r.discrepancies == 1 ? "Y" : "IES"),
               r.last_seq, r.cursor, r.newest_trailer ? std::to_string(*r.newest_trailer) : "-",
               r.commits, r.records, r.hashed,
               r.hash_skipped ? fmt::format(" ({} over 64 MiB: size only)", r.hash_skipped)
                              : std::string(),
               r.pending,
               r.quarantined || r.superseded
                   ? fmt::format(", {} quarantined, {} superseded (netkeepctl quarantine list)",
                                 r.quarantined, r.superseded)
                   : std::string());
}

}  // namespace

int run_verify(const Options& o, Io io) {
    auto log = open_event_log_reader(log_dir(o));
    if (!log) return fail(o, io, log.status().to_string());
    Report r;
    r.last_seq = (*log)->last_seq();
    Evidence e;
    if (Status s = read_writer_records(**log, r, e); !s) return fail(o, io, s.to_string());
    if (Status s = read_repository(o, r, e); !s) return fail(o, io, s.to_string());
    check_cursor(r);
    LogCheck check(**log, (std::filesystem::path(o.data_dir) / "archive").string(), r, e);
    if (Status s = check.run(); !s) return fail(o, io, s.to_string());
    check_tip(e, r);
    print_report(o, io, r);
    return r.discrepancies == 0 ? 0 : 1;
}

}  // namespace netkeep::ctl
