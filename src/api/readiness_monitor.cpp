#include "api/readiness_monitor.hpp"

#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "netkeep/logger.hpp"

namespace netkeep::api {

ReadinessMonitor::ReadinessMonitor(asio::io_context& io, asio::thread_pool& blocking, EventLog& log,
                                   const Spool& spool, ReadinessLimits limits,
                                   std::function<unix_time()> now)
    : blocking_(blocking),
      log_(log),
      spool_(spool),
      limits_(limits),
      now_(std::move(now)),
      timer_(io) {}

void ReadinessMonitor::set_git(std::function<std::uint64_t()> applied_seq,
                               std::function<GitWriterHealth()> health) {
    git_applied_seq_ = std::move(applied_seq);
    git_health_ = std::move(health);
}

void ReadinessMonitor::add_consumers(std::function<std::vector<ConsumerHealth>()> provider) {
    consumers_.push_back(std::move(provider));
}

std::vector<ConsumerHealth> ReadinessMonitor::consumers() const {
    std::vector<ConsumerHealth> out;
    for (const auto& provider : consumers_)
        for (ConsumerHealth& h : provider()) out.push_back(std::move(h));
    return out;
}

void ReadinessMonitor::run_background() {
    asio::co_spawn(timer_.get_executor(), loop(), asio::detached);
}

void ReadinessMonitor::stop() {
    stopping_ = true;
    timer_.cancel();
}

void ReadinessMonitor::spool_failed(SpoolOp op, const Status& error) {
    storage_counters_.count(op, error);
    spool_failure_ = ReadinessInput::SpoolFailure{error.code(), std::chrono::steady_clock::now()};
}

void ReadinessMonitor::upload_stored(std::uint64_t bytes) {
    spool_failure_.reset();
    if (spool_usage_) {
        spool_usage_->files += 1;
        spool_usage_->bytes += bytes;
    }
}

ReadinessInput ReadinessMonitor::readiness_input() const {
    ReadinessInput in;
    in.now = std::chrono::steady_clock::now();
    in.log = log_.health();
    in.probe_at = probe_at_;
    in.probe = probe_;
    if (git_applied_seq_)
        in.git = ReadinessInput::Git{log_.last_seq(), git_applied_sample_, git_applied_changed_};
    if (git_health_) in.writer = git_health_();
    in.spool_failure = spool_failure_;
    in.consumers = consumers();
    return in;
}

StorageSnapshot ReadinessMonitor::storage() const {
    StorageSnapshot s;
    s.counters = storage_counters_;
    s.log = log_.health();
    s.spool = spool_usage_;
    s.ready = ready();
    return s;
}

std::optional<std::uint64_t> ReadinessMonitor::git_applied_seq() const {
    if (!git_applied_seq_) return std::nullopt;
    return git_applied_seq_();
}

std::optional<GitWriterHealth> ReadinessMonitor::writer_health() const {
    if (!git_health_) return std::nullopt;
    return git_health_();
}

asio::awaitable<void> ReadinessMonitor::loop() {
    constexpr auto k_spool_scan_every = std::chrono::seconds(30);
    auto next_scan = std::chrono::steady_clock::now();
    git_applied_changed_ = next_scan;  // a writer catching up after start is not stalled
    while (!stopping_) {
        try {
            const auto now = std::chrono::steady_clock::now();
            sample_git(now);
            co_await probe_idle_log(now);
            if (now >= next_scan) {
                next_scan = now + k_spool_scan_every;
                co_await scan_spool();
            }
        } catch (const std::exception& e) {
            log_line(LogLevel::error, "health.loop_failed", {{"error", e.what()}});
        }
        timer_.expires_after(std::chrono::seconds(1));
        asio::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void ReadinessMonitor::sample_git(std::chrono::steady_clock::time_point now) {
    if (!git_applied_seq_) return;
    std::uint64_t applied = git_applied_seq_();
    if (applied != git_applied_sample_ || log_.last_seq() <= applied) git_applied_changed_ = now;
    git_applied_sample_ = applied;
}

// An idle log is probed with a small synced meta write, so that readiness says whether it
// can write now, not whether it could half an hour ago.
asio::awaitable<void> ReadinessMonitor::probe_idle_log(std::chrono::steady_clock::time_point now) {
    LogHealth health = log_.health();
    const auto window = limits_.log_write_window;
    if (health.state != LogHealth::State::ok ||
        (health.last_write && now - *health.last_write <= window) ||
        (probe_at_ && now - *probe_at_ <= window))
        co_return;
    probe_ = co_await asio::co_spawn(
        blocking_,
        [this]() -> asio::awaitable<Status> {
            co_return log_.put_meta("readyz.probe", std::to_string(now_()));
        },
        asio::use_awaitable);
    probe_at_ = std::chrono::steady_clock::now();
    if (!probe_) log_line(LogLevel::error, "log.probe_failed", {{"error", probe_.to_string()}});
}

asio::awaitable<void> ReadinessMonitor::scan_spool() {
    // co_spawn needs a default-constructible result: an optional, not a Result.
    auto usage = co_await asio::co_spawn(
        blocking_,
        [this]() -> asio::awaitable<std::optional<SpoolUsage>> {
            auto u = spool_.usage();
            if (!u) co_return std::nullopt;
            co_return *u;
        },
        asio::use_awaitable);
    if (usage) spool_usage_ = *usage;
}

}  // namespace netkeep::api
