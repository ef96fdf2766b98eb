// `netkeepctl backup DEST`: a consistent copy of a data dir while netkeepd runs
// (docs/operations.md "Backups and restore").
//
// Why not a RocksDB checkpoint: a checkpoint needs the primary instance (it pauses file
// deletions), which netkeepd holds. The log is append-only and every record immutable,
// so a logical copy through a secondary instance is exact: DEST/log is a new log holding
// events 1..L (L: the last seq when the backup started) and the meta values.
//
// The three parts are copied in this order, and the cursor put in the copy chosen, so
// that the copy is a state netkeepd could have crashed in:
//   1. L = the log's last seq; the spool files of the successful completions after the
//      writer's cursor at that moment are copied (a file the writer deletes meanwhile
//      belongs to an event it has applied: its cursor was past it before the deletion);
//   2. repo.git is cloned (git clone --bare --no-local: the git protocol reads a ref and
//      then the objects it reaches, so a batch published meanwhile is in or out whole);
//      main in the copy is moved back to the newest commit whose Netkeep-Seq <= L;
//   3. the log is caught up again; its cursor C and records now cover at least that
//      commit (the writer writes them right after publishing). The copy's cursor is
//      X = min(C, L), lowered to before the first record whose commit the clone lacks
//      (published after step 2). Records after X are left out: those events are applied
//      again after a restore, from the spool files of step 1, which cover (X, L].
// Meta values other than the git writer's are copied as they are at step 3.

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/git_verify.hpp"
#include "netkeep/json.hpp"
#include "util/run_program.hpp"

namespace netkeep::ctl {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t k_append_chunk = 4096;

// Runs /usr/bin/git with args (its stdout discarded, stderr ours); ok when it exits 0.
Status run_git(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/bin/git"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, {.close_other_fds = true, .discard_stdout = true});
}

Status sync_tree(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return Status::io_error(fmt::format("opening {}: {}", dir.string(), std::strerror(errno)));
    int rc = ::syncfs(fd);
    ::close(fd);
    if (rc != 0)
        return Status::io_error(fmt::format("syncing {}: {}", dir.string(), std::strerror(errno)));
    return Status::ok();
}

std::optional<std::uint64_t> read_cursor(const EventLog& log) {
    auto v = log.get_meta(std::string(gitwriter::k_cursor_key));
    if (!v) return std::nullopt;
    return gitwriter::parse_u64(*v);
}

// A step's failure: its message is what netkeepctl prints.
Status failure(std::string message) { return Status::io_error(std::move(message)); }

// What the steps share, filled in as they go (the numbers are the file comment's).
struct Backup {
    Backup(const Options& options, const EventLog& event_log)
        : o(options), dest(options.path), log(event_log) {}

    const Options& o;
    const fs::path dest;
    const EventLog& log;
    std::uint64_t last = 0;                         // L
    std::map<std::uint64_t, std::string> spool_of;  // successful completions: seq -> spool file
    std::vector<std::uint64_t> inventories;         // seqs of InventoryApplied
    // 2: the copy's main.
    std::optional<GitCommitInfo> main_commit;
    std::unordered_set<std::string> on_main;
    std::optional<std::uint64_t> trailer;  // T: the copy's newest Netkeep-Seq
    // 3: the meta values caught up, and the copy's cursor.
    std::map<std::uint64_t, std::string> records;  // seq -> the applied record's value
    std::vector<std::pair<std::string, std::string>> other_meta;
    std::uint64_t cursor = 0;  // X
    std::size_t spool_files = 0;
};

// After retention (docs/retention.md) the copy gets the whole history: the archived
// records, then the log's, renumbered as they were.
std::string archive_dir(const Backup& b) { return (fs::path(b.o.data_dir) / "archive").string(); }

// 1. The log's extent, and the spool files of what the writer has not applied yet.
Status plan_and_copy_spool(Backup& b) {
    b.last = b.log.last_seq();
    const std::uint64_t cursor_at_start = read_cursor(b.log).value_or(0);
    Status scanned = scan_with_archive(b.log, archive_dir(b), 1, b.last, [&](EventRecord&& r) {
        if (const auto* c = std::get_if<CompletionRecorded>(&r.event); c && !c->failure)
            b.spool_of[r.seq] = c->spool;
        else if (std::holds_alternative<InventoryApplied>(r.event))
            b.inventories.push_back(r.seq);
        return true;
    });
    if (!scanned) return failure(scanned.to_string());
    std::error_code ec;
    fs::create_directories(b.dest / "spool", ec);
    if (ec)
        return failure(
            fmt::format("backup: creating {}: {}", (b.dest / "spool").string(), ec.message()));
    for (auto it = b.spool_of.upper_bound(cursor_at_start); it != b.spool_of.end(); ++it) {
        fs::copy_file(fs::path(spool_dir(b.o)) / it->second, b.dest / "spool" / it->second,
                      fs::copy_options::overwrite_existing, ec);
        if (ec && ec != std::errc::no_such_file_or_directory)
            return failure(
                fmt::format("backup: copying spool file {}: {}", it->second, ec.message()));
    }
    return Status::ok();
}

// 2. The repository, main moved back to what the log has reached.
Status copy_repository(Backup& b) {
    if (!fs::exists(repo_dir(b.o))) return Status::ok();
    const std::string copy_dir = (b.dest / "repo.git").string();
    if (Status s = run_git({"clone", "--bare", "--no-local", "--quiet", repo_dir(b.o), copy_dir});
        !s)
        return failure(fmt::format("backup: copying the repository: {}", s.to_string()));
    if (Status s = run_git({"--git-dir", copy_dir, "remote", "remove", "origin"}); !s)
        return failure(fmt::format("backup: removing the copy's remote: {}", s.to_string()));
    auto copy = open_git_repo_reader(copy_dir);
    if (!copy) return failure(copy.status().to_string());
    auto history = (*copy)->main_history();
    if (!history) return failure(history.status().to_string());
    // Commits after L (made while step 1 ran) are dropped from the copy's main;
    // otherwise main stays, hand-made commits on top included.
    bool moved = false;
    for (const auto& c : *history) moved = moved || (c.seq && *c.seq > b.last);
    for (const auto& c : *history) {
        if (!moved || (c.seq && *c.seq <= b.last)) {
            b.main_commit = c;  // the newest commit at or before L (or main, when none is after)
            break;
        }
    }
    if (moved) {
        if (!b.main_commit)
            return failure("backup: every commit on main is newer than the log copied");
        if (Status s = (*copy)->set_main(b.main_commit->id); !s) return failure(s.to_string());
        history = (*copy)->main_history();
        if (!history) return failure(history.status().to_string());
    }
    for (const auto& c : *history) {
        b.on_main.insert(c.id);
        if (c.seq && !b.trailer) b.trailer = c.seq;
    }
    return Status::ok();
}

// 3. The cursor and records, caught up until they cover the copy's commits; the other
// meta values as they are now.
Status catch_up_meta(Backup& b) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        b.log.wait_for(b.last, std::chrono::milliseconds(0));
        b.cursor = read_cursor(b.log).value_or(0);
        if (!b.trailer || b.cursor >= *b.trailer) break;
        if (std::chrono::steady_clock::now() > deadline)
            return failure(
                fmt::format("backup: the git writer's cursor ({}) did not reach the repository's "
                            "newest Netkeep-Seq ({}) within 30 s; is netkeepd's git writer stuck?",
                            b.cursor, *b.trailer));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Status meta = b.log.scan_meta("", [&](std::string_view key, std::string_view value) {
        if (key.starts_with(gitwriter::k_applied_prefix)) {
            if (auto seq = gitwriter::parse_u64(key.substr(gitwriter::k_applied_prefix.size())))
                b.records[*seq] = std::string(value);
        } else if (key != gitwriter::k_cursor_key && key != gitwriter::k_inventory_key) {
            b.other_meta.emplace_back(key, value);
        }
        return true;
    });
    if (!meta) return failure(meta.to_string());
    return Status::ok();
}

// 3. The copy's cursor X: min(C, L), lowered to before the first record whose commit the
// clone lacks.
Status choose_cursor(Backup& b) {
    std::uint64_t x = std::min(b.cursor, b.last);
    for (const auto& [seq, value] : b.records) {
        if (seq > x) break;
        auto rec = gitwriter::parse_applied_record(value);
        if (rec && !rec->commit.empty() && !b.on_main.contains(rec->commit)) {
            x = seq - 1;
            break;
        }
    }
    if (b.trailer && x < *b.trailer)
        return failure(
            fmt::format("backup: the copy is inconsistent (cursor {} < Netkeep-Seq {}); try again",
                        x, *b.trailer));
    b.cursor = x;
    return Status::ok();
}

// The spool files the copy needs: successful completions in (X, L].
Status keep_needed_spool(Backup& b) {
    std::error_code ec;
    for (const auto& [seq, name] : b.spool_of) {
        fs::path file = b.dest / "spool" / name;
        if (seq <= b.cursor) {
            fs::remove(file, ec);
            continue;
        }
        if (!fs::exists(file))
            return failure(
                fmt::format("backup: spool file {} of seq {} is missing from {}: the writer cannot "
                            "apply that event without it",
                            name, seq, spool_dir(b.o)));
        ++b.spool_files;
    }
    return Status::ok();
}

// Events 1..L into the copy's log, in chunks.
Status copy_events(const Backup& b, EventLog& out) {
    std::vector<Event> chunk;
    Status copy_status;
    Status s = scan_with_archive(b.log, archive_dir(b), 1, b.last, [&](EventRecord&& r) {
        chunk.push_back(std::move(r.event));
        if (chunk.size() == k_append_chunk || r.seq == b.last) {
            if (auto appended = out.append(chunk); !appended) {
                copy_status = appended.status();
                return false;
            }
            chunk.clear();
        }
        return true;
    });
    if (!s) return failure(s.to_string());
    if (!copy_status)
        return failure(fmt::format("backup: writing the log copy: {}", copy_status.to_string()));
    if (out.last_seq() != b.last)
        return failure(
            fmt::format("backup: the log copy ends at {}, expected {}", out.last_seq(), b.last));
    return Status::ok();
}

// The meta values: the git writer's at X (cursor, records, inventory seq), the rest as read.
Status copy_meta(Backup& b, EventLog& out) {
    std::vector<std::pair<std::string, std::string>> entries = std::move(b.other_meta);
    for (const auto& [seq, value] : b.records)
        if (seq <= b.cursor) entries.emplace_back(gitwriter::applied_key(seq), value);
    if (b.cursor > 0 || read_cursor(b.log))
        entries.emplace_back(std::string(gitwriter::k_cursor_key), std::to_string(b.cursor));
    std::optional<std::uint64_t> inventory_seq;
    for (auto seq : b.inventories)
        if (seq <= b.cursor) inventory_seq = seq;
    if (inventory_seq)
        entries.emplace_back(std::string(gitwriter::k_inventory_key),
                             std::to_string(*inventory_seq));
    for (std::size_t i = 0; i < entries.size(); i += k_append_chunk) {
        std::vector<std::pair<std::string, std::string>> part(
            entries.begin() + static_cast<std::ptrdiff_t>(i),
            entries.begin() +
                static_cast<std::ptrdiff_t>(std::min(entries.size(), i + k_append_chunk)));
        if (Status ms = out.put_meta_batch(part); !ms)
            return failure(fmt::format("backup: writing meta values: {}", ms.to_string()));
    }
    return Status::ok();
}

// The log copy: events 1..L, then the meta values.
Status write_log_copy(Backup& b) {
    EventLogOptions options;
    options.create_if_missing = true;
    auto out = open_event_log((b.dest / "log").string(), options);
    if (!out) return failure(fmt::format("backup: {}", out.status().to_string()));
    if (Status s = copy_events(b, **out); !s) return s;
    if (Status s = copy_meta(b, **out); !s) return s;
    (*out)->close();
    return Status::ok();
}

void print_result(const Backup& b, Io io) {
    const std::string commit = b.main_commit ? b.main_commit->id : std::string();
    if (b.o.json) {
        fmt::print(
            io.out,
            R"({{"dest":{},"log_last_seq":{},"cursor":{},"main":{},"netkeep_seq":{},"spool_files":{}}})"
            "\n",
            json_quote(b.dest.string()), b.last, b.cursor,
            commit.empty() ? "null" : json_quote(commit),
            b.trailer ? std::to_string(*b.trailer) : "null", b.spool_files);
    } else {
        fmt::print(io.out,
                   "backup in {}: log seq 1..{}, git main at {} (Netkeep-Seq {}), git writer "
                   "cursor {}, {} spool "
                   "file{} for the events after it\n",
                   b.dest.string(), b.last, commit.empty() ? "(no commits)" : commit,
                   b.trailer ? std::to_string(*b.trailer) : "-", b.cursor, b.spool_files,
                   b.spool_files == 1 ? "" : "s");
    }
}

}  // namespace

int run_backup(const Options& o, Io io) {
    const fs::path dest = o.path;
    std::error_code ec;
    if (fs::exists(dest, ec) && !fs::is_empty(dest, ec))
        return fail(
            o, io,
            fmt::format("backup: {} exists and is not empty; give a new directory", dest.string()));
    auto log = open_event_log_reader(log_dir(o));
    if (!log) return fail(o, io, log.status().to_string());
    Backup b(o, **log);
    for (auto step : {plan_and_copy_spool, copy_repository, catch_up_meta, choose_cursor,
                      keep_needed_spool, write_log_copy})
        if (Status s = step(b); !s) return fail(o, io, s.message());
    if (Status s = sync_tree(dest); !s)
        return fail(o, io, fmt::format("backup: {}", s.to_string()));
    print_result(b, io);
    return 0;
}

}  // namespace netkeep::ctl
