#pragma once
// The workers' routes: GET /worker/next (lease due occurrences) and POST /worker/complete
// (a result, streamed to the spool, then recorded). Route handlers only: every state
// change goes through the engine's append_and_apply, and nothing is answered before it
// is durable (docs/api.md).
//
// Threads: the io thread. Spool fsyncs run on the blocking pool.

#include <cstdint>
#include <optional>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "api/gate.hpp"
#include "api/readiness_monitor.hpp"
#include "api/workers_seen.hpp"
#include "engine/engine.hpp"
#include "http/router.hpp"
#include "netkeep/spool.hpp"

namespace netkeep::api {

struct WorkerApiOptions {
    // The largest completion file taken.
    std::uint64_t max_upload = std::uint64_t(1) << 30;
};

class WorkerApi {
public:
    WorkerApi(engine::Engine& engine, Gate& gate, ReadinessMonitor& readiness, Spool& spool,
              WorkersSeen& workers, asio::thread_pool& blocking, WorkerApiOptions options)
        : engine_(engine),
          gate_(gate),
          readiness_(readiness),
          spool_(spool),
          workers_(workers),
          blocking_(blocking),
          options_(options) {}

    Status add_routes(http::Router& router);

private:
    asio::awaitable<http::Response> next(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> complete(http::Request& request, const Caller& caller);

    struct CompletionForm;
    // Reads the multipart body into `form`, the file part into a spool file; the error
    // answer if the body is malformed, refused or cannot be stored.
    asio::awaitable<std::optional<http::Response>> read_completion(http::Request& request,
                                                                   const Caller& caller,
                                                                   CompletionForm& form);
    // Called when the file part begins: whether this caller may complete this occurrence
    // (asked before any byte of the file is stored), then the spool file it goes into.
    std::optional<http::Response> begin_file(CompletionForm& form, std::string_view job,
                                             const Caller& caller);
    // Makes the file durable, decides again and appends the CompletionRecorded.
    asio::awaitable<http::Response> record_completion(CompletionForm& form, const Caller& caller);

    // Whether `caller` may post this completion of (device, job, job_timestamp): the
    // 403/404/409 answer if not. Asked before the file is read (so nothing of a refused
    // upload is spooled) and again after, as the lease may have changed meanwhile.
    // `decision` is decide_completion(projection, completion).
    std::optional<http::Response> refuse_completion(const CompletionRecorded& completion,
                                                    const CompletionDecision& decision,
                                                    const Caller& caller);
    // The answer for an upload or lease that storage refused: 507 for a full spool, 503
    // otherwise, with Retry-After; spool failures count for readiness.
    http::Response storage_refusal(std::string_view message, const Status& error,
                                   std::optional<SpoolOp> spool_op);

    engine::Engine& engine_;
    Gate& gate_;
    ReadinessMonitor& readiness_;
    Spool& spool_;
    WorkersSeen& workers_;  // every valid poll of /worker/next, for GET /api/v1/status
    asio::thread_pool& blocking_;
    WorkerApiOptions options_;
};

}  // namespace netkeep::api
