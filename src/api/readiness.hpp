#pragma once
// GET /readyz: whether netkeepd can take work now (docs/api.md "GET /readyz",
// docs/security.md "Faults: storage"). Unlike /healthz (the process answers), ready means
// the event log accepts writes and the git writer is not stuck. The decision is a pure
// function of what ReadinessMonitor sampled, so it is tested without a disk.
//
// The reasons are for operators and open to anyone who can reach the port (load
// balancers and systemd probes ask without a token): they name the part and the kind of
// fault, never a path, a file name or an error text (those go to the log lines).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netkeep/consumer.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_writer.hpp"
#include "netkeep/status.hpp"

namespace netkeep::api {

struct ReadinessLimits {
    // The log counts as able to write if it accepted a write this recently; otherwise
    // netkeepd probes it with a small meta write at most this often.
    std::chrono::seconds log_write_window{30};
    // The git writer is stuck when it is behind and its applied seq has not moved for this long.
    std::chrono::seconds git_stall{120};
    // A spool failure counts for this long after it happened, unless an upload was stored since.
    std::chrono::seconds spool_failure_window{60};
    // The git writer counts as failing after this many failed attempts in a row (of one
    // event or of opening/writing the repository); one failure is often a retry that works.
    std::uint64_t writer_failures{3};
    // A log consumer (a notification target, a git mirror) counts as failing after this
    // many failed attempts in a row: a warning, never a reason (see readiness_warnings).
    std::uint64_t consumer_failures{3};
};

struct ReadinessInput {
    std::chrono::steady_clock::time_point now{};
    LogHealth log;
    // The last probe write of the log (when no other write came within the window).
    std::optional<std::chrono::steady_clock::time_point> probe_at;
    Status probe;  // its result
    // Absent with --no-git-writer.
    struct Git {
        std::uint64_t log_last_seq = 0;
        std::uint64_t applied_seq = 0;
        std::chrono::steady_clock::time_point applied_changed{};  // when applied_seq last moved
    };
    std::optional<Git> git;
    // The git writer's own health (GitWriter::health()); absent with --no-git-writer.
    // A quarantined event alone does not make netkeepd unready: the writer goes on with
    // the others, and the quarantine metrics alert on it.
    std::optional<GitWriterHealth> writer;
    // The last spool failure (create, write, sync) not followed by a stored upload.
    struct SpoolFailure {
        Status::Code code = Status::Code::io_error;
        std::chrono::steady_clock::time_point at{};
    };
    std::optional<SpoolFailure> spool_failure;
    // Every log consumer's health (notification targets, git mirrors).
    std::vector<ConsumerHealth> consumers;
};

// Empty when ready.
std::vector<std::string> readiness_reasons(const ReadinessInput& in,
                                           const ReadinessLimits& limits = {});

// What is wrong but does not make netkeepd unready: a failing log consumer (a Slack outage
// must not take the backup service out of a load balancer). Named like reasons: the
// consumer and the kind of fault, never its error text (that may name a host).
std::vector<std::string> readiness_warnings(const ReadinessInput& in,
                                            const ReadinessLimits& limits = {});

// {"ready":true} or {"ready":false,"reasons":[...]}, with "warnings":[...] after them
// when there are any.
std::string readiness_json(const std::vector<std::string>& reasons,
                           const std::vector<std::string>& warnings = {});

}  // namespace netkeep::api
