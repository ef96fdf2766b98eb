#pragma once
// What GET /readyz and the storage metrics read: samples of the log's health, the git
// writer's progress and health, the spool's usage and the last spool failure, kept
// current by a loop that runs once a second (probing an idle log with a small meta write,
// scanning the spool every 30 s). The decision itself is readiness_reasons()
// (api/readiness.hpp), a pure function of readiness_input().
//
// Threads: the io thread. The probe write and the spool scan run on the blocking pool;
// the git writer's functions are safe to call from any thread (GitWriter::applied_seq,
// GitWriter::health).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include "api/metrics.hpp"
#include "api/readiness.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/spool.hpp"

namespace netkeep::api {

class ReadinessMonitor {
public:
    // `now` is the clock the probe writes into its meta value.
    ReadinessMonitor(asio::io_context& io, asio::thread_pool& blocking, EventLog& log,
                     const Spool& spool, ReadinessLimits limits, std::function<unix_time()> now);

    // The git writer's progress and health; unset (--no-git-writer): no git readiness or metrics.
    void set_git(std::function<std::uint64_t()> applied_seq,
                 std::function<GitWriterHealth()> health);
    // A log consumer's health (notification targets, git mirrors), for /metrics, and for
    // /readyz's warnings. Before run_background(); providers are called on the io thread
    // and must be cheap (ConsumerHealth's contract).
    void add_consumers(std::function<std::vector<ConsumerHealth>()> provider);
    std::vector<ConsumerHealth> consumers() const;

    // Starts the once-a-second loop on the io_context; stop() ends it.
    void run_background();
    void stop();

    // An upload the spool refused (create, write, sync): counted, and unready for a while.
    void spool_failed(SpoolOp op, const Status& error);
    // An upload stored durably: the spool takes uploads again; its usage grows until the next scan.
    void upload_stored(std::uint64_t bytes);

    ReadinessInput readiness_input() const;
    const ReadinessLimits& limits() const { return limits_; }
    bool ready() const { return readiness_reasons(readiness_input(), limits_).empty(); }
    StorageSnapshot storage() const;
    // nullopt with --no-git-writer.
    std::optional<std::uint64_t> git_applied_seq() const;
    std::optional<GitWriterHealth> writer_health() const;

private:
    asio::awaitable<void> loop();
    void sample_git(std::chrono::steady_clock::time_point now);
    asio::awaitable<void> probe_idle_log(std::chrono::steady_clock::time_point now);
    asio::awaitable<void> scan_spool();

    asio::thread_pool& blocking_;
    EventLog& log_;
    const Spool& spool_;
    ReadinessLimits limits_;
    std::function<unix_time()> now_;
    std::function<std::uint64_t()> git_applied_seq_;
    std::function<GitWriterHealth()> git_health_;
    std::vector<std::function<std::vector<ConsumerHealth>()>> consumers_;

    StorageCounters storage_counters_;
    std::optional<SpoolUsage> spool_usage_;  // absent until the first scan
    std::optional<ReadinessInput::SpoolFailure> spool_failure_;
    std::uint64_t git_applied_sample_ = 0;
    std::chrono::steady_clock::time_point git_applied_changed_{};
    std::optional<std::chrono::steady_clock::time_point> probe_at_;
    Status probe_;
    asio::steady_timer timer_;
    bool stopping_ = false;
};

}  // namespace netkeep::api
