// The git writer's batch boundary: the batch's commits onto main (one pack, one ref
// update), then the cursor and the records of what was applied into the log's meta, then
// the spool files no restart can need again. Progress (git_writer_impl.hpp) states the
// invariants this order keeps.

#include "gitwriter/git_writer_impl.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::gitwriter {

// Publishes the batch (its commits reach main), then makes the cursor durable with the
// records of the completions it covers, then drops their spool files. The order
// matters: the cursor never passes a commit that is not on main, and a file is gone
// only once no restart can apply its event again.
Status GitWriterImpl::flush() {
    if (Status s = repo_->publish(); !s) {
        progress_.rewind_to_published();
        return repo_fault(s);
    }
    progress_.published = progress_.cursor;
    applied_.store(progress_.cursor);

    std::vector<std::pair<std::string, std::string>> meta;
    for (const auto& [seq, record] : progress_.records)
        meta.emplace_back(applied_key(seq), format_applied_record(record));
    // The inventory seq before (or with) the cursor that passes it: recover() relies on it.
    if (progress_.inventory > progress_.persisted_inventory)
        meta.emplace_back(std::string(k_inventory_key), std::to_string(progress_.inventory));
    if (progress_.cursor > progress_.persisted)
        meta.emplace_back(std::string(k_cursor_key), std::to_string(progress_.cursor));
    if (!meta.empty())
        if (Status s = log_.put_meta_batch(meta); !s) return s;
    if (options_.on_applied && !progress_.records.empty()) {
        std::vector<GitAppliedRecord> applied;
        applied.reserve(progress_.records.size());
        for (auto& [seq, record] : progress_.records)
            applied.push_back(
                {seq, std::move(record.blob), std::move(record.commit), std::move(record.path)});
        options_.on_applied(std::move(applied));
    }
    progress_.records.clear();
    progress_.persisted_inventory = progress_.inventory;
    progress_.persisted = progress_.cursor;

    for (const auto& [seq, name] : progress_.spool_to_remove)
        drop_spool(name);  // with a retention, the sweep
    progress_.spool_to_remove.clear();
    return Status::ok();
}

void GitWriterImpl::drop_spool(const std::string& name) {
    if (name.empty() || options_.spool_retention.count() > 0) return;  // the sweep takes it in time
    if (Status s = spool_.remove(name); !s)
        log_line(LogLevel::warn, "gitwriter.spool_remove_failed",
                 {{"spool", name}, {"error", s.message()}});
}

}  // namespace netkeep::gitwriter
