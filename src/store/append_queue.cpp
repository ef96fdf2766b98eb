#include "store/append_queue.hpp"

#include <fmt/format.h>

#include "core/event_format.hpp"

namespace netkeep {

std::string_view log_state_name(LogHealth::State state) {
    switch (state) {
        case LogHealth::State::ok:
            return "ok";
        case LogHealth::State::recovering:
            return "recovering";
        case LogHealth::State::failed:
            return "failed";
    }
    return "unknown";
}

namespace store {

Status write_refusal(const LogHealth& health) {
    switch (health.state) {
        case LogHealth::State::ok:
            return Status::ok();
        case LogHealth::State::recovering:
            return health.error;
        case LogHealth::State::failed:
            return Status::unavailable(fmt::format(
                "the event log failed and accepts no write until netkeepd restarts ({})",
                health.error.to_string()));
    }
    return Status::ok();
}

void AppendQueue::push(const std::vector<Event>& events, EventLog::AppendCallback done) {
    if (events.empty()) {
        done(Status::invalid_argument("append of no events"));
        return;
    }
    // Encode on the caller's thread: the writer thread should only batch and sync.
    Pending p;
    p.records.reserve(events.size());
    for (const auto& e : events) p.records.push_back(event_format::encode(e));
    p.done = std::move(done);
    {
        MutexLock lock(mutex_);
        if (!closing_) {
            queue_.push_back(std::move(p));
            changed_.notify_one();
            return;
        }
    }
    p.done(Status::unavailable("event log is closed"));
}

std::optional<std::deque<AppendQueue::Pending>> AppendQueue::take(std::chrono::milliseconds wait) {
    MutexLock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!closing_ && (queue_.empty() || held_))
        if (!changed_.wait_until(mutex_, deadline)) break;
    if (closing_ && queue_.empty()) return std::nullopt;  // everything accepted is written
    std::deque<Pending> batch;
    if (!held_ || closing_) batch.swap(queue_);
    return batch;
}

void AppendQueue::close() {
    MutexLock lock(mutex_);
    closing_ = true;
    changed_.notify_one();
}

void AppendQueue::set_held(bool held) {
    MutexLock lock(mutex_);
    held_ = held;
    changed_.notify_one();
}

std::size_t AppendQueue::size() const {
    MutexLock lock(mutex_);
    return queue_.size();
}

}  // namespace store
}  // namespace netkeep
