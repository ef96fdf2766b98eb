#include "bin/retention_runner.hpp"

#include <pthread.h>

#include <fmt/format.h>

#include "netkeep/logger.hpp"

namespace netkeep::netkeepd {

namespace {
RetentionOptions with_stop(RetentionOptions options, const std::atomic<bool>& stop) {
    options.stop = [&stop] { return stop.load(); };
    return options;
}
}  // namespace

RetentionRunner::RetentionRunner(EventLog& log, RetentionOptions options,
                                 std::chrono::milliseconds delay, std::chrono::milliseconds every)
    : log_(log),
      options_(with_stop(std::move(options), stop_requested_)),
      delay_(delay),
      every_(every) {
    thread_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "netkeep-retain");
        run();
    });
}

RetentionRunner::~RetentionRunner() { stop(); }

void RetentionRunner::stop() {
    {
        MutexLock lock(mutex_);
        stopping_ = true;
    }
    stop_requested_ = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RetentionRunner::run() {
    auto next = std::chrono::steady_clock::now() + delay_;
    for (;;) {
        {
            MutexLock lock(mutex_);
            while (!stopping_ && wake_.wait_until(mutex_, next)) {
            }
            if (stopping_) return;
        }
        run_pass();
        next = std::chrono::steady_clock::now() + every_;
    }
}

void RetentionRunner::run_pass() {
    auto report = apply_retention(log_, options_);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    MutexLock lock(mutex_);
    last_pass_at_ = now;
    if (!report) {
        failures_ += 1;
        log_line(LogLevel::error, "retention.failed",
                 {{"error", report.status().to_string()},
                  {"action", "nothing is lost; the next pass tries again"}});
        return;
    }
    passes_ += 1;
    archived_total_ += report->archived;
    removed_total_ += report->removed;
    last_pass_seconds_ = report->seconds;
    log_line(LogLevel::info, "retention.pass",
             {{"first_seq", std::to_string(report->first_seq_after)},
              {"removed", std::to_string(report->removed)},
              {"archived", std::to_string(report->archived)},
              {"segments", std::to_string(report->segments)},
              {"stored_bytes", std::to_string(report->stored_bytes)},
              {"limited_by", report->limited_by},
              {"ms", fmt::format("{:.0f}", report->seconds * 1000)}});
}

std::string RetentionRunner::metrics_text() const {
    MutexLock lock(mutex_);
    return fmt::format(
        "# HELP netkeep_log_first_seq The first seq the event log holds (retention).\n"
        "# TYPE netkeep_log_first_seq gauge\n"
        "netkeep_log_first_seq {}\n"
        "# HELP netkeep_retention_archived_events_total Events written to archive segments.\n"
        "# TYPE netkeep_retention_archived_events_total counter\n"
        "netkeep_retention_archived_events_total {}\n"
        "# HELP netkeep_retention_removed_events_total Events removed from the event log.\n"
        "# TYPE netkeep_retention_removed_events_total counter\n"
        "netkeep_retention_removed_events_total {}\n"
        "# HELP netkeep_retention_passes_total Retention passes, by result.\n"
        "# TYPE netkeep_retention_passes_total counter\n"
        "netkeep_retention_passes_total{{result=\"ok\"}} {}\n"
        "netkeep_retention_passes_total{{result=\"failed\"}} {}\n"
        "# HELP netkeep_retention_last_pass_timestamp_seconds When the last pass ended.\n"
        "# TYPE netkeep_retention_last_pass_timestamp_seconds gauge\n"
        "netkeep_retention_last_pass_timestamp_seconds {:.0f}\n"
        "# HELP netkeep_retention_last_pass_seconds How long the last good pass took.\n"
        "# TYPE netkeep_retention_last_pass_seconds gauge\n"
        "netkeep_retention_last_pass_seconds {:.3f}\n",
        log_.first_seq(), archived_total_, removed_total_, passes_, failures_, last_pass_at_,
        last_pass_seconds_);
}

}  // namespace netkeep::netkeepd
