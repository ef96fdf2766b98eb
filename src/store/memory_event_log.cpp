// The in-memory EventLog (memory_event_log.hpp). It follows rocks_event_log.cpp step for
// step where the contract is concerned (queue, writer thread, refusals, resume attempts)
// and replaces RocksDB with a vector of encoded records.

#include "store/memory_event_log.hpp"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <future>

#include <fmt/format.h>

#include "core/event_format.hpp"

namespace netkeep {

namespace {

using State = LogHealth::State;
using clock = std::chrono::steady_clock;

}  // namespace

// --- MemoryEventStore

std::uint64_t MemoryEventStore::size() const {
    MutexLock lock(mutex_);
    return records_.size();
}

std::optional<std::string> MemoryEventStore::record(std::uint64_t seq) const {
    MutexLock lock(mutex_);
    if (seq == 0 || seq > records_.size()) return std::nullopt;
    if (seq < reclaimed_.first_seq &&
        !std::binary_search(reclaimed_.pinned.begin(), reclaimed_.pinned.end(), seq))
        return std::nullopt;
    return records_[seq - 1];
}

std::uint64_t MemoryEventStore::removed() const {
    MutexLock lock(mutex_);
    const std::uint64_t below = std::min<std::uint64_t>(reclaimed_.first_seq - 1, records_.size());
    return below - reclaimed_.pinned.size();
}

void MemoryEventStore::reclaim(const store::RetiredPrefix& prefix) {
    MutexLock lock(mutex_);
    const std::uint64_t end = std::min<std::uint64_t>(prefix.first_seq - 1, records_.size());
    for (std::uint64_t seq = 1; seq <= end; ++seq)
        if (!std::binary_search(prefix.pinned.begin(), prefix.pinned.end(), seq))
            std::string().swap(records_[seq - 1]);
    if (prefix.first_seq > reclaimed_.first_seq) reclaimed_ = prefix;
}

void MemoryEventStore::replace_record(std::uint64_t seq, std::string value) {
    MutexLock lock(mutex_);
    assert(seq >= 1 && seq <= records_.size());
    records_.at(seq - 1) = std::move(value);
}

std::uint64_t MemoryEventStore::append(std::vector<std::string>&& values) {
    MutexLock lock(mutex_);
    const std::uint64_t first = records_.size() + 1;
    for (auto& v : values) records_.push_back(std::move(v));
    return first;
}

void MemoryEventStore::put_meta(const std::vector<std::pair<std::string, std::string>>& entries) {
    MutexLock lock(mutex_);
    for (const auto& [key, value] : entries) meta_[key] = value;
}

std::optional<std::string> MemoryEventStore::get_meta(const std::string& key) const {
    MutexLock lock(mutex_);
    auto it = meta_.find(key);
    if (it == meta_.end()) return std::nullopt;
    return it->second;
}

std::vector<std::pair<std::string, std::string>> MemoryEventStore::meta_with_prefix(
    std::string_view prefix) const {
    MutexLock lock(mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = meta_.lower_bound(prefix); it != meta_.end() && it->first.starts_with(prefix);
         ++it)
        out.emplace_back(it->first, it->second);
    return out;
}

// --- MemoryEventLog: opening and closing

MemoryEventLog::MemoryEventLog(EventLogOptions options)
    : MemoryEventLog(OpenKey{}, std::make_shared<MemoryEventStore>(), std::move(options)) {
    MutexLock lock(store_->mutex_);
    store_->open_ = true;  // a fresh store: nobody else can hold it
}

Result<std::unique_ptr<MemoryEventLog>> MemoryEventLog::open(
    std::shared_ptr<MemoryEventStore> store, EventLogOptions options) {
    {
        MutexLock lock(store->mutex_);
        if (store->open_)
            return Status::unavailable("the memory event log's store is held by another open log");
        store->open_ = true;
    }
    return std::make_unique<MemoryEventLog>(OpenKey{}, std::move(store), std::move(options));
}

MemoryEventLog::MemoryEventLog(OpenKey, std::shared_ptr<MemoryEventStore> store,
                               EventLogOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
    last_seq_ = store_->size();
    // A malformed prefix in meta is the tests' business: a fresh view keeps everything.
    auto first = store_->get_meta(store::k_first_seq_key);
    auto pinned = store_->get_meta(store::k_pinned_key);
    if (auto prefix = store::parse_prefix(first.value_or(""), pinned.value_or("")))
        prefix_ = *prefix;
    writer_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "netkeep-memlog");
        run_writer();
    });
}

MemoryEventLog::~MemoryEventLog() { close(); }

void MemoryEventLog::close() {
    // Serialises concurrent close() calls: the second returns once the first is done.
    MutexLock serial(close_mutex_);
    if (!writer_.joinable()) return;
    queue_.close();
    writer_.join();  // everything accepted is written first
    {
        MutexLock lock(mutex_);
        closed_ = true;
    }
    tail_cv_.notify_all();
    MutexLock lock(store_->mutex_);
    store_->open_ = false;
}

// --- appends

Result<SeqRange> MemoryEventLog::append(const std::vector<Event>& events) {
    std::promise<Result<SeqRange>> done;
    auto result = done.get_future();
    append_async(events, [&done](Result<SeqRange> r) { done.set_value(std::move(r)); });
    return result.get();
}

void MemoryEventLog::append_async(const std::vector<Event>& events, AppendCallback done) {
    queue_.push(events, std::move(done));
}

void MemoryEventLog::run_writer() {
    // Woken at least every resume_every, so a recovering log resumes without an append to
    // wake it (as the RocksDB log).
    while (auto batch = queue_.take(options_.resume_every)) {
        bool recovering = false;
        {
            MutexLock lock(mutex_);
            recovering = health_.state == State::recovering;
        }
        if (recovering) try_resume();
        if (!batch->empty()) write_batch(*batch);
    }
}

// At most once per resume_every, as RocksEventLog::try_resume calls DB::Resume().
void MemoryEventLog::try_resume() {
    const auto now = clock::now();
    if (now < next_resume_) return;
    next_resume_ = now + options_.resume_every;
    MutexLock lock(mutex_);
    if (health_.state != State::recovering) return;
    if (disk_full_) {
        health_.no_space_errors += 1;  // the resume's own write found no space either
        return;
    }
    health_.state = State::ok;
    health_.error = Status::ok();
    health_.since = now;
    health_.resumes += 1;
}

// One store append for every append that queued up meanwhile (group commit).
void MemoryEventLog::write_batch(std::deque<store::AppendQueue::Pending>& batch) {
    std::vector<std::string> records;
    for (auto& p : batch)
        for (auto& r : p.records) records.push_back(std::move(r));
    const std::uint64_t count = records.size();
    Status status = refusal();
    if (status) {
        if (auto fault = take_fault()) {
            // Stored but never acknowledged: a restart may see them (EventLog's contract).
            if (*fault == WriteFault::sync_failed) (void)store_->append(std::move(records));
            status = fail_write(*fault);
        }
    }
    if (!status) {
        for (auto& p : batch) p.done(status);
        return;
    }
    const std::uint64_t first = store_->append(std::move(records));
    {
        MutexLock lock(mutex_);
        last_seq_ = first + count - 1;
        health_.last_write = clock::now();
    }
    tail_cv_.notify_all();
    std::uint64_t cursor = first;
    for (auto& p : batch) {
        const SeqRange range{cursor, cursor + p.records.size() - 1};
        cursor += p.records.size();
        p.done(range);
    }
}

// --- faults and health

Status MemoryEventLog::refusal() const {
    MutexLock lock(mutex_);
    return store::write_refusal(health_);
}

std::optional<WriteFault> MemoryEventLog::take_fault() {
    MutexLock lock(mutex_);
    if (disk_full_) return WriteFault::no_space;
    return std::exchange(next_fault_, std::nullopt);
}

Status MemoryEventLog::fail_write(WriteFault fault) {
    Status error;
    bool report = false;
    {
        MutexLock lock(mutex_);
        const auto now = clock::now();
        switch (fault) {
            case WriteFault::transient:
                health_.io_errors += 1;
                return Status::io_error("injected: transient write error");
            case WriteFault::no_space:
                error = Status::no_space("injected: no space left on device");
                health_.no_space_errors += 1;
                if (health_.state == State::ok) {
                    health_.state = State::recovering;
                    health_.error = error;
                    health_.since = now;
                }
                return error;
            case WriteFault::sync_failed:
                error = Status::io_error("injected: fsync failed (EIO)");
                health_.io_errors += 1;
                if (health_.state != State::failed) {
                    health_.state = State::failed;
                    health_.error = error;
                    health_.since = now;
                }
                report = !std::exchange(failed_reported_, true);
                break;
        }
    }
    // Outside the lock: on_failed may read health() (it must not write to the log).
    if (report && options_.on_failed) options_.on_failed(error);
    return error;
}

LogHealth MemoryEventLog::health() const {
    MutexLock lock(mutex_);
    return health_;
}

void MemoryEventLog::fail_next_write(WriteFault fault) {
    MutexLock lock(mutex_);
    next_fault_ = fault;
}

void MemoryEventLog::set_disk_full(bool full) {
    MutexLock lock(mutex_);
    disk_full_ = full;
}

void MemoryEventLog::hold_writes() { queue_.set_held(true); }

void MemoryEventLog::release_writes() { queue_.set_held(false); }

std::size_t MemoryEventLog::queued_appends() const { return queue_.size(); }

// --- reads and meta values

std::uint64_t MemoryEventLog::last_seq() const {
    MutexLock lock(mutex_);
    return last_seq_;
}

std::uint64_t MemoryEventLog::wait_for(std::uint64_t after,
                                       std::chrono::milliseconds timeout) const {
    MutexLock lock(mutex_);
    const auto deadline = clock::now() + timeout;
    while (last_seq_ <= after && !closed_)
        if (!tail_cv_.wait_until(mutex_, deadline)) break;
    return last_seq_;
}

Status MemoryEventLog::scan(std::uint64_t from, std::uint64_t to, const Visitor& visit) const {
    std::uint64_t limit = 0;
    store::RetiredPrefix prefix;
    {
        MutexLock lock(mutex_);
        if (closed_) return Status::unavailable("event log is closed");
        limit = std::min(to, last_seq_);  // acknowledged records only
        prefix = prefix_;
    }
    from = std::max<std::uint64_t>(from, 1);
    auto read = [&](std::uint64_t seq, bool& more) {
        auto value = store_->record(seq);
        if (!value) return Status::corruption(fmt::format("seq {}: missing from the log", seq));
        auto event = event_format::decode(seq, *value);
        if (!event) return event.status();
        more = visit(EventRecord{seq, std::move(*event)});
        return Status::ok();
    };
    // Below first_seq only the pinned records, then gapless (docs/retention.md).
    bool more = true;
    for (std::uint64_t seq : prefix.pinned) {
        if (seq < from || seq > limit) continue;
        if (Status s = read(seq, more); !s || !more) return s;
    }
    // One record at a time, no lock held while visiting: a visitor may call the log.
    for (std::uint64_t seq = std::max(from, prefix.first_seq); seq <= limit; ++seq)
        if (Status s = read(seq, more); !s || !more) return s;
    return Status::ok();
}

std::uint64_t MemoryEventLog::first_seq() const {
    MutexLock lock(mutex_);
    return prefix_.first_seq;
}

std::vector<std::uint64_t> MemoryEventLog::pinned_seqs() const {
    MutexLock lock(mutex_);
    return prefix_.pinned;
}

// As the RocksDB log: durable in meta first, then the view, then (reclaim) the records.
Status MemoryEventLog::retire_prefix(std::uint64_t first_seq,
                                     const std::vector<std::uint64_t>& pinned) {
    store::RetiredPrefix current;
    {
        MutexLock lock(mutex_);
        current = prefix_;
        if (first_seq > last_seq_ + 1)
            return Status::invalid_argument(fmt::format(
                "retention: first_seq {} is past the end of the log ({})", first_seq, last_seq_));
    }
    auto next = store::next_prefix(current, first_seq, pinned);
    if (!next) return next.status();
    if (next->first_seq == current.first_seq) return Status::ok();
    if (Status s = write_meta({{store::k_first_seq_key, std::to_string(next->first_seq)},
                               {store::k_pinned_key, store::format_pinned(next->pinned)}});
        !s)
        return s;
    MutexLock lock(mutex_);
    prefix_ = *next;
    return Status::ok();
}

Status MemoryEventLog::reclaim_retired() {
    store::RetiredPrefix prefix;
    {
        MutexLock lock(mutex_);
        if (closed_) return Status::unavailable("event log is closed");
        prefix = prefix_;
    }
    store_->reclaim(prefix);
    return Status::ok();
}

Status MemoryEventLog::put_meta(const std::string& key, const std::string& value) {
    return write_meta({{key, value}});
}

Status MemoryEventLog::put_meta_batch(
    const std::vector<std::pair<std::string, std::string>>& entries) {
    return write_meta(entries);
}

// Meta writes go straight to the store on the caller's thread, as the RocksDB log's do;
// the same refusals and faults apply.
Status MemoryEventLog::write_meta(const std::vector<std::pair<std::string, std::string>>& entries) {
    {
        MutexLock lock(mutex_);
        if (closed_) return Status::unavailable("event log is closed");
    }
    if (Status refused = refusal(); !refused) return refused;
    if (auto fault = take_fault()) {
        if (*fault == WriteFault::sync_failed) store_->put_meta(entries);
        return fail_write(*fault);
    }
    store_->put_meta(entries);
    MutexLock lock(mutex_);
    health_.last_write = clock::now();
    return Status::ok();
}

Result<std::string> MemoryEventLog::get_meta(const std::string& key) const {
    {
        MutexLock lock(mutex_);
        if (closed_) return Status::unavailable("event log is closed");
    }
    auto value = store_->get_meta(key);
    if (!value) return Status::not_found(fmt::format("reading meta '{}': not found", key));
    return std::move(*value);
}

Status MemoryEventLog::scan_meta(std::string_view prefix, const MetaVisitor& visit) const {
    {
        MutexLock lock(mutex_);
        if (closed_) return Status::unavailable("event log is closed");
    }
    for (const auto& [key, value] : store_->meta_with_prefix(prefix))
        if (!visit(key, value)) break;
    return Status::ok();
}

}  // namespace netkeep
