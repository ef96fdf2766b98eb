#include "api/metrics.hpp"

#include <cmath>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

namespace netkeep::api {

namespace {

std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

// Go's strconv formatting as Prometheus clients write it: integers without a fraction,
// "+Inf", shortest round-trip otherwise.
std::string format_double(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    return fmt::format("{}", v);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

void Exposition::head(std::string_view name, const Labels& labels) {
    out_ += name;
    if (!labels.empty()) {
        out_ += '{';
        bool first = true;
        for (const auto& [k, v] : labels) {
            if (!first) out_ += ',';
            first = false;
            out_ += fmt::format("{}=\"{}\"", k, escape_label_value(v));
        }
        out_ += '}';
    }
    out_ += ' ';
}

void Exposition::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
    head(name, labels);
    out_ += fmt::format("{}\n", value);
}

void Exposition::sample(std::string_view name, const Labels& labels, std::int64_t value) {
    head(name, labels);
    out_ += fmt::format("{}\n", value);
}

void Exposition::sample(std::string_view name, const Labels& labels, double value) {
    head(name, labels);
    out_ += format_double(value);
    out_ += '\n';
}

void Histogram::observe(double value) {
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    counts_[i] += 1;
    sum_ += value;
    count_ += 1;
}

void Histogram::render(Exposition& out, std::string_view name, const Labels& labels) const {
    const std::string bucket = fmt::format("{}_bucket", name);
    Labels with_le = labels;
    with_le.emplace_back("le", "");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i];
        with_le.back().second = i < bounds_.size() ? format_double(bounds_[i]) : "+Inf";
        out.sample(bucket, with_le, cumulative);
    }
    out.sample(fmt::format("{}_sum", name), labels, sum_);
    out.sample(fmt::format("{}_count", name), labels, count_);
}

void HttpMetrics::Route::observe(int code, double seconds) {
    for (auto& [c, h] : by_code_) {
        if (c == code) {
            h.observe(seconds);
            return;
        }
    }
    by_code_.emplace_back(code, Histogram(k_latency_buckets));
    by_code_.back().second.observe(seconds);
}

HttpMetrics::Route& HttpMetrics::route(std::string pattern, std::string method) {
    return routes_.emplace_back(std::move(pattern), std::move(method));
}

void HttpMetrics::render(Exposition& out) const {
    auto labels = [](const Route& r, int code) {
        return Labels{{"route", r.pattern_}, {"method", r.method_}, {"code", std::to_string(code)}};
    };
    out.family("netkeep_http_requests_total", "counter",
               "HTTP requests by route pattern, method and status code; route \"(unrouted)\" for "
               "answers given without a handler (404, 405, malformed requests).");
    for (const Route& r : routes_)
        for (const auto& [code, h] : r.by_code_)
            out.sample("netkeep_http_requests_total", labels(r, code), h.count());
    out.family("netkeep_http_request_duration_seconds", "histogram",
               "Time from the request head to the handler's answer, by route pattern, method and "
               "status code.");
    for (const Route& r : routes_)
        for (const auto& [code, h] : r.by_code_)
            h.render(out, "netkeep_http_request_duration_seconds", labels(r, code));
}

namespace {

void render_storage(Exposition& out, const StorageSnapshot& s) {
    out.family("netkeep_storage_errors_total", "counter",
               "Failed writes to storage, by op (log_write: events and meta values of the event "
               "log; spool_create, "
               "spool_write, spool_sync: an upload's file) and kind (no_space, io).");
    out.sample("netkeep_storage_errors_total", {{"op", "log_write"}, {"kind", "no_space"}},
               s.log.no_space_errors);
    out.sample("netkeep_storage_errors_total", {{"op", "log_write"}, {"kind", "io"}},
               s.log.io_errors);
    constexpr std::array<std::string_view, 3> ops{"spool_create", "spool_write", "spool_sync"};
    for (std::size_t op = 0; op < ops.size(); ++op) {
        out.sample("netkeep_storage_errors_total",
                   {{"op", std::string(ops[op])}, {"kind", "no_space"}}, s.counters.spool[op][0]);
        out.sample("netkeep_storage_errors_total", {{"op", std::string(ops[op])}, {"kind", "io"}},
                   s.counters.spool[op][1]);
    }
    out.family("netkeep_log_state", "gauge",
               "1 for the event log's current state: ok, recovering (writes refused, retried every "
               "second: no space), "
               "failed (netkeepd exits and a restart replays the log); 0 for the others.");
    for (auto state :
         {LogHealth::State::ok, LogHealth::State::recovering, LogHealth::State::failed})
        out.sample("netkeep_log_state", {{"state", std::string(log_state_name(state))}},
                   std::uint64_t(s.log.state == state ? 1 : 0));
    out.family("netkeep_log_resumes_total", "counter",
               "Times the event log took writes again after refusing them (DB::Resume).");
    out.sample("netkeep_log_resumes_total", {}, s.log.resumes);
    if (s.spool) {
        out.family("netkeep_spool_files", "gauge",
                   "Files in the spool dir (uploads waiting for the git writer, or kept by "
                   "--spool-retention); scanned every 30 s.");
        out.sample("netkeep_spool_files", {}, s.spool->files);
        out.family("netkeep_spool_bytes", "gauge",
                   "Bytes of the files in the spool dir; scanned every 30 s.");
        out.sample("netkeep_spool_bytes", {}, s.spool->bytes);
    }
    out.family("netkeep_ready", "gauge",
               "1 when GET /readyz answers 200, else 0 (its reasons say why).");
    out.sample("netkeep_ready", {}, std::uint64_t(s.ready ? 1 : 0));
}

// The counters and gauges of one name each, without labels.
struct Scalars {
    Exposition& out;
    void counter(std::string_view name, std::string_view help, std::uint64_t value) {
        out.family(name, "counter", help);
        out.sample(name, {}, value);
    }
    template <class T>
    void gauge(std::string_view name, std::string_view help, T value) {
        out.family(name, "gauge", help);
        out.sample(name, {}, value);
    }
};

void render_events(Exposition& out, const engine::EventCounts& e) {
    Scalars scalars{out};
    scalars.counter("netkeep_leases_granted_total",
                    "Occurrences leased to workers (LeaseGranted events).", e.leases_granted);
    scalars.counter("netkeep_leases_expired_total",
                    "Leases that reached their deadline without a completion.", e.leases_expired);
    out.family("netkeep_completions_total", "counter",
               "Completions recorded (CompletionRecorded events), by result: ok, or failed (the "
               "worker reported a failure).");
    out.sample("netkeep_completions_total", {{"result", "ok"}}, e.completions_ok);
    out.sample("netkeep_completions_total", {{"result", "failed"}}, e.completions_failed);
    scalars.counter("netkeep_occurrences_failed_total",
                    "Occurrences closed as failed after max_attempts failed attempts.",
                    e.occurrences_failed);
    scalars.counter("netkeep_ingested_bytes_total", "Content bytes of recorded completions.",
                    e.bytes_ingested);
    scalars.counter("netkeep_run_requests_total",
                    "Run-now requests recorded (RunRequested events).", e.run_requests);
}

void render_counters(Exposition& out, const Counters& c) {
    Scalars scalars{out};
    scalars.counter(
        "netkeep_git_commits_total",
        "Commits the git writer made (changed content, or every success with --commit-unchanged).",
        c.git_commits);
    scalars.counter("netkeep_git_applied_completions_total",
                    "Successful completions the git writer applied (committed or found unchanged).",
                    c.git_records);
    out.family("netkeep_auth_refused_total", "counter",
               "Requests refused by --auth, by reason: unauthenticated (401: no or unknown token), "
               "forbidden (403: "
               "wrong role, tag or lease).");
    out.sample("netkeep_auth_refused_total", {{"reason", "unauthenticated"}},
               c.auth_unauthenticated);
    out.sample("netkeep_auth_refused_total", {{"reason", "forbidden"}}, c.auth_forbidden);
    out.family("netkeep_http_connections_refused_total", "counter",
               "Connections closed as soon as accepted, by reason: per_client (more than "
               "--max-connections-per-client open from one address), total (more than the server's "
               "connection cap).");
    out.sample("netkeep_http_connections_refused_total", {{"reason", "per_client"}},
               c.connections_refused_per_client);
    out.sample("netkeep_http_connections_refused_total", {{"reason", "total"}},
               c.connections_refused_total);
}

void render_git(Exposition& out, const std::optional<GitProgress>& git,
                const std::optional<WriterHealth>& writer) {
    Scalars scalars{out};
    if (git) {
        scalars.gauge("netkeep_git_applied_seq",
                      "Last sequence number the git writer applied and published on main.",
                      git->applied_seq);
        scalars.gauge("netkeep_git_lag_events",
                      "Events in the log not yet applied by the git writer.", git->lag_events);
        scalars.gauge(
            "netkeep_git_lag_seconds",
            "Age of the oldest event not yet applied by the git writer (0 when caught up).",
            git->lag_seconds);
    }
    if (!writer) return;
    scalars.counter("netkeep_redaction_lines_skipped_total",
                    "Lines of completions written to git unredacted because they exceed the line "
                    "length redaction "
                    "rules look at (65536 bytes).",
                    writer->redaction_lines_skipped);
    scalars.counter("netkeep_writer_errors_total",
                    "Failed attempts of the git writer (opening the repository, applying an event, "
                    "publishing a batch).",
                    writer->errors_total);
    scalars.gauge("netkeep_writer_consecutive_failures",
                  "Failed attempts of the git writer since its last success (0: it is not stuck).",
                  writer->consecutive_failures);
    scalars.gauge("netkeep_writer_repo_ok",
                  "1 when the git repository is open and its last write succeeded, else 0.",
                  std::uint64_t(writer->repo_ok));
    scalars.gauge("netkeep_writer_quarantined_events",
                  "Events the git writer quarantined that are not applied yet (netkeepctl "
                  "quarantine list).",
                  writer->quarantined);
    scalars.counter("netkeep_writer_quarantined_total",
                    "Events this netkeepd quarantined (failed --quarantine-after times).",
                    writer->quarantined_total);
}

void render_state(Exposition& out, const MetricsSnapshot& s) {
    Scalars scalars{out};
    scalars.gauge("netkeep_log_last_seq", "Sequence number of the last durable event in the log.",
                  s.log_last_seq);
    scalars.gauge("netkeep_projection_seq",
                  "Sequence number of the last event applied to the server's state.",
                  s.projection_seq);
    render_git(out, s.git, s.writer);
    out.family("netkeep_tasks", "gauge",
               "Tasks by status: due, scheduled, leased, retrying (see docs/api.md).");
    out.sample("netkeep_tasks", {{"status", "due"}}, s.tasks.due);
    out.sample("netkeep_tasks", {{"status", "scheduled"}}, s.tasks.scheduled);
    out.sample("netkeep_tasks", {{"status", "leased"}}, s.tasks.leased);
    out.sample("netkeep_tasks", {{"status", "retrying"}}, s.tasks.retrying);
    scalars.gauge("netkeep_tasks_overdue",
                  "Tasks not leased and due for more than 60 seconds: no worker is taking them.",
                  s.tasks.overdue);
    scalars.gauge("netkeep_history_versions", "File versions in the in-memory history index.",
                  s.history_versions);
    scalars.gauge("netkeep_start_time_seconds", "When this netkeepd started, unix seconds.",
                  std::int64_t(s.start_time));
}

// Per log consumer (label consumer="notify.<target>", "mirror.<remote>"); the families are
// listed also when no consumer is configured, so dashboards find them.
void render_consumers(Exposition& out, const std::vector<ConsumerHealth>& consumers) {
    struct Family {
        std::string_view name, type, help;
        std::uint64_t ConsumerHealth::*value;
    };
    static constexpr Family families[] = {
        {"netkeep_consumer_lag_events", "gauge",
         "Events in the log after the consumer's durable cursor (for a mirror: applied seqs not "
         "pushed).",
         &ConsumerHealth::lag},
        {"netkeep_consumer_delivered_total", "counter",
         "Deliveries the consumer made (notifications sent, pushes), this process.",
         &ConsumerHealth::delivered_total},
        {"netkeep_consumer_errors_total", "counter",
         "Failed delivery attempts of the consumer, this process (each retry counts).",
         &ConsumerHealth::errors_total},
        {"netkeep_consumer_consecutive_failures", "gauge",
         "Failed attempts of the consumer since its last success (0: healthy); 3 or more is a "
         "/readyz warning.",
         &ConsumerHealth::consecutive_failures},
    };
    for (const Family& f : families) {
        out.family(f.name, f.type, f.help);
        for (const ConsumerHealth& c : consumers)
            out.sample(f.name, {{"consumer", c.name}}, c.*(f.value));
    }
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s, const HttpMetrics& http) {
    Exposition out;
    render_events(out, s.events);
    render_counters(out, s.counters);
    render_state(out, s);
    render_storage(out, s.storage);
    render_consumers(out, s.consumers);
    http.render(out);
    return out.take();
}

std::string render_snapshot_metrics(std::uint64_t last_seq, std::uint64_t last_bytes,
                                    std::optional<double> age_seconds) {
    Exposition out;
    out.family("netkeep_snapshot_last_seq", "gauge",
               "Seq of the newest projection snapshot written or found; 0: none.");
    out.sample("netkeep_snapshot_last_seq", {}, last_seq);
    out.family("netkeep_snapshot_last_bytes", "gauge", "Size of the newest snapshot file.");
    out.sample("netkeep_snapshot_last_bytes", {}, last_bytes);
    out.family("netkeep_snapshot_age_seconds", "gauge",
               "Seconds since the newest snapshot was written; absent when there is none.");
    if (age_seconds) out.sample("netkeep_snapshot_age_seconds", {}, *age_seconds);
    return out.take();
}

}  // namespace netkeep::api
