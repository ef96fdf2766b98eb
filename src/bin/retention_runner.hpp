#pragma once
// netkeepd's retention passes (docs/retention.md): on a thread of their own, `delay` after
// start and then every `every`, so that archiving and compaction never hold up the io
// thread or an append. Each pass logs `retention.pass` (or `retention.failed`) and feeds
// the metrics.
//
// Threads: start/stop/metrics_text from any thread; passes on the runner's thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "netkeep/event_log.hpp"
#include "netkeep/mutex.hpp"
#include "netkeep/retention.hpp"

namespace netkeep::netkeepd {

class RetentionRunner {
public:
    // options.now is ignored (each pass takes the clock).
    RetentionRunner(EventLog& log, RetentionOptions options, std::chrono::milliseconds delay,
                    std::chrono::milliseconds every);
    ~RetentionRunner();
    RetentionRunner(const RetentionRunner&) = delete;
    RetentionRunner& operator=(const RetentionRunner&) = delete;

    void stop();
    // Prometheus text: first_seq, archived events, the last pass.
    std::string metrics_text() const;

private:
    void run();
    void run_pass();

    EventLog& log_;
    const RetentionOptions options_;
    const std::chrono::milliseconds delay_;
    const std::chrono::milliseconds every_;
    mutable Mutex mutex_;
    CondVar wake_;
    bool stopping_ GUARDED_BY(mutex_) = false;
    std::atomic<bool> stop_requested_{false};  // stopping_, for a pass in progress
    std::uint64_t archived_total_ GUARDED_BY(mutex_) = 0;
    std::uint64_t removed_total_ GUARDED_BY(mutex_) = 0;
    std::uint64_t passes_ GUARDED_BY(mutex_) = 0;
    std::uint64_t failures_ GUARDED_BY(mutex_) = 0;
    double last_pass_at_ GUARDED_BY(mutex_) = 0;  // unix seconds
    double last_pass_seconds_ GUARDED_BY(mutex_) = 0;
    std::thread thread_;  // last: starts after the members above
};

}  // namespace netkeep::netkeepd
