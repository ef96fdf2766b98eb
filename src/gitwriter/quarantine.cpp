// The git writer's poison events (docs/git.md#quarantine): recording an event as
// quarantined (a completion is then skipped, an inventory held), and applying the ones
// an operator retried (`netkeepctl quarantine retry`) late, on top of main.

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::gitwriter {

namespace {

// The event at seq, when it is a completion.
Result<std::optional<CompletionRecorded>> read_completion(EventLog& log, std::uint64_t seq) {
    std::optional<CompletionRecorded> event;
    Status s = log.scan(seq, seq, [&](EventRecord&& r) {
        if (auto* c = std::get_if<CompletionRecorded>(&r.event)) event = std::move(*c);
        return false;
    });
    if (!s) return s;
    return event;
}

}  // namespace

// Records the event as quarantined (durably, before the cursor may pass it). A
// completion is then skipped (ok); an inventory is held (a conflict: the writer waits,
// and the repository is not to blame).
Status GitWriterImpl::quarantine(const EventRecord& r, std::string reason, std::uint32_t attempts) {
    const bool inventory = std::holds_alternative<InventoryApplied>(r.event);
    Quarantined q;
    q.inventory = inventory;
    if (auto* c = std::get_if<CompletionRecorded>(&r.event)) q.spool = c->spool;
    q.record.state = inventory ? QuarantineState::held : QuarantineState::quarantined;
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

Status GitWriterImpl::put_quarantine(std::uint64_t seq, const QuarantineRecord& record) {
    return log_.put_meta(quarantine_key(seq), format_quarantine_record(record));
}

// Turns the request files netkeepctl left into durable "retry" records, then applies
// the retried completions late, in order of request. Only between batches: the batch
// is empty and the cursor persisted, so a late commit sits on top of everything the
// cursor covers.
Status GitWriterImpl::handle_retries() {
    if (!progress_.settled()) return Status::ok();
    if (Status s = take_requests(); !s) return s;
    for (;;) {
        std::optional<std::pair<std::uint64_t, std::uint64_t>> next;  // order, seq
        for (const auto& [seq, q] : quarantine_) {
            auto st = q.record.state;
            if (q.inventory || seq > progress_.cursor ||
                (st != QuarantineState::retry && st != QuarantineState::retrying))
                continue;
            if (!next || q.record.order < next->first) next = std::pair(q.record.order, seq);
        }
        if (!next || stopping()) return Status::ok();
        if (Status s = late_apply(next->second); !s) return s;
    }
}

Status GitWriterImpl::take_requests() {
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
        auto seq = parse_u64(name);
        std::string text;
        {
            std::ifstream in(path);
            std::getline(in, text);
        }
        auto order = parse_u64(text);
        auto q = seq ? quarantine_.find(*seq) : quarantine_.end();
        if (!seq || !order || q == quarantine_.end() ||
            (q->second.record.state != QuarantineState::quarantined &&
             q->second.record.state != QuarantineState::held)) {
            log_line(LogLevel::warn, "gitwriter.retry_ignored",
                     {{"request", path},
                      {"why", q == quarantine_.end() ? "no such quarantined event"
                                                     : "not quarantined now"}});
        } else {
            q->second.record.state = QuarantineState::retry;
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
Status GitWriterImpl::late_apply(std::uint64_t seq) {
    auto& q = quarantine_[seq];
    auto event = read_completion(log_, seq);
    if (!event) return event.status();
    if (!*event || (*event)->failure)
        return finish_retry(seq, QuarantineState::superseded, "not a successful completion");
    LateRetry late{std::move(**event), std::nullopt, false};
    if (Status s = scan_since(seq, late); !s) return s;
    auto superseded = [&] {
        return finish_retry(
            seq, QuarantineState::superseded,
            fmt::format("seq {} of the same task was applied after it", *late.newer));
    };
    if (late.newer && q.record.state != QuarantineState::retrying) return superseded();
    InventoryRules at_seq;
    if (late.inventory_since)
        if (Status s = rules_at(seq, at_seq); !s) return s;
    const InventoryRules& rules = late.inventory_since ? at_seq : rules_;
    std::string path = path_of(rules, late.event);

    if (q.record.state == QuarantineState::retrying) {
        // A late apply the writer crashed in: done if its commit made it onto main.
        auto found = repo_->find_late_commit(seq, q.record.after);
        if (!found) return repo_fault(found.status());
        if (*found) {
            auto blob = repo_->blob_at(**found, path);
            if (!blob) return repo_fault(blob.status());
            return finish_applied(seq, late.event, {hex_of(*blob), **found, path});
        }
        if (late.newer) return superseded();  // not committed before the crash, newer since
    }
    return commit_late(seq, late.event, rules, path);
}

// What came after seq, up to the cursor: a newer completion of its task (applied, so
// on main) and whether an inventory changed the rules since.
Status GitWriterImpl::scan_since(std::uint64_t seq, LateRetry& late) {
    return scan_checked(seq + 1, progress_.cursor, [&](EventRecord&& r) {
        if (std::holds_alternative<InventoryApplied>(r.event)) late.inventory_since = true;
        auto* c = std::get_if<CompletionRecorded>(&r.event);
        if (c && !c->failure && c->device == late.event.device && c->job == late.event.job) {
            auto other = quarantine_.find(r.seq);
            if (other == quarantine_.end() ||
                other->second.record.state == QuarantineState::applied)
                late.newer = r.seq;
        }
        return true;
    });
}

// The redaction rules in force at seq: every inventory up to it that was applied (a held
// one that was never retried did not change the rules).
Status GitWriterImpl::rules_at(std::uint64_t seq, InventoryRules& rules) {
    return log_.scan(1, seq, [&](EventRecord&& r) {
        if (auto* inv = std::get_if<InventoryApplied>(&r.event)) {
            auto held = quarantine_.find(r.seq);
            if (held == quarantine_.end() || held->second.record.state == QuarantineState::applied)
                (void)rules.apply(r.seq, *inv);
        }
        return true;
    });
}

// The late commit itself: "retrying" made durable first, then the blob, the commit (with
// Netkeep-Retried-After: the cursor) and its publication, alone, onto main.
Status GitWriterImpl::commit_late(std::uint64_t seq, const CompletionRecorded& event,
                                  const InventoryRules& rules, const std::string& path) {
    auto& q = quarantine_[seq];
    q.record.state = QuarantineState::retrying;
    q.record.after = progress_.cursor;
    if (Status s = put_quarantine(seq, q.record); !s) return s;

    write_marker(seq);
    if (options_.test_before_apply) options_.test_before_apply(seq);
    auto blob = write_blob(seq, event, rules);
    clear_marker();
    if (!blob) {
        if (is_repo_fault(blob.status())) return blob.status();  // retried (still "retrying")
        q.record.state = QuarantineState::quarantined;
        q.record.attempts += 1;
        q.record.at = now_unix();
        q.record.detail = "retry failed: " + blob.status().to_string();
        log_line(LogLevel::error, "gitwriter.quarantined",
                 {{"seq", std::to_string(seq)}, {"reason", q.record.detail}});
        Status s = put_quarantine(seq, q.record);
        publish_health();
        return s;
    }
    auto commit = repo_->commit_file(path, *blob, event.end_timestamp,
                                     format_commit_message(seq, event, progress_.cursor), true);
    if (!commit) {
        repo_->discard();
        return repo_fault(commit.status());
    }
    if (Status s = repo_->publish(); !s) return repo_fault(s);
    log_line(LogLevel::info, "gitwriter.committed_late",
             {{"seq", std::to_string(seq)},
              {"path", path},
              {"commit", **commit},
              {"after", std::to_string(progress_.cursor)}});
    return finish_applied(seq, event, {hex_of(*blob), **commit, path});
}

Status GitWriterImpl::finish_applied(std::uint64_t seq, const CompletionRecorded& c,
                                     AppliedRecord record) {
    auto& q = quarantine_[seq];
    q.record.state = QuarantineState::applied;
    q.record.detail = record.commit;
    // The record and the state in one write: verify never sees one without the other.
    if (Status s = log_.put_meta_batch({{applied_key(seq), format_applied_record(record)},
                                        {quarantine_key(seq), format_quarantine_record(q.record)}});
        !s)
        return s;
    if (options_.on_applied)
        options_.on_applied(
            {{seq, std::move(record.blob), std::move(record.commit), std::move(record.path)}});
    drop_spool(c.spool);
    publish_health();
    return Status::ok();
}

Status GitWriterImpl::finish_retry(std::uint64_t seq, QuarantineState state, std::string detail) {
    auto& q = quarantine_[seq];
    q.record.state = state;
    q.record.detail = std::move(detail);
    if (Status s = put_quarantine(seq, q.record); !s) return s;
    log_line(LogLevel::info, "gitwriter.retry_done",
             {{"seq", std::to_string(seq)},
              {"state", std::string(state_name(state))},
              {"detail", q.record.detail}});
    drop_spool(q.spool);
    publish_health();
    return Status::ok();
}

}  // namespace netkeep::gitwriter
