#include "api/history.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "netkeep/git_records.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

std::optional<GitAppliedRecord> parse_applied_meta(std::string_view key, std::string_view value) {
    if (!key.starts_with(gitwriter::k_applied_prefix)) return std::nullopt;
    std::string_view digits = key.substr(gitwriter::k_applied_prefix.size());
    auto seq = gitwriter::parse_u64(digits);
    auto record = gitwriter::parse_applied_record(value);
    if (digits.size() != 20 || !seq || *seq == 0 || !record) return std::nullopt;
    return GitAppliedRecord{*seq, std::move(record->blob), std::move(record->commit),
                            std::move(record->path)};
}

// ---- the on-disk format ----

std::string history_task_prefix(std::string_view device, std::string_view job) {
    std::string key(k_history_prefix);
    key.append(device).push_back('\0');
    key.append(job).push_back('\0');
    return key;
}

std::string history_key(std::string_view device, std::string_view job, std::uint64_t seq) {
    // Newest first in key order: a page is a seek and a forward walk (a backward one costs
    // a search per step in RocksDB's memtable).
    return history_task_prefix(device, job) + fmt::format("{:020}", UINT64_MAX - seq);
}

namespace {

std::string last_key(std::string_view device, std::string_view job) {
    std::string key(k_history_last_prefix);
    key.append(device).push_back('\0');
    key.append(job);
    return key;
}

// Splits text at '\0' into exactly n fields.
std::optional<std::vector<std::string_view>> split_fields(std::string_view text, std::size_t n) {
    std::vector<std::string_view> fields;
    while (fields.size() + 1 < n) {
        auto at = text.find('\0');
        if (at == std::string_view::npos) return std::nullopt;
        fields.push_back(text.substr(0, at));
        text.remove_prefix(at + 1);
    }
    if (text.find('\0') != std::string_view::npos) return std::nullopt;
    fields.push_back(text);
    return fields;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::string encode_task(const TaskHistory& t) {
    return fmt::format("{}", t.count) + '\0' + encode_version(t.last);
}

std::optional<TaskHistory> decode_task(std::string_view value) {
    auto at = value.find('\0');
    if (at == std::string_view::npos) return std::nullopt;
    auto count = parse_number<std::uint64_t>(value.substr(0, at));
    auto last = decode_version(value.substr(at + 1));
    if (!count || !last) return std::nullopt;
    return TaskHistory{std::move(*last), *count};
}

Result<std::uint64_t> read_counter(const EventLog& log, std::string_view key) {
    auto value = log.get_meta(std::string(key));
    if (!value) {
        if (value.status().code() == Status::Code::not_found) return std::uint64_t{0};
        return value.status();
    }
    auto n = parse_number<std::uint64_t>(*value);
    if (!n) return Status::corruption(fmt::format("meta {}: not a number: '{}'", key, *value));
    return *n;
}

std::int64_t ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

}  // namespace

std::string encode_version(const FileVersion& v) {
    const std::string time = fmt::format("{}", v.time);
    std::string out = fmt::format("{}", v.seq);
    for (std::string_view field :
         {std::string_view(time), std::string_view(v.commit), std::string_view(v.blob),
          std::string_view(v.worker), std::string_view(v.path)}) {
        out.push_back('\0');
        out.append(field);
    }
    return out;
}

std::optional<FileVersion> decode_version(std::string_view value) {
    auto f = split_fields(value, 6);
    if (!f) return std::nullopt;
    auto seq = parse_number<std::uint64_t>((*f)[0]);
    auto time = parse_number<unix_time>((*f)[1]);
    if (!seq || !time) return std::nullopt;
    return FileVersion{*seq,
                       *time,
                       std::string((*f)[2]),
                       std::string((*f)[3]),
                       std::string((*f)[5]),
                       std::string((*f)[4])};
}

// ---- resolving the git writer's records ----

namespace {

using Skipped = std::vector<std::pair<std::uint64_t, std::string>>;  // seq, why

// One scan over the sorted records' range, through `read` when set: they are dense in it
// (most events near a completion are its lease and close), and a scan per record costs a
// seek each. A record whose event is missing or not a CompletionRecorded goes to
// `skipped` when it is given, else it is the error.
Result<std::vector<HistoryEntry>> resolve_sorted(const EventLog& log,
                                                 std::vector<GitAppliedRecord> records,
                                                 const EventLog::ReadArchived& read,
                                                 Skipped* skipped) {
    std::vector<HistoryEntry> out;
    if (records.empty()) return out;
    out.reserve(records.size());
    std::size_t next = 0;
    Status bad = Status::ok();
    const std::uint64_t from = records.front().seq, to = records.back().seq;
    EventLog::Visitor visit = [&](EventRecord&& record) {
        if (record.seq != records[next].seq) return true;
        GitAppliedRecord& r = records[next];
        if (auto* c = std::get_if<CompletionRecorded>(&record.event)) {
            out.push_back(
                HistoryEntry{c->device, c->job,
                             FileVersion{r.seq, c->end_timestamp, std::move(r.commit),
                                         std::move(r.blob), std::move(r.path), c->worker}});
        } else {
            std::string why = fmt::format(
                "git writer record for seq {}: that event is not a CompletionRecorded", r.seq);
            if (!skipped) {
                bad = Status::corruption(std::move(why));
                return false;
            }
            skipped->emplace_back(r.seq, std::move(why));
        }
        // Equal seqs (a record reported twice) resolve once.
        while (next < records.size() && records[next].seq == record.seq) ++next;
        return next < records.size();
    };
    Status s = read ? read(from, to, visit) : log.scan(from, to, visit);
    if (!s) return s;
    if (!bad) return bad;
    for (; next < records.size(); ++next) {
        std::string why = fmt::format("git writer record for seq {}: no such event in the log",
                                      records[next].seq);
        if (!skipped) return Status::corruption(std::move(why));
        if (skipped->empty() || skipped->back().first != records[next].seq)
            skipped->emplace_back(records[next].seq, std::move(why));
    }
    return out;
}

bool unreadable(const Status& s) {
    return s.code() == Status::Code::corruption || s.code() == Status::Code::not_found;
}

void sort_by_seq(std::vector<GitAppliedRecord>& records) {
    std::sort(records.begin(), records.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
}

}  // namespace

Result<std::vector<HistoryEntry>> resolve_records(const EventLog& log,
                                                  std::vector<GitAppliedRecord> records,
                                                  const EventLog::ReadArchived& read_archived) {
    sort_by_seq(records);
    return resolve_sorted(log, std::move(records), read_archived, nullptr);
}

Result<std::vector<HistoryEntry>> resolve_tolerant(const EventLog& log,
                                                   std::vector<GitAppliedRecord> records,
                                                   const EventLog::ReadArchived& read_archived) {
    sort_by_seq(records);
    const std::uint64_t first = log.first_seq();
    auto live_begin = std::partition_point(
        records.begin(), records.end(), [&](const GitAppliedRecord& r) { return r.seq < first; });
    std::vector<GitAppliedRecord> retired(std::make_move_iterator(records.begin()),
                                          std::make_move_iterator(live_begin));
    std::vector<GitAppliedRecord> live(std::make_move_iterator(live_begin),
                                       std::make_move_iterator(records.end()));
    std::vector<HistoryEntry> out;
    Skipped skipped;
    // Below first_seq, in the archive: one read of the segments for the whole batch. One
    // line, not one per record, when they cannot be read back: retention deleted them
    // (--archive none), or a segment is missing or damaged (verify names it).
    if (!retired.empty()) {
        Status unread = Status::not_found("no archive (--archive none)");
        if (read_archived) {
            auto got = resolve_sorted(log, retired, read_archived, &skipped);
            if (got) {
                out = std::move(*got);
                unread = Status::ok();
            } else if (!unreadable(got.status())) {
                return got.status();  // a read that failed: indexed later, not skipped
            } else {
                unread = got.status();
            }
        }
        if (!unread)
            log_line(LogLevel::warn, "history.retired_skipped",
                     {{"records", std::to_string(retired.size())},
                      {"first_seq", std::to_string(first)},
                      {"error", unread.to_string()}});
    }
    // In the log: one scan; should an event not decode, a seek per record, so that one
    // bad event does not keep the rest out.
    auto got = resolve_sorted(log, live, {}, &skipped);
    if (!got && !unreadable(got.status())) return got.status();
    if (got) {
        std::move(got->begin(), got->end(), std::back_inserter(out));
    } else {
        for (GitAppliedRecord& r : live) {
            const std::uint64_t seq = r.seq;
            auto one = resolve_sorted(log, {std::move(r)}, {}, &skipped);
            if (!one && !unreadable(one.status())) return one.status();
            if (!one)
                skipped.emplace_back(seq, one.status().to_string());
            else
                std::move(one->begin(), one->end(), std::back_inserter(out));
        }
    }
    constexpr std::size_t k_lines = 20;  // per batch: the count says the rest
    for (std::size_t i = 0; i < skipped.size() && i < k_lines; ++i)
        log_line(LogLevel::error, "history.record_skipped",
                 {{"seq", std::to_string(skipped[i].first)}, {"error", skipped[i].second}});
    if (skipped.size() > k_lines)
        log_line(LogLevel::error, "history.records_skipped",
                 {{"records", std::to_string(skipped.size())}});
    return out;
}

// ---- HistoryIndex ----

HistoryIndex::~HistoryIndex() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

Result<std::size_t> HistoryIndex::add(const std::vector<HistoryEntry>& entries,
                                      std::uint64_t through) {
    MutexLock lock(write_mutex_);
    return add_locked(entries, through);
}

Result<std::size_t> HistoryIndex::add_locked(const std::vector<HistoryEntry>& entries,
                                             std::uint64_t through) {
    std::vector<std::pair<std::string, std::string>> batch;
    std::map<std::pair<std::string, std::string>, TaskHistory> changed;
    std::size_t added = 0;
    for (const HistoryEntry& e : entries) {
        const FileVersion& v = e.version;
        if (v.commit.empty()) continue;  // main already had the content: no version
        if (e.device.find('\0') != std::string::npos || e.job.find('\0') != std::string::npos)
            continue;  // cannot be keyed (and the inventory allows no such name)
        std::string key = history_key(e.device, e.job, v.seq);
        // At or below indexed_through a record may have been indexed already (reported
        // twice, or a quarantined completion committed late): the disk says. Within
        // `entries` each seq is once (resolve_records).
        bool fresh = v.seq > indexed_through_;
        if (!fresh) {
            auto got = log_.get_meta(key);
            if (!got && got.status().code() != Status::Code::not_found) return got.status();
            fresh = !got;
        }
        if (!fresh) continue;
        batch.emplace_back(std::move(key), encode_version(v));
        ++added;
        auto [it, inserted] = changed.try_emplace({e.device, e.job});
        if (inserted) it->second = last_change(e.device, e.job).value_or(TaskHistory{});
        it->second.count += 1;
        if (v.seq > it->second.last.seq) it->second.last = v;
    }
    const std::uint64_t next_through = std::max(indexed_through_, through);
    if (batch.empty() && next_through == indexed_through_) return added;
    for (const auto& [task, t] : changed)
        batch.emplace_back(last_key(task.first, task.second), encode_task(t));
    batch.emplace_back(std::string(k_history_indexed_through), std::to_string(next_through));
    batch.emplace_back(std::string(k_history_versions), std::to_string(versions_.load() + added));
    if (Status s = log_.put_meta_batch(batch); !s) return s;
    indexed_through_ = next_through;
    versions_ += added;
    MutexLock cache(cache_mutex_);
    for (auto& [task, t] : changed) tasks_[task.first][task.second] = std::move(t);
    return added;
}

Status HistoryIndex::load_cache() {
    MutexLock lock(write_mutex_);
    auto through = read_counter(log_, k_history_indexed_through);
    if (!through) return through.status();
    auto versions = read_counter(log_, k_history_versions);
    if (!versions) return versions.status();
    indexed_through_ = *through;
    versions_ = *versions;
    Status bad = Status::ok();
    // Built aside, then swapped in: readers of the cache never wait for the scan.
    decltype(tasks_) loaded;
    Status s =
        log_.scan_meta(k_history_last_prefix, [&](std::string_view key, std::string_view value) {
            auto names = split_fields(key.substr(k_history_last_prefix.size()), 2);
            auto t = decode_task(value);
            if (!names || !t) {
                bad = Status::corruption(fmt::format("meta '{}': not a history record", key));
                return false;
            }
            loaded[std::string((*names)[0])][std::string((*names)[1])] = std::move(*t);
            return !stopping_.load();
        });
    if (!s) return s;
    if (!bad) return bad;
    MutexLock cache(cache_mutex_);
    tasks_ = std::move(loaded);
    return Status::ok();
}

Result<bool> HistoryIndex::index_chunk(std::size_t chunk) {
    MutexLock lock(write_mutex_);
    // An archive segment (up to a million events) is decompressed whole for each read:
    // below first_seq a larger chunk reads each about three times, not once per 4,096
    // records (~30 MB of records at most).
    constexpr std::size_t k_archived_chunk = 131'072;
    std::uint64_t from = indexed_through_ + 1;
    if (const std::uint64_t first = log_.first_seq(); from < first) {
        if (read_archived_) {
            chunk = std::max(chunk, k_archived_chunk);
        } else {
            // Retention deleted these events (--archive none): their records are not read.
            log_line(LogLevel::warn, "history.retired_skipped",
                     {{"from", std::to_string(from)}, {"first_seq", std::to_string(first)}});
            from = first;
        }
    }
    std::vector<GitAppliedRecord> records;
    std::uint64_t last = indexed_through_;
    Status bad = Status::ok();
    const std::string start = gitwriter::applied_key(from);
    Status s =
        log_.scan_meta_range(gitwriter::k_applied_prefix, {.start = start, .reverse = false},
                             [&](std::string_view key, std::string_view value) {
                                 auto r = parse_applied_meta(key, value);
                                 if (!r) {
                                     bad = Status::corruption(fmt::format(
                                         "meta {}: not a git writer record: '{}'", key, value));
                                     return false;
                                 }
                                 last = r->seq;
                                 records.push_back(std::move(*r));
                                 return records.size() < chunk;
                             });
    if (!s) return s;
    if (!bad) return bad;
    if (records.empty()) {
        // Under write_mutex_: a batch the observer left to this indexing is in meta by now,
        // so it was in this scan; every later one the observer indexes itself.
        caught_up_ = true;
        return false;
    }
    auto entries = resolve(std::move(records));
    if (!entries) return entries.status();
    auto added = add_locked(*entries, last);
    if (!added) return added.status();
    return true;
}

Status HistoryIndex::catch_up(std::size_t chunk, bool load) {
    const auto started = std::chrono::steady_clock::now();
    if (load)
        if (Status s = load_cache(); !s) return s;
    std::uint64_t from = 0, versions_before = versions_.load();
    std::size_t tasks = 0, chunks = 0;
    {
        MutexLock lock(write_mutex_);
        from = indexed_through_;
    }
    {
        MutexLock cache(cache_mutex_);
        for (const auto& [device, jobs] : tasks_) tasks += jobs.size();
    }
    while (!stopping_.load()) {
        auto more = index_chunk(std::max<std::size_t>(chunk, 1));
        if (!more) return more.status();
        if (!*more) break;
        ++chunks;
    }
    std::uint64_t through = 0;
    {
        MutexLock lock(write_mutex_);
        through = indexed_through_;
    }
    log_line(LogLevel::info, "history.indexed",
             {{"from", std::to_string(from)},
              {"through", std::to_string(through)},
              {"chunks", std::to_string(chunks)},
              {"new_versions", std::to_string(versions_.load() - versions_before)},
              {"versions", std::to_string(versions_.load())},
              {"tasks_loaded", std::to_string(tasks)},
              {"ms", std::to_string(ms_since(started))}});
    return Status::ok();
}

void HistoryIndex::start(std::size_t chunk) {
    thread_ = std::thread([this, chunk] {
        bool loaded = false;
        auto delay = std::chrono::seconds(1);
        while (!stopping_.load()) {
            if (!caught_up_.load()) {
                if (Status s = catch_up(chunk, !loaded); !s) {
                    log_line(
                        LogLevel::error, "history.index_failed",
                        {{"error", s.to_string()}, {"retry_in_s", std::to_string(delay.count())}});
                } else {
                    loaded = true;
                    delay = std::chrono::seconds(1);
                }
            }
            // Sleeps in small steps: the destructor must not wait for a long delay.
            const auto until = std::chrono::steady_clock::now() +
                               (caught_up_.load() ? std::chrono::seconds(1) : delay);
            while (!stopping_.load() && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (!caught_up_.load()) delay = std::min(delay * 2, std::chrono::seconds(300));
        }
    });
}

void HistoryIndex::on_applied(const std::vector<HistoryEntry>& entries, std::uint64_t through) {
    MutexLock lock(write_mutex_);
    if (!caught_up_.load()) {
        // Above indexed_through the records are in meta already: the indexing thread gets
        // them. Below it (a quarantined completion committed late) it never would.
        std::vector<HistoryEntry> late;
        for (const HistoryEntry& e : entries)
            if (e.version.seq <= indexed_through_) late.push_back(e);
        if (late.empty()) return;
        if (auto added = add_locked(late, 0); !added)
            log_line(LogLevel::error, "history.write_failed",
                     {{"error", added.status().to_string()}});
        return;
    }
    auto added = add_locked(entries, through);
    if (!added) {
        log_line(LogLevel::error, "history.write_failed", {{"error", added.status().to_string()}});
        caught_up_ = false;  // the indexing thread takes over from indexed_through
    }
}

Result<std::vector<HistoryEntry>> HistoryIndex::resolve(
    std::vector<GitAppliedRecord> records) const {
    return resolve_tolerant(log_, std::move(records), read_archived_);
}

void HistoryIndex::hand_over(const Status& why) {
    log_line(LogLevel::error, "history.resolve_failed", {{"error", why.to_string()}});
    MutexLock lock(write_mutex_);
    caught_up_ = false;
}

std::optional<TaskHistory> HistoryIndex::last_change(std::string_view device,
                                                     std::string_view job) const {
    MutexLock cache(cache_mutex_);
    auto d = tasks_.find(std::string(device));
    if (d == tasks_.end()) return std::nullopt;
    auto j = d->second.find(job);
    if (j == d->second.end()) return std::nullopt;
    return j->second;
}

std::map<std::string, TaskHistory, std::less<>> HistoryIndex::device_jobs(
    std::string_view device) const {
    MutexLock cache(cache_mutex_);
    auto d = tasks_.find(std::string(device));
    if (d == tasks_.end()) return {};
    return d->second;
}

// ---- disk reads ----

Result<VersionPage> HistoryIndex::page(std::string_view device, std::string_view job,
                                       std::uint64_t before, std::size_t limit) const {
    VersionPage out;
    if (before <= 1) return out;
    limit = std::clamp<std::size_t>(limit, 1, k_max_history_page);
    // Keys sort newest first: the page starts at the first key with seq <= before - 1.
    const std::string start = history_key(device, job, before - 1);
    Status bad = Status::ok();
    auto visit = [&](std::string_view key, std::string_view value) {
        if (out.versions.size() == limit) {
            out.next_before = out.versions.back().seq;
            return false;
        }
        auto v = decode_version(value);
        if (!v) {
            bad = Status::corruption(fmt::format("meta '{}': not a history record", key));
            return false;
        }
        out.versions.push_back(std::move(*v));
        return true;
    };
    Status s = log_.scan_meta_range(history_task_prefix(device, job),
                                    {.start = start, .reverse = false}, visit);
    if (!s) return s;
    if (!bad) return bad;
    return out;
}

Result<std::vector<FileVersion>> HistoryIndex::all(std::string_view device,
                                                   std::string_view job) const {
    std::vector<FileVersion> out;
    Status bad = Status::ok();
    Status s = log_.scan_meta(
        history_task_prefix(device, job), [&](std::string_view key, std::string_view value) {
            auto v = decode_version(value);
            if (!v) {
                bad = Status::corruption(fmt::format("meta '{}': not a history record", key));
                return false;
            }
            out.push_back(std::move(*v));
            return out.size() < k_max_task_versions;
        });
    if (!s) return s;
    if (!bad) return bad;
    std::reverse(out.begin(), out.end());  // newest first on disk
    return out;
}

}  // namespace netkeep::api
