// POST /worker/complete: a worker's result, streamed to the spool and recorded durably.
//
// The body is read chunk by chunk as it arrives and the `file` part goes straight into a
// spool file, so memory does not grow with the upload. Only when the body is complete is
// the file made durable (fsync off the io thread), matched to the leased occurrence and
// recorded as CompletionRecorded; the answer 200 {"seq": N} follows the fsync of both.
// Anything that goes wrong before that removes the spool file: nothing of a refused or
// interrupted upload is kept.

#include <charconv>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "api/answers.hpp"
#include "api/input_limits.hpp"
#include "api/worker_api.hpp"
#include "engine/held_tasks.hpp"
#include "http/multipart.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

std::optional<std::int64_t> parse_time(std::string_view text) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

http::Response bad_field(std::string_view field, std::string message) {
    return http::json_error(400, message, {{"field", std::string(field)}});
}

// From here the spool file is durable under its name: removed unless an event refers to it.
struct spool_cleanup {
    Spool& spool;
    std::string name;
    bool keep = false;
    ~spool_cleanup() {
        if (!keep) (void)spool.remove(name);
    }
};

}  // namespace

// The fields of the form, as received.
struct WorkerApi::CompletionForm {
    std::optional<std::string> device, job_timestamp, start_timestamp, end_timestamp, failure;
    std::optional<std::string> job;  // the file part's filename
    std::optional<SpoolFile> file;
    std::int64_t times[3] = {};      // job, start, end: parsed by check()
    std::uint64_t failure_sent = 0;  // the failure's size as sent, when it was cut

    std::optional<std::string>* field(std::string_view name) {
        if (name == "device") return &device;
        if (name == "job_timestamp") return &job_timestamp;
        if (name == "start_timestamp") return &start_timestamp;
        if (name == "end_timestamp") return &end_timestamp;
        if (name == "failure") return &failure;
        return nullptr;
    }

    // Every field is there and well-formed before anything is made durable.
    std::optional<http::Response> check(unix_time now) {
        if (!device || device->empty()) return bad_field("device", "missing field 'device'");
        if (!file) return bad_field("file", "missing file part (its filename names the job)");
        const char* names[3] = {"job_timestamp", "start_timestamp", "end_timestamp"};
        std::optional<std::string>* values[3] = {&job_timestamp, &start_timestamp, &end_timestamp};
        for (int i = 0; i < 3; ++i) {
            if (!*values[i])
                return bad_field(names[i], fmt::format("missing field '{}'", names[i]));
            auto t = parse_time(**values[i]);
            if (!t)
                return bad_field(
                    names[i],
                    fmt::format("{} must be a unix timestamp (integer seconds)", names[i]));
            times[i] = *t;
        }
        if (auto refused = check_completion_times(times[0], times[1], times[2], now))
            return bad_field(refused->field, std::move(refused->message));
        // Cut, not refused: the result (the config, or why there is none) is worth keeping,
        // and an honest worker's long error message should not cost it its completion.
        if (failure && failure_too_long(*failure)) {
            failure_sent = failure->size();
            failure = bounded_failure(std::move(*failure));
        }
        return std::nullopt;
    }
};

std::optional<http::Response> WorkerApi::refuse_completion(const CompletionRecorded& completion,
                                                           const CompletionDecision& decision,
                                                           const Caller& caller) {
    using Kind = CompletionDecision::Kind;
    const Projection& projection = engine_.projection();
    auto id = projection.find(completion.device, completion.job);
    bool repeat = decision.kind == Kind::repeat;
    switch (decision.kind) {
        case Kind::unknown_device:
        case Kind::unknown_job:
        case Kind::not_selected:
            return http::json_error(404, decision.message);
        case Kind::not_open:
        case Kind::never_leased: {
            // Before the upload the content's hash is unknown: a re-post of the last recorded
            // completion looks like a post for a closed occurrence until the hash matches.
            const auto& last = projection.task(*id).last_completion;
            if (completion.sha256.empty() && last &&
                last->job_timestamp == completion.job_timestamp) {
                repeat = true;
                break;
            }
            return http::json_error(409, decision.message);
        }
        case Kind::busy:  // decided again after the upload
        case Kind::repeat:
        case Kind::accept:
            break;
    }
    const TaskState& t = projection.task(*id);
    const auto& tags = projection.inventory().devices[t.device_index].tags;
    if (auto why = completion_refusal(t, tags, caller, repeat)) return gate_.forbidden(*why);
    return std::nullopt;
}

std::optional<http::Response> WorkerApi::begin_file(CompletionForm& form, std::string_view job,
                                                    const Caller& caller) {
    if (form.file) return bad_field("file", "more than one file part");
    if (job.empty()) return bad_field("file", "the file part's filename must be the job name");
    for (auto [name, value] :
         {std::pair{"device", &form.device}, {"job_timestamp", &form.job_timestamp}})
        if (!*value || (*value)->empty())
            return bad_field(
                name, fmt::format("missing field '{}' (it must precede the file part)", name));
    auto job_timestamp = parse_time(*form.job_timestamp);
    if (!job_timestamp)
        return bad_field("job_timestamp",
                         "job_timestamp must be a unix timestamp (integer seconds)");
    CompletionRecorded target;
    target.device = *form.device;
    target.job = std::string(job);
    target.job_timestamp = *job_timestamp;
    if (auto refusal =
            refuse_completion(target, decide_completion(engine_.projection(), target), caller))
        return refusal;
    auto file = spool_.create();
    if (!file) {
        log_line(LogLevel::error, "spool.create_failed", {{"error", file.status().to_string()}});
        return storage_refusal("cannot store the upload", file.status(), SpoolOp::create);
    }
    form.file.emplace(std::move(*file));
    form.job = std::string(job);
    return std::nullopt;
}

asio::awaitable<std::optional<http::Response>> WorkerApi::read_completion(http::Request& request,
                                                                          const Caller& caller,
                                                                          CompletionForm& form) {
    auto content_type = request.header("Content-Type");
    if (!content_type)
        co_return http::json_error(400, "Content-Type must be multipart/form-data with a boundary");
    auto boundary = http::multipart_boundary(*content_type);
    if (!boundary) co_return http::json_error(400, boundary.status().message());
    // Every part but `file` is a field of at most 64 KiB, whatever its headers say: a
    // `filename` on `failure` must not let 100 MB into the log (issue 11).
    http::MultipartParser parser(*boundary,
                                 {.max_field_bytes = k_max_field_bytes, .unbounded_part = "file"});
    std::optional<std::string>* current_field = nullptr;
    bool in_file = false;
    for (;;) {
        auto chunk = co_await request.body().read();
        // The server answers a read error (or the client is gone).
        if (!chunk) co_return http::error_response(chunk.status());
        if (chunk->empty()) {
            if (Status s = parser.finish(); !s) co_return http::json_error(400, s.message());
            co_return std::nullopt;
        }
        std::string_view rest = *chunk;
        for (;;) {
            auto step = parser.feed(rest);
            rest.remove_prefix(step.consumed);
            using Event = http::MultipartParser::Event;
            if (step.event == Event::need_more) break;
            if (step.event == Event::error) co_return http::error_response(parser.error_status());
            if (step.event == Event::body_end) co_return std::nullopt;
            if (step.event == Event::part_end) {
                in_file = false;
                current_field = nullptr;
            } else if (step.event == Event::part_begin && parser.part().name == "file") {
                const auto& filename = parser.part().filename;
                if (auto refusal = begin_file(form, filename ? *filename : "", caller))
                    co_return refusal;
                in_file = true;
            } else if (step.event == Event::part_begin) {
                const std::string& name = parser.part().name;
                current_field = form.field(name);
                if (!current_field)
                    co_return bad_field(name, fmt::format("unknown field '{}'", name));
                if (*current_field)
                    co_return bad_field(name, fmt::format("field '{}' given twice", name));
                current_field->emplace();
                in_file = false;
            } else if (step.event == Event::part_data && !in_file) {
                (*current_field)->append(step.data);
            } else if (step.event == Event::part_data) {
                if (form.file->size() + step.data.size() > options_.max_upload)
                    co_return http::json_error(
                        413, fmt::format("file larger than {} bytes", options_.max_upload));
                if (Status s = form.file->write(step.data); !s) {
                    log_line(LogLevel::error, "spool.write_failed", {{"error", s.to_string()}});
                    co_return storage_refusal("cannot store the upload", s, SpoolOp::write);
                }
            }
        }
    }
}

asio::awaitable<http::Response> WorkerApi::complete(http::Request& request, const Caller& caller) {
    CompletionForm form;
    if (auto refusal = co_await read_completion(request, caller, form))
        co_return std::move(*refusal);
    if (auto refusal = form.check(engine_.now())) co_return std::move(*refusal);
    co_return co_await record_completion(form, caller);
}

asio::awaitable<http::Response> WorkerApi::record_completion(CompletionForm& form,
                                                             const Caller& caller) {
    // fsync the file and its directory off the io thread: a large upload takes a while.
    Result<SpoolEntry> entry = Status::unavailable("not committed");
    SpoolFile& file = *form.file;
    Status committed = co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<Status> {
            entry = file.commit();
            co_return entry ? Status::ok() : entry.status();
        },
        asio::use_awaitable);
    if (!committed) {
        // The file is dropped, never synced again: a failed fsync is not retried.
        log_line(LogLevel::error, "spool.commit_failed", {{"error", committed.to_string()}});
        co_return storage_refusal("cannot store the upload durably", committed, SpoolOp::sync);
    }
    readiness_.upload_stored(entry->size);
    spool_cleanup cleanup{spool_, entry->name};

    CompletionRecorded completion{engine_.now(), *form.device,  *form.job,    form.times[0],
                                  form.times[1], form.times[2], form.failure, entry->size,
                                  entry->sha256, entry->name,   caller.name};
    CompletionDecision decision = decide_completion(engine_.projection(), completion);
    using Kind = CompletionDecision::Kind;
    if (decision.kind == Kind::accept || decision.kind == Kind::repeat)
        if (auto refusal = refuse_completion(completion, decision, caller))
            co_return std::move(*refusal);
    switch (decision.kind) {
        case Kind::repeat:
            co_return http::json_response(
                200, fmt::format(R"({{"seq":{},"repeat":true}})", decision.seq));
        case Kind::unknown_device:
        case Kind::unknown_job:
        case Kind::not_selected:
            co_return http::json_error(404, decision.message);
        case Kind::not_open:
        case Kind::never_leased:
            co_return http::json_error(409, decision.message);
        case Kind::busy:
            co_return task_busy_response(decision.message);
        case Kind::accept:
            break;
    }

    engine::held_tasks held(engine_.projection());
    if (auto id = engine_.projection().find(completion.device, completion.job)) held.hold(*id);
    auto appended = co_await engine_.append_and_apply(std::move(decision.events));
    if (!appended) {
        log_line(LogLevel::error, "completion.append_failed",
                 {{"error", appended.status().to_string()}});
        // An I/O error (a failed WAL sync) may leave the record in the WAL, to be replayed
        // at the restart that follows: its spool file stays (an orphan is swept at the
        // next start). A refusal (no space, a log already failed or closed) wrote nothing.
        if (appended.status().code() == Status::Code::io_error) cleanup.keep = true;
        co_return storage_refusal("the completion could not be recorded durably; post it again",
                                  appended.status(), std::nullopt);
    }
    cleanup.keep = true;
    log_line(LogLevel::info, "completion.recorded",
             {{"seq", std::to_string(appended->first)},
              {"device", completion.device},
              {"job", completion.job},
              {"size", std::to_string(completion.size)},
              {"failed", completion.failure ? "yes" : "no"}});
    if (form.failure_sent > 0)
        log_line(LogLevel::warn, "completion.failure_truncated",
                 {{"seq", std::to_string(appended->first)},
                  {"worker", completion.worker},
                  {"sent", std::to_string(form.failure_sent)},
                  {"kept", std::to_string(completion.failure->size())}});
    co_return http::json_response(200, fmt::format(R"({{"seq":{}}})", appended->first));
}

}  // namespace netkeep::api
