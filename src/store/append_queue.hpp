#pragma once
// What both event logs share (RocksDB's and the in-memory one): when a write is refused,
// and the group-commit queue. An append is encoded on the caller's thread and queued;
// the log's writer thread takes everything queued at once and writes it as one batch
// with one sync, so appenders share the cost of the sync.
//
// Threads: push() from any thread, take() from the writer thread only.

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "netkeep/event_log.hpp"
#include "netkeep/mutex.hpp"

namespace netkeep::store {

// Why a log in this health refuses a write without trying it; ok when writes may be tried.
Status write_refusal(const LogHealth& health);

class AppendQueue {
public:
    struct Pending {
        std::vector<std::string> records;  // encoded (core/event_format.hpp)
        EventLog::AppendCallback done;
    };

    // Encodes and queues `events`, or calls `done` at once: InvalidArgument for no events,
    // Unavailable once closed.
    void push(const std::vector<Event>& events, EventLog::AppendCallback done) EXCLUDES(mutex_);

    // Writer: waits until something is queued (and not held), the queue closes, or `wait`
    // passes (the writer's chance to do periodic work), then takes everything queued
    // (maybe nothing). nullopt once closed and drained: the writer ends.
    std::optional<std::deque<Pending>> take(std::chrono::milliseconds wait) EXCLUDES(mutex_);

    // No more appends; take() hands out what was accepted, then nullopt.
    void close() EXCLUDES(mutex_);

    // Tests (MemoryEventLog::hold_writes): while held, take() leaves appends queued, unless
    // closing.
    void set_held(bool held) EXCLUDES(mutex_);
    std::size_t size() const EXCLUDES(mutex_);

private:
    mutable Mutex mutex_;
    CondVar changed_;
    std::deque<Pending> queue_ GUARDED_BY(mutex_);
    bool held_ GUARDED_BY(mutex_) = false;
    bool closing_ GUARDED_BY(mutex_) = false;
};

}  // namespace netkeep::store
