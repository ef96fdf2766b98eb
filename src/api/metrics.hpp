#pragma once
// netkeepd's Prometheus metrics: the counters the handlers keep, the HTTP request
// histograms, and the text exposition format (version 0.0.4) they are rendered in.
// docs/metrics.md lists every metric.
//
// Threads: everything here belongs to the io thread (the handlers and the append path
// update it, /metrics renders it), so nothing locks and the hot path of /worker/next
// costs a few integer additions. Values other threads own (the log's last seq, the git
// writer's applied seq) are read through their own atomics when rendering.

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/event_counts.hpp"
#include "netkeep/consumer.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/events.hpp"
#include "netkeep/spool.hpp"
#include "netkeep/status.hpp"

namespace netkeep::api {

// label name, value (the value is escaped when written)
using Labels = std::vector<std::pair<std::string_view, std::string>>;

// Writes the text format: a family's HELP and TYPE lines, then its samples.
class Exposition {
public:
    // type: "counter", "gauge" or "histogram".
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const Labels& labels, std::uint64_t value);
    void sample(std::string_view name, const Labels& labels, std::int64_t value);
    void sample(std::string_view name, const Labels& labels, double value);
    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void head(std::string_view name, const Labels& labels);
    std::string out_;
};

// Label values escape '\', '"' and newline; HELP text escapes '\' and newline.
std::string escape_label_value(std::string_view value);

// Request latency buckets, seconds: /worker/next answers in well under a millisecond,
// a large /worker/complete takes seconds.
inline constexpr std::array<double, 14> k_latency_buckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

class Histogram {
public:
    explicit Histogram(std::span<const double> bounds)
        : bounds_(bounds), counts_(bounds.size() + 1, 0) {}
    void observe(double value);
    // name_bucket{labels,le="..."} (cumulative, ending with le="+Inf"), name_sum, name_count.
    void render(Exposition& out, std::string_view name, const Labels& labels) const;
    std::uint64_t count() const { return count_; }

private:
    std::span<const double> bounds_;
    std::vector<std::uint64_t>
        counts_;  // per bucket (not cumulative); the last is (max bound, +Inf)
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// Requests by route pattern, method and status code.
class HttpMetrics {
public:
    class Route {
    public:
        Route(std::string pattern, std::string method)
            : pattern_(std::move(pattern)), method_(std::move(method)) {}
        void observe(int code, double seconds);

    private:
        friend class HttpMetrics;
        std::string pattern_;
        std::string method_;
        std::vector<std::pair<int, Histogram>> by_code_;  // few codes per route: a linear search
    };

    // A stable handle for one route, taken once when the route is registered.
    Route& route(std::string pattern, std::string method);
    // netkeep_http_requests_total and netkeep_http_request_duration_seconds.
    void render(Exposition& out) const;

private:
    std::deque<Route> routes_;  // deque: handles stay valid as routes are added
};

// Counted by the front ends: refusals, and what the git writer reported. The events
// themselves are counted by the engine (engine::EventCounts).
struct Counters {
    std::uint64_t git_commits = 0;  // commits the git writer reported
    std::uint64_t git_records = 0;  // successful completions applied to git (commits or unchanged)
    // Requests refused by --auth: no or unknown token (401), wrong role, tag or lease (403).
    std::uint64_t auth_unauthenticated = 0;
    std::uint64_t auth_forbidden = 0;
    // Connections closed at accept: too many from one address, or in all.
    std::uint64_t connections_refused_per_client = 0;
    std::uint64_t connections_refused_total = 0;
};

// Tasks by status (see task_status in operator_query.hpp), and the overdue ones.
struct TaskCounts {
    std::uint64_t due = 0;
    std::uint64_t scheduled = 0;
    std::uint64_t leased = 0;
    std::uint64_t retrying = 0;
    std::uint64_t overdue = 0;  // not leased and due for longer than k_overdue_after
};

struct GitProgress {
    std::uint64_t applied_seq = 0;
    std::uint64_t lag_events = 0;  // log last seq - applied seq
    double lag_seconds = 0;        // age of the oldest event not applied yet; 0 when caught up
};

// Storage faults seen by the handlers (the log counts its own: LogHealth).
enum class SpoolOp { create, write, sync };
struct StorageCounters {
    // By op (SpoolOp) and kind: [0] no_space, [1] io (any other error).
    std::array<std::array<std::uint64_t, 2>, 3> spool{};
    void count(SpoolOp op, const Status& error) {
        spool[std::size_t(op)][error.code() == Status::Code::no_space ? 0 : 1] += 1;
    }
};

struct StorageSnapshot {
    StorageCounters counters;
    LogHealth log;
    std::optional<SpoolUsage> spool;  // absent until the first scan of the spool dir
    bool ready = true;                // what GET /readyz would answer
};

// From GitWriter::health() (docs/git.md#when-the-writer-is-stuck).
struct WriterHealth {
    bool repo_ok = false;
    std::uint64_t consecutive_failures = 0;
    std::uint64_t errors_total = 0;
    std::uint64_t quarantined = 0;
    std::uint64_t quarantined_total = 0;
    std::uint64_t redaction_lines_skipped = 0;  // lines too long to redact, kept as they were
};

// Everything /metrics shows besides the HTTP histograms.
struct MetricsSnapshot {
    engine::EventCounts events;
    Counters counters;
    std::uint64_t log_last_seq = 0;
    std::uint64_t projection_seq = 0;
    std::optional<GitProgress> git;      // absent with --no-git-writer
    std::optional<WriterHealth> writer;  // absent with --no-git-writer
    TaskCounts tasks;
    std::uint64_t history_versions = 0;
    unix_time start_time = 0;
    StorageSnapshot storage;
    std::vector<ConsumerHealth> consumers;  // notification targets, git mirrors
};

// The whole /metrics body.
std::string render_metrics(const MetricsSnapshot& snapshot, const HttpMetrics& http);

// The snapshot thread's figures (docs/snapshots.md): the seq and size of the newest
// snapshot, and seconds since it was written (none yet: no age sample).
std::string render_snapshot_metrics(std::uint64_t last_seq, std::uint64_t last_bytes,
                                    std::optional<double> age_seconds);

}  // namespace netkeep::api
