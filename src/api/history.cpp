#include "api/history.hpp"

#include <algorithm>
#include <charconv>

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

bool HistoryIndex::add(HistoryEntry entry) {
    if (entry.version.commit.empty()) return false;
    auto& versions = by_device_[entry.device][entry.job];
    if (!versions.empty() && versions.back().seq >= entry.version.seq) return false;
    versions.push_back(std::move(entry.version));
    versions_ += 1;
    return true;
}

const HistoryIndex::Jobs* HistoryIndex::device(std::string_view device) const {
    auto it = by_device_.find(std::string(device));
    return it == by_device_.end() ? nullptr : &it->second;
}

const FileVersion* HistoryIndex::last_change(std::string_view device, std::string_view job) const {
    const Jobs* jobs = this->device(device);
    if (!jobs) return nullptr;
    auto it = jobs->find(job);
    if (it == jobs->end() || it->second.empty()) return nullptr;
    return &it->second.back();
}

Result<std::vector<HistoryEntry>> resolve_records(const EventLog& log,
                                                  std::vector<GitAppliedRecord> records) {
    std::vector<HistoryEntry> out;
    if (records.empty()) return out;
    out.reserve(records.size());
    std::sort(records.begin(), records.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
    // One scan over the records' range: they are dense in it (most events near a
    // completion are its lease and close), and a scan per record costs a seek each.
    std::size_t next = 0;
    Status bad = Status::ok();
    Status s = log.scan(records.front().seq, records.back().seq, [&](EventRecord&& record) {
        if (record.seq != records[next].seq) return true;
        GitAppliedRecord& r = records[next];
        auto* c = std::get_if<CompletionRecorded>(&record.event);
        if (!c) {
            bad = Status::corruption(fmt::format(
                "git writer record for seq {}: that event is not a CompletionRecorded", r.seq));
            return false;
        }
        out.push_back(HistoryEntry{c->device, c->job,
                                   FileVersion{r.seq, c->end_timestamp, std::move(r.commit),
                                               std::move(r.blob), std::move(r.path), c->worker}});
        // Equal seqs (a record reported twice) resolve once.
        while (next < records.size() && records[next].seq == record.seq) ++next;
        return next < records.size();
    });
    if (!s) return s;
    if (!bad) return bad;
    if (next < records.size())
        return Status::corruption(fmt::format(
            "git writer record for seq {}: no such event in the log", records[next].seq));
    return out;
}

Result<std::vector<HistoryEntry>> load_applied_records(const EventLog& log) {
    std::vector<GitAppliedRecord> records;
    Status bad = Status::ok();
    Status s = log.scan_meta(
        gitwriter::k_applied_prefix, [&](std::string_view key, std::string_view value) {
            auto r = parse_applied_meta(key, value);
            if (!r) {
                bad = Status::corruption(
                    fmt::format("meta {}: not a git writer record: '{}'", key, value));
                return false;
            }
            records.push_back(std::move(*r));
            return true;
        });
    if (!s) return s;
    if (!bad) return bad;
    return resolve_records(log, std::move(records));
}

void load_history(const EventLog& log, HistoryIndex& index) {
    auto entries = load_applied_records(log);
    if (!entries) {
        log_line(LogLevel::error, "history.load_failed", {{"error", entries.status().to_string()}});
        return;
    }
    for (HistoryEntry& e : *entries) index.add(std::move(e));
    log_line(LogLevel::info, "history.loaded",
             {{"records", std::to_string(entries->size())},
              {"versions", std::to_string(index.versions())}});
}

}  // namespace netkeep::api
