// netkeepd's snapshot thread (netkeep/snapshot.hpp, docs/snapshots.md).

#include <pthread.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>
#include <variant>

#include "netkeep/logger.hpp"
#include "netkeep/snapshot.hpp"

namespace netkeep {

namespace {

unix_time system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string ms_since(std::chrono::steady_clock::time_point start) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count());
}

constexpr std::uint64_t k_stop_catch_up = 100'000;

// The time and fingerprint of the event at p.last_seq(), as a snapshot header keeps them.
struct LastEvent {
    unix_time at = 0;
    std::uint32_t check = 0;
};
LastEvent last_event(const EventLog& log, std::uint64_t seq) {
    LastEvent out;
    if (seq == 0) return out;
    Status s = log.scan(seq, seq, [&](EventRecord&& r) {
        out.at = std::visit([](const auto& e) { return e.at; }, r.event);
        out.check = snapshot_event_check(r.event);
        return false;
    });
    (void)s;  // an unreadable event leaves the check unknown (0) and the time 0
    return out;
}

// Applies the log's events after p.last_seq() through `through` to a projection whose
// indexes stay deferred: a snapshot holds no index, so none is kept up event by event. A
// long backlog goes through replay(), which decodes on a second thread.
Status follow(const EventLog& log, std::uint64_t through, Projection& p) {
    if (through <= p.last_seq()) return Status::ok();
    if (through - p.last_seq() > 100'000) {
        Status s = replay(log, through, p);
        p.defer_indexing();
        return s;
    }
    Status applied = Status::ok();
    Status scanned = log.scan(p.last_seq() + 1, through, [&](EventRecord&& r) {
        applied = p.apply(r);
        return applied.is_ok();
    });
    return scanned ? applied : scanned;
}

}  // namespace

SnapshotWriter::SnapshotWriter(const EventLog& log, SnapshotWriterOptions options)
    : log_(log), options_(std::move(options)) {
    if (!options_.now) options_.now = system_now;
}

SnapshotWriter::~SnapshotWriter() { stop(); }

void SnapshotWriter::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "netkeep-snap");
        run();
    });
}

void SnapshotWriter::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

SnapshotStats SnapshotWriter::stats() const {
    MutexLock lock(mutex_);
    return stats_;
}

bool SnapshotWriter::write_now(Projection& p, unix_time at, std::uint32_t check) {
    const auto started = std::chrono::steady_clock::now();
    auto written = write_snapshot(options_.dir, p, at, check);
    if (!written) {
        log_line(LogLevel::error, "snapshot.failed",
                 {{"seq", std::to_string(p.last_seq())}, {"error", written.status().to_string()}});
        MutexLock lock(mutex_);
        stats_.failures += 1;
        return false;
    }
    const std::string ms = ms_since(started);
    log_line(LogLevel::info, "snapshot.written",
             {{"seq", std::to_string(written->seq)},
              {"bytes", std::to_string(written->bytes)},
              {"ms", ms}});
    {
        MutexLock lock(mutex_);
        stats_.last_seq = written->seq;
        stats_.last_bytes = written->bytes;
        stats_.last_written = options_.now();
        stats_.written += 1;
    }
    if (Status s = thin_snapshots(options_.dir, options_.keep_days, options_.now()); !s)
        log_line(LogLevel::warn, "snapshot.thin_failed", {{"error", s.to_string()}});
    return true;
}

void SnapshotWriter::run() {
    const auto started = std::chrono::steady_clock::now();
    // Snapshots ahead of the log (it was restored from an older backup) can never serve it;
    // left in place they would be skipped with a warning at every start, and look like the
    // newest snapshot to retention.
    for (const SnapshotInfo& info : list_snapshots(options_.dir)) {
        if (info.seq <= log_.last_seq()) break;
        std::error_code ec;
        std::filesystem::remove(info.path, ec);
        log_line(
            LogLevel::warn, "snapshot.removed",
            {{"path", info.path},
             {"why", "ahead of the log, which ends at seq " + std::to_string(log_.last_seq())}});
    }
    Projection p;
    std::uint64_t written_seq = 0;
    if (auto loaded = load_newest_snapshot(options_.dir, log_.last_seq(),
                                           std::numeric_limits<unix_time>::max(),
                                           snapshot_matches_log(log_))) {
        p = std::move(loaded->projection);
        written_seq = loaded->info.seq;
        struct stat st {};
        const bool dated = ::stat(loaded->info.path.c_str(), &st) == 0;
        MutexLock lock(mutex_);
        stats_.last_seq = loaded->info.seq;
        stats_.last_bytes = loaded->info.bytes;
        stats_.last_written = dated ? unix_time(st.st_mtime) : loaded->header.at;
    }
    p.defer_indexing();
    log_line(LogLevel::info, "snapshot.writer_started",
             {{"from_snapshot", std::to_string(written_seq)}, {"ms", ms_since(started)}});
    auto last_write = std::chrono::steady_clock::now();
    const std::uint64_t every = options_.every;
    for (;;) {
        const bool stopping = stopping_;
        // In steps of at most `every` events, so that a long backlog (the first start on a
        // long log) is snapshotted on the way.
        std::uint64_t target = log_.last_seq();
        if (every && !stopping) target = std::min(target, written_seq + every);
        // At a stop, a short catch-up only: a thread far behind (the first start on a long
        // log) must not hold the shutdown for minutes.
        if (stopping) target = std::min(target, p.last_seq() + k_stop_catch_up);
        if (target > p.last_seq())
            if (Status s = follow(log_, target, p); !s) {
                log_line(LogLevel::error, "snapshot.replay_failed", {{"error", s.to_string()}});
                MutexLock lock(mutex_);
                stats_.failures += 1;
                return;
            }
        const bool changed = p.last_seq() > written_seq;
        const bool by_count = every && p.last_seq() >= written_seq + every;
        const bool by_time = options_.interval.count() > 0 &&
                             std::chrono::steady_clock::now() - last_write >= options_.interval;
        if (changed && (by_count || by_time || (stopping && options_.write_at_stop))) {
            // Without its last event's time a snapshot would look older than it is to
            // `netkeepctl state --at TIME`: not written (the next trigger tries again).
            const LastEvent e = last_event(log_, p.last_seq());
            if (e.check != 0 && write_now(p, e.at, e.check)) written_seq = p.last_seq();
            last_write = std::chrono::steady_clock::now();
        } else if (!changed && by_time) {
            last_write = std::chrono::steady_clock::now();  // nothing new: nothing to write
        }
        if (stopping) return;
        if (log_.last_seq() <= p.last_seq())
            log_.wait_for(p.last_seq(), std::chrono::milliseconds(200));
    }
}

}  // namespace netkeep
