// A retention pass (docs/retention.md): find the cutoff, write the archive segments, then
// retire the prefix in meta, then delete it and reclaim the space. Each step is durable
// before the next starts, and each pass first finishes what an interrupted one left, so a
// crash anywhere loses nothing.

#include "netkeep/retention.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "archive_format.hpp"
#include "core/event_format.hpp"
#include "netkeep/archive.hpp"
#include "netkeep/git_records.hpp"

namespace netkeep {

namespace {

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// The exclusive upper bound of what may leave the log, and what set it.
struct Limit {
    std::uint64_t seq = 0;
    std::string reason;
    void lower(std::uint64_t to, std::string why) {
        if (to < seq) {
            seq = to;
            reason = std::move(why);
        }
    }
};

// A cursor meta value: absent is "nothing consumed" (0), malformed is an error.
Result<std::uint64_t> cursor_value(const EventLog& log, const std::string& key) {
    auto v = log.get_meta(key);
    if (!v)
        return v.status().code() == Status::Code::not_found ? Result<std::uint64_t>(0)
                                                            : Result<std::uint64_t>(v.status());
    auto n = parse_u64(*v);
    if (!n) return Status::corruption(fmt::format("meta {}: not a sequence number", key));
    return *n;
}

// Every consumer and record that still needs events (docs/retention.md "Cutoff").
Status lower_by_consumers(const EventLog& log, Limit& limit) {
    auto cursor = cursor_value(log, std::string(gitwriter::k_cursor_key));
    if (!cursor) return cursor.status();
    limit.lower(*cursor + 1, "git writer cursor");
    Status bad = Status::ok();
    Status s = log.scan_meta("consumer.", [&](std::string_view key, std::string_view value) {
        if (!key.ends_with(".cursor")) return true;
        auto n = parse_u64(value);
        if (!n) {
            bad = Status::corruption(fmt::format("meta {}: not a sequence number", key));
            return false;
        }
        limit.lower(*n + 1, std::string(key));
        return true;
    });
    if (!s) return s;
    if (!bad) return bad;
    // Unresolved quarantine records are retried from the log (the first word is the state).
    s = log.scan_meta(gitwriter::k_quarantine_prefix,
                      [&](std::string_view key, std::string_view value) {
                          auto seq = parse_u64(key.substr(gitwriter::k_quarantine_prefix.size()));
                          // Resolved: applied or superseded (git_records.hpp); anything else may be
                          // retried.
                          const std::string_view state = value.substr(0, value.find(' '));
                          if (seq && state != "applied" && state != "superseded")
                              limit.lower(*seq, fmt::format("quarantine record {}", *seq));
                          return true;
                      });
    if (!s) return s;
    // The history index (issue 16, H2) reads the applied events up to indexed_through.
    // Without one, history is built at start from every applied record's event: each
    // must stay, so the lowest applied record bounds the cutoff.
    auto indexed = cursor_value(log, "history.indexed_through");
    if (!indexed) return indexed.status();
    if (log.get_meta("history.indexed_through")) {
        limit.lower(*indexed + 1, "history.indexed_through");
        return Status::ok();
    }
    return log.scan_meta(gitwriter::k_applied_prefix, [&](std::string_view key, std::string_view) {
        if (auto seq = parse_u64(key.substr(gitwriter::k_applied_prefix.size())))
            limit.lower(*seq, "git writer applied records (no history index)");
        return false;  // key order is seq order: the first is the lowest
    });
}

Result<Limit> hard_limit(const EventLog& log, const RetentionOptions& o) {
    Limit limit{log.last_seq() + 1, "end of the log"};
    const std::uint64_t snapshot =
        o.newest_snapshot_seq
            ? *o.newest_snapshot_seq
            : newest_snapshot_seq(o.snapshots_dir, log.last_seq(), o.archive_dir.empty());
    limit.lower(snapshot == 0 ? 0 : snapshot + 1, snapshot == 0 ? "no snapshot" : "snapshot");
    if (Status s = lower_by_consumers(log, limit); !s) return s;
    return limit;
}

unix_time event_time(const Event& e) {
    return std::visit([](const auto& v) { return v.at; }, e);
}

// The archiving scan over [first, limit): stops at the first record not old enough.
struct Scan {
    std::uint64_t cutoff = 0;     // first record that stays
    std::uint64_t inventory = 0;  // the last InventoryApplied below cutoff seen
    std::vector<std::string> values;
    std::uint64_t values_first = 0;
    std::uint64_t values_bytes = 0;
};

Status flush_segment(Scan& scan, const RetentionOptions& o, RetentionReport& report) {
    if (scan.values.empty()) return Status::ok();
    auto seg =
        store::write_archive_segment(o.archive_dir, scan.values_first, scan.values, o.zstd_level);
    if (!seg) return seg.status();
    report.archived += scan.values.size();
    report.segments += 1;
    report.raw_bytes += scan.values_bytes;
    report.stored_bytes += seg->bytes;
    scan.values_first += scan.values.size();
    scan.values.clear();
    scan.values_bytes = 0;
    return Status::ok();
}

// Reads [first, limit) up to the time rule; archives the records above archived_through.
Result<Scan> archive_range(const EventLog& log, const RetentionOptions& o, std::uint64_t first,
                           std::uint64_t limit, std::uint64_t archived_through,
                           RetentionReport& report) {
    const unix_time now = o.now != 0 ? o.now
                                     : std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count();
    const unix_time threshold = now - o.max_age_seconds;
    Scan scan{first, 0, {}, archived_through + 1, 0};
    Status failed = Status::ok();
    Status s = log.scan(first, limit - 1, [&](EventRecord&& r) {
        if (r.seq != scan.cutoff || event_time(r.event) >= threshold) return false;
        if ((r.seq & 4095) == 0 && o.stop && o.stop()) return false;
        scan.cutoff = r.seq + 1;
        if (std::holds_alternative<InventoryApplied>(r.event)) scan.inventory = r.seq;
        if (o.archive_dir.empty() || r.seq <= archived_through) return true;
        std::string value = event_format::encode(r.event);
        scan.values_bytes += value.size() + 4;
        scan.values.push_back(std::move(value));
        if (scan.values.size() >= o.segment_max_events || scan.values_bytes >= o.segment_max_bytes)
            failed = flush_segment(scan, o, report);
        return failed.is_ok();
    });
    if (!s) return s;
    if (!failed) return failed;
    if (Status f = flush_segment(scan, o, report); !f) return f;
    return scan;
}

// What the archive already holds contiguously up to first - 1 and beyond (an interrupted
// pass wrote segments but did not retire them): the last seq of that run.
std::uint64_t archived_through(const std::string& dir, std::uint64_t first) {
    std::uint64_t through = first - 1;
    if (dir.empty()) return through;
    for (const auto& seg : list_archive_segments(dir))
        if (seg.first_seq <= through + 1 && seg.last_seq > through) through = seg.last_seq;
    return through;
}

// The pins of the new prefix: the last InventoryApplied below the cutoff (the git writer
// reads its inventory_seq; projection and redaction rules need the inventory in force).
std::vector<std::uint64_t> choose_pins(const EventLog& log, const Scan& scan) {
    std::uint64_t inventory = scan.inventory;
    if (inventory == 0) {
        auto old = log.pinned_seqs();
        if (!old.empty()) inventory = old.back();
    }
    std::vector<std::uint64_t> pins;
    if (inventory != 0 && inventory < scan.cutoff) pins.push_back(inventory);
    return pins;
}

bool step(const RetentionOptions& o, std::string_view name) {
    return !o.test_after_step || o.test_after_step(name);
}

}  // namespace

std::uint64_t newest_snapshot_seq(const std::string& dir, std::uint64_t last_seq, bool spare) {
    std::uint64_t newest = 0, second = 0;
    std::error_code ec;
    if (dir.empty()) return 0;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() != 29 || !name.starts_with("snap-") || !name.ends_with(".nks")) continue;
        auto seq = parse_u64(std::string_view(name).substr(5, 20));
        if (!seq || *seq > last_seq) continue;
        if (*seq > newest) {
            second = newest;
            newest = *seq;
        } else if (*seq > second && *seq != newest) {
            second = *seq;
        }
    }
    return spare ? second : newest;
}

Result<RetentionReport> apply_retention(EventLog& log, const RetentionOptions& o) {
    const auto started = std::chrono::steady_clock::now();
    RetentionReport report;
    // An interrupted pass may have retired without deleting: finish it first.
    if (Status s = log.reclaim_retired(); !s) return s;
    const std::uint64_t first = log.first_seq();
    report.first_seq_before = report.first_seq_after = first;
    report.pinned = log.pinned_seqs();
    auto limit = hard_limit(log, o);
    if (!limit) return limit.status();
    report.cutoff = limit->seq;
    report.limited_by = limit->reason;
    if (limit->seq <= first || o.max_age_seconds < 0) return report;

    auto scan =
        archive_range(log, o, first, limit->seq, archived_through(o.archive_dir, first), report);
    if (!scan) return scan.status();
    if (!step(o, "archived") || scan->cutoff <= first) return report;

    auto pins = choose_pins(log, *scan);
    if (Status s = log.retire_prefix(scan->cutoff, pins); !s) return s;
    report.first_seq_after = log.first_seq();
    report.pinned = log.pinned_seqs();
    report.removed = (report.first_seq_after - first) -
                     std::count_if(pins.begin(), pins.end(), [&](auto p) { return p >= first; });
    if (!step(o, "retired") || (o.stop && o.stop())) return report;

    if (Status s = log.reclaim_retired(); !s) return s;
    (void)step(o, "reclaimed");
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

}  // namespace netkeep
