#include "api/readiness.hpp"

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::api {

namespace {

long long seconds_between(std::chrono::steady_clock::time_point from,
                          std::chrono::steady_clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

std::string_view fault_kind(const Status& s) {
    return s.code() == Status::Code::no_space ? "no space left on the device" : "an I/O error";
}

}  // namespace

std::vector<std::string> readiness_reasons(const ReadinessInput& in,
                                           const ReadinessLimits& limits) {
    std::vector<std::string> reasons;
    switch (in.log.state) {
        case LogHealth::State::recovering:
            reasons.push_back(
                fmt::format("event log: writes refused for {} s ({}); retrying every second",
                            seconds_between(in.log.since, in.now), fault_kind(in.log.error)));
            break;
        case LogHealth::State::failed:
            reasons.push_back(
                "event log: failed with an error it cannot recover from; netkeepd exits so that a "
                "restart replays the log");
            break;
        case LogHealth::State::ok: {
            const bool wrote_recently =
                in.log.last_write && in.now - *in.log.last_write <= limits.log_write_window;
            const bool probed_recently =
                in.probe_at && in.now - *in.probe_at <= limits.log_write_window;
            if (!wrote_recently && probed_recently && !in.probe.is_ok())
                reasons.push_back(fmt::format(
                    "event log: no write accepted in the last {} s and the probe write failed ({})",
                    limits.log_write_window.count(), fault_kind(in.probe)));
            break;
        }
    }
    if (in.git && in.git->log_last_seq > in.git->applied_seq) {
        const auto stalled = seconds_between(in.git->applied_changed, in.now);
        if (stalled >= limits.git_stall.count())
            reasons.push_back(
                fmt::format("git writer: {} events behind the log and no progress for {} s",
                            in.git->log_last_seq - in.git->applied_seq, stalled));
    }
    // repo_ok is also false before the writer's first open at start: only a failed attempt
    // says the repository cannot be used.
    if (in.writer && !in.writer->repo_ok && in.writer->consecutive_failures > 0)
        reasons.push_back(
            "git writer: the repository cannot be opened or written; completions wait in the "
            "spool and the log");
    else if (in.writer && in.writer->consecutive_failures >= limits.writer_failures)
        reasons.push_back(fmt::format("git writer: {} failed attempts in a row",
                                      in.writer->consecutive_failures));
    if (in.spool_failure && in.now - in.spool_failure->at <= limits.spool_failure_window)
        reasons.push_back(fmt::format("spool: the last upload could not be stored ({}) {} s ago",
                                      in.spool_failure->code == Status::Code::no_space
                                          ? "no space left on the device"
                                          : "an I/O error",
                                      seconds_between(in.spool_failure->at, in.now)));
    return reasons;
}

std::vector<std::string> readiness_warnings(const ReadinessInput& in,
                                            const ReadinessLimits& limits) {
    std::vector<std::string> warnings;
    for (const ConsumerHealth& c : in.consumers)
        if (c.consecutive_failures >= limits.consumer_failures)
            warnings.push_back(fmt::format("consumer {} failing: {} failed attempts in a row",
                                           c.name, c.consecutive_failures));
    return warnings;
}

namespace {

void append_list(std::string& out, std::string_view key, const std::vector<std::string>& items) {
    out += fmt::format(R"(,"{}":[)", key);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += json_quote(items[i]);
    }
    out += ']';
}

}  // namespace

std::string readiness_json(const std::vector<std::string>& reasons,
                           const std::vector<std::string>& warnings) {
    std::string out = reasons.empty() ? R"({"ready":true)" : R"({"ready":false)";
    if (!reasons.empty()) append_list(out, "reasons", reasons);
    if (!warnings.empty()) append_list(out, "warnings", warnings);
    out += '}';
    return out;
}

}  // namespace netkeep::api
