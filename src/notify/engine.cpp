// The notification consumer's threads: read, select, diff, deliver, then persist.

#include "notify/engine.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <thread>

#include <fmt/format.h>

#include "netkeep/git_records.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/repo_reader.hpp"
#include "notify/payload.hpp"

namespace netkeep::notify {

namespace {

unix_time system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The versions of each file the git writer committed, for the "before" side of a diff.
// Built once from the writer's records in meta, then extended by the targets' threads as
// they read records in log order (each thread reads every record after its cursor before it
// needs one, so the version before any seq a thread handles is known). Bounded: the newest
// k_kept versions per file; a target further behind than that gets its change without a diff.
class VersionIndex {
public:
    static constexpr std::size_t k_kept = 16;
    struct Version {
        std::uint64_t seq = 0;
        std::string blob;
        std::string commit;
    };
    struct Previous {
        bool known = true;  // false: trimmed away
        const Version* version = nullptr;
    };

    // Loads every record once; later calls return at once.
    Status load(const EventLog& log) {
        std::lock_guard lock(mutex_);
        if (loaded_) return Status::ok();
        Status s = log.scan_meta(
            gitwriter::k_applied_prefix, [&](std::string_view key, std::string_view value) {
                auto seq = gitwriter::parse_u64(key.substr(gitwriter::k_applied_prefix.size()));
                auto record = gitwriter::parse_applied_record(value);
                if (seq && record) add_locked(*seq, *record);
                return true;
            });
        if (s) loaded_ = true;
        return s;
    }
    void add(std::uint64_t seq, const gitwriter::AppliedRecord& record) {
        std::lock_guard lock(mutex_);
        add_locked(seq, record);
    }
    // The newest version of `path` before `seq`, copied out.
    std::optional<std::optional<Version>> previous(const std::string& path,
                                                   std::uint64_t seq) const {
        std::lock_guard lock(mutex_);
        auto it = files_.find(path);
        if (it == files_.end()) return std::optional<Version>();
        const auto& versions = it->second.versions;
        const Version* found = nullptr;
        for (const Version& v : versions)
            if (v.seq < seq) found = &v;
        if (found) return std::optional<Version>(*found);
        if (it->second.trimmed) return std::nullopt;  // unknown
        return std::optional<Version>();
    }

private:
    struct File {
        std::vector<Version> versions;  // by seq
        bool trimmed = false;
    };
    void add_locked(std::uint64_t seq, const gitwriter::AppliedRecord& record) {
        // A record without a commit: main already had that content; no new version.
        if (record.commit.empty()) return;
        File& f = files_[record.path];
        auto at = std::lower_bound(f.versions.begin(), f.versions.end(), seq,
                                   [](const Version& v, std::uint64_t s) { return v.seq < s; });
        if (at != f.versions.end() && at->seq == seq) return;
        f.versions.insert(at, Version{seq, record.blob, record.commit});
        if (f.versions.size() > k_kept) {
            f.versions.erase(f.versions.begin());
            f.trimmed = true;
        }
    }
    mutable std::mutex mutex_;
    bool loaded_ = false;
    std::unordered_map<std::string, File> files_;
};

}  // namespace

std::string failures_key(std::string_view target) {
    return "consumer.notify." + std::string(target) + ".failures";
}
std::string consumer_name(std::string_view target) { return "notify." + std::string(target); }

std::shared_ptr<const DeviceMap> device_map(const NotifyConfig& config,
                                            const Inventory& inventory) {
    if (!config.needs_device_info()) return nullptr;
    auto map = std::make_shared<DeviceMap>();
    map->reserve(inventory.devices.size());
    for (const DeviceSpec& d : inventory.devices) (*map)[d.name] = DeviceInfo{d.tags, d.group};
    return map;
}

struct NotifyEngine::Shared {
    EventLog& log;
    NotifyEngineOptions options;
    std::mutex mutex;  // config, devices, repo
    std::shared_ptr<const NotifyConfig> config;
    std::shared_ptr<const DeviceMap> devices;
    std::shared_ptr<const RepoReader> repo;
    VersionIndex versions;

    Shared(EventLog& l, NotifyEngineOptions o) : log(l), options(std::move(o)) {}

    std::pair<std::shared_ptr<const NotifyConfig>, std::shared_ptr<const DeviceMap>> snapshot() {
        std::lock_guard lock(mutex);
        return {config, devices};
    }
    // Opened on first use: the writer creates the repository after netkeepd starts.
    std::shared_ptr<const RepoReader> reader() {
        std::lock_guard lock(mutex);
        if (!repo && !options.repo_path.empty())
            if (auto r = RepoReader::open(options.repo_path); r) repo = std::move(*r);
        return repo;
    }
    // The last seq whose git records are durable: the writer's persisted cursor (its
    // in-memory applied seq runs ahead of its records); without a writer, the log's end.
    std::uint64_t bound() const {
        if (options.repo_path.empty()) return log.last_seq();
        auto meta = log.get_meta(std::string(gitwriter::k_cursor_key));
        if (!meta) return 0;
        return gitwriter::parse_u64(*meta).value_or(0);
    }
};

struct NotifyEngine::Runner {
    std::string name;
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::atomic<bool> done{false};
    std::mutex wake_mutex;
    std::condition_variable wake;
    mutable std::mutex health_mutex;
    ConsumerHealth health;
    // Set when the thread ends. A runner of a target removed and added again waits for
    // its predecessor's: two threads of one target would deliver at once, and the old
    // one's last cursor and failure-count write could land behind the new one's.
    std::promise<void> ended;
    std::shared_future<void> finished = ended.get_future().share();
    std::shared_future<void> predecessor;  // invalid when there is none

    // Sleeps up to `d`; false when asked to stop.
    bool sleep(std::chrono::milliseconds d) {
        std::unique_lock lock(wake_mutex);
        wake.wait_for(lock, d, [this] { return stopping.load(); });
        return !stopping.load();
    }
    void request_stop() {
        {
            std::lock_guard lock(wake_mutex);
            stopping = true;
        }
        wake.notify_all();
    }
    template <class F>
    void update(F f) {
        std::lock_guard lock(health_mutex);
        f(health);
    }
};

namespace {

using Runner = NotifyEngine::Runner;
using Shared = NotifyEngine::Shared;

// One target's consumer: its thread's whole life.
class TargetLoop {
public:
    TargetLoop(Shared& shared, Runner& runner)
        : shared_(shared),
          runner_(runner),
          backoff_(shared.options.retry_first, shared.options.retry_max) {}
    void run();

private:
    bool start();
    bool step();
    std::optional<GitOutcome> git_outcome(const EventRecord& record, const NotifyConfig& config,
                                          std::size_t target);
    void fill_diff(Notification& n, const Target& target);
    bool deliver(const Target& target, const Notification& n);
    bool persist();
    bool retry_meta(const char* what, const std::function<Status()>& f);

    Shared& shared_;
    Runner& runner_;
    ConsumerBackoff backoff_;
    std::uint64_t cursor_ = 0;     // last seq handled (in memory)
    std::uint64_t persisted_ = 0;  // last seq durable in meta
    // Counts as of cursor_, except after a delivery abandoned mid-event (then they include
    // that event, and must not be written: the durable pair stays consistent).
    FailureState failures_;
    bool abandoned_ = false;
};

bool TargetLoop::retry_meta(const char* what, const std::function<Status()>& f) {
    ConsumerBackoff backoff(shared_.options.retry_first, shared_.options.retry_max);
    while (!runner_.stopping) {
        Status s = f();
        if (s) return true;
        log_line(LogLevel::error, what, {{"target", runner_.name}, {"error", s.to_string()}});
        if (!runner_.sleep(backoff.next())) break;
    }
    return false;
}

// The cursor and failure counts from meta; a new target starts where the writer is.
bool TargetLoop::start() {
    if (runner_.predecessor.valid())
        while (runner_.predecessor.wait_for(std::chrono::milliseconds(50)) !=
               std::future_status::ready)
            if (runner_.stopping) return false;
    return retry_meta("notify.start_failed", [&]() -> Status {
        auto meta = shared_.log.get_meta(consumer_cursor_key(consumer_name(runner_.name)));
        if (!meta && meta.status().code() != Status::Code::not_found) return meta.status();
        if (meta) {
            auto seq = gitwriter::parse_u64(*meta);
            if (!seq) return Status::corruption("the cursor is not a sequence number");
            cursor_ = *seq;
            auto saved = shared_.log.get_meta(failures_key(runner_.name));
            if (!saved && saved.status().code() != Status::Code::not_found) return saved.status();
            if (saved) {
                auto decoded = FailureState::decode(*saved);
                if (!decoded) return Status::corruption("the failure counts do not parse");
                failures_ = std::move(*decoded);
            }
        } else {
            // Not the whole history: a new target hears of what happens from now on.
            cursor_ = shared_.bound();
            if (Status s = shared_.log.put_meta(consumer_cursor_key(consumer_name(runner_.name)),
                                                std::to_string(cursor_));
                !s)
                return s;
        }
        persisted_ = cursor_;
        runner_.update([&](ConsumerHealth& h) { h.cursor = cursor_; });
        return Status::ok();
    });
}

bool TargetLoop::persist() {
    if (persisted_ == cursor_ && !failures_.changed()) return true;
    std::vector<std::pair<std::string, std::string>> meta{
        {consumer_cursor_key(consumer_name(runner_.name)), std::to_string(cursor_)}};
    if (failures_.changed()) meta.emplace_back(failures_key(runner_.name), failures_.encode());
    bool ok =
        retry_meta("notify.cursor_write_failed", [&] { return shared_.log.put_meta_batch(meta); });
    if (!ok) return false;
    failures_.clear_changed();
    persisted_ = cursor_;
    runner_.update([&](ConsumerHealth& h) { h.cursor = cursor_; });
    return true;
}

}  // namespace

}  // namespace netkeep::notify

namespace netkeep::notify {

namespace {

std::optional<GitOutcome> TargetLoop::git_outcome(const EventRecord& record,
                                                  const NotifyConfig& config, std::size_t target) {
    const auto* c = std::get_if<CompletionRecorded>(&record.event);
    if (!c || c->failure || shared_.options.repo_path.empty()) return GitOutcome{};
    if (!target_wants(config, target, EventKind::config_changed) &&
        !target_wants(config, target, EventKind::quarantined))
        return GitOutcome{};
    if (Status s = shared_.versions.load(shared_.log); !s) return std::nullopt;
    GitOutcome out;
    auto applied = shared_.log.get_meta(gitwriter::applied_key(record.seq));
    if (applied) {
        auto parsed = gitwriter::parse_applied_record(*applied);
        if (!parsed) return out;  // not ours to judge: verify reports it
        shared_.versions.add(record.seq, *parsed);
        out.kind = GitOutcome::Kind::applied;
        out.blob = parsed->blob;
        out.commit = parsed->commit;
        out.path = parsed->path;
        auto previous = shared_.versions.previous(parsed->path, record.seq);
        if (!previous)
            out.previous_known = false;
        else if (*previous) {
            out.previous_blob = (*previous)->blob;
            out.previous_commit = (*previous)->commit;
        }
        return out;
    }
    if (applied.status().code() != Status::Code::not_found) return std::nullopt;
    auto quarantined = shared_.log.get_meta(gitwriter::quarantine_key(record.seq));
    if (quarantined) {
        auto parsed = gitwriter::parse_quarantine_record(*quarantined);
        out.kind = GitOutcome::Kind::quarantined;
        if (parsed) out.detail = parsed->detail;
        return out;
    }
    if (quarantined.status().code() != Status::Code::not_found) return std::nullopt;
    return out;
}

// The new version's lines, all added: the diff of a task's first version.
std::string all_added(std::string_view content) {
    std::string out;
    std::size_t lines = 0;
    std::string body;
    while (!content.empty()) {
        std::size_t end = content.find('\n');
        std::string_view line = content.substr(0, end);
        body += '+';
        body.append(line);
        body += '\n';
        ++lines;
        content = end == std::string_view::npos ? std::string_view() : content.substr(end + 1);
    }
    out = fmt::format("@@ -0,0 +1,{} @@\n", lines);
    return out + body;
}

void TargetLoop::fill_diff(Notification& n, const Target& target) {
    if (!n.old_known) {
        n.diff_truncated = true;
        n.error = "the version before is no longer indexed: no diff";
        return;
    }
    auto reader = shared_.reader();
    Status failed = Status::unavailable("the repository is not open");
    if (reader && n.old_blob.empty()) {
        // Read a little more than is sent, so that the cut is seen.
        auto blob = reader->read_blob(n.new_blob, target.max_diff_bytes * 2 + 4096);
        if (blob)
            n.diff = all_added(*blob);
        else if (blob.status().code() == Status::Code::too_large)
            n.diff_truncated = true;
        failed = blob.status().code() == Status::Code::too_large ? Status::ok() : blob.status();
    } else if (reader) {
        auto diff = reader->diff(n.old_blob, n.new_blob, DiffOptions{});
        if (diff) n.diff = unified_diff_text(*diff);
        if (diff && diff->truncated) n.diff_truncated = true;
        failed = diff.status();
    }
    if (!failed) {
        log_line(LogLevel::warn, "notify.diff_failed",
                 {{"target", target.name},
                  {"seq", std::to_string(n.seq)},
                  {"error", failed.to_string()}});
        n.error = "the diff could not be read from git";
    }
    if (truncate_diff(n.diff, target.max_diff_bytes)) n.diff_truncated = true;
}

// Until the target takes it, it refuses it for good, or the thread is asked to stop.
// Each attempt uses the configuration in force (a reload may have fixed the target).
bool TargetLoop::deliver(const Target& first, const Notification& n) {
    Target target = first;
    std::uint32_t permanent = 0;
    for (;;) {
        const unix_time now = shared_.options.now();
        DeliveryResult r = shared_.options.deliver(target, n, now, &runner_.stopping);
        if (!r.status && runner_.stopping) return false;  // cancelled: not a failure
        if (r.status) {
            backoff_.reset();
            runner_.update([&](ConsumerHealth& h) {
                h.delivered_total += 1;
                h.consecutive_failures = 0;
                h.last_success = now;
            });
            log_line(LogLevel::info, "notify.delivered",
                     {{"target", target.name},
                      {"event", std::string(event_kind_name(n.kind))},
                      {"seq", std::to_string(n.seq)},
                      {"device", n.device},
                      {"job", n.job}});
            return true;
        }
        permanent = r.permanent ? permanent + 1 : 0;
        const auto wait = backoff_.next();
        runner_.update([&](ConsumerHealth& h) {
            h.errors_total += 1;
            h.consecutive_failures += 1;
            h.last_error = r.status.message();
        });
        const bool drop = permanent >= shared_.options.permanent_attempts;
        log_line(drop ? LogLevel::error : LogLevel::warn,
                 drop ? "notify.dropped" : "notify.delivery_failed",
                 {{"target", target.name},
                  {"event", std::string(event_kind_name(n.kind))},
                  {"seq", std::to_string(n.seq)},
                  {"error", r.status.message()},
                  {"retry_ms", drop ? "-" : std::to_string(wait.count())}});
        if (drop) return true;
        if (!runner_.sleep(wait)) return false;
        auto [config, devices] = shared_.snapshot();
        if (!config) return false;
        auto it = std::find_if(config->targets.begin(), config->targets.end(),
                               [&](const Target& t) { return t.name == runner_.name; });
        if (it == config->targets.end()) return false;
        target = *it;
    }
}

// One batch of events; false when the thread should end.
bool TargetLoop::step() {
    auto [config, devices] = shared_.snapshot();
    if (!config) return false;
    auto it = std::find_if(config->targets.begin(), config->targets.end(),
                           [&](const Target& t) { return t.name == runner_.name; });
    if (it == config->targets.end()) return false;
    const std::size_t index = std::size_t(it - config->targets.begin());
    const std::uint64_t bound = shared_.bound();
    if (cursor_ >= bound) return runner_.sleep(shared_.options.poll);
    const std::uint64_t to = std::min<std::uint64_t>(bound, cursor_ + shared_.options.batch);
    std::vector<EventRecord> records;
    Status read = shared_.log.scan(cursor_ + 1, to, [&](EventRecord&& r) {
        records.push_back(std::move(r));
        return true;
    });
    if (!read) {
        log_line(LogLevel::error, "notify.read_failed",
                 {{"target", runner_.name}, {"error", read.to_string()}});
        return runner_.sleep(shared_.options.retry_max);
    }
    DeviceLookup lookup = [&devices = devices](std::string_view name) -> const DeviceInfo* {
        if (!devices) return nullptr;
        auto d = devices->find(std::string(name));
        return d == devices->end() ? nullptr : &d->second;
    };
    for (const EventRecord& record : records) {
        auto git = git_outcome(record, *config, index);
        if (!git) return runner_.sleep(shared_.options.retry_first);  // a meta read failed
        auto notes = select_notifications(*config, index, record, &*git, failures_, lookup);
        for (Notification& n : notes) {
            if (n.kind == EventKind::config_changed) fill_diff(n, *it);
            if (!deliver(*it, n)) {
                abandoned_ = true;
                return false;
            }
        }
        cursor_ = record.seq;
        if (!notes.empty() && !persist()) return false;
    }
    return persist();
}

void TargetLoop::run() {
    pthread_setname_np(pthread_self(), "netkeep-notify");
    if (!start()) return;
    log_line(LogLevel::info, "notify.started",
             {{"target", runner_.name}, {"cursor", std::to_string(cursor_)}});
    while (!runner_.stopping && step()) {
    }
    // What was handled completely is kept: one attempt, the thread is on its way out.
    if (!abandoned_ && (persisted_ != cursor_ || failures_.changed())) {
        std::vector<std::pair<std::string, std::string>> meta{
            {consumer_cursor_key(consumer_name(runner_.name)), std::to_string(cursor_)}};
        if (failures_.changed()) meta.emplace_back(failures_key(runner_.name), failures_.encode());
        if (Status s = shared_.log.put_meta_batch(meta); !s)
            log_line(LogLevel::warn, "notify.cursor_write_failed",
                     {{"target", runner_.name}, {"error", s.to_string()}});
    }
    log_line(LogLevel::info, "notify.stopped",
             {{"target", runner_.name}, {"cursor", std::to_string(cursor_)}});
}

}  // namespace

NotifyEngine::NotifyEngine(EventLog& log, NotifyEngineOptions options)
    : shared_(std::make_shared<Shared>(log, std::move(options))) {
    if (!shared_->options.now) shared_->options.now = system_now;
    if (!shared_->options.deliver) shared_->options.deliver = notify::deliver;
}

NotifyEngine::~NotifyEngine() { stop(); }

void NotifyEngine::configure(std::shared_ptr<const NotifyConfig> config,
                             std::shared_ptr<const DeviceMap> devices) {
    {
        std::lock_guard lock(shared_->mutex);
        shared_->config = config;
        shared_->devices = std::move(devices);
    }
    std::lock_guard lock(mutex_);
    for (auto it = runners_.begin(); it != runners_.end();) {
        const bool kept =
            config && std::any_of(config->targets.begin(), config->targets.end(),
                                  [&](const Target& t) { return t.name == it->first; });
        if (kept && !it->second->done) {
            ++it;
            continue;
        }
        it->second->request_stop();
        retired_.push_back(std::move(it->second));
        it = runners_.erase(it);
    }
    if (config)
        for (const Target& t : config->targets) {
            if (runners_.count(t.name)) continue;
            auto runner = std::make_unique<Runner>();
            runner->name = t.name;
            runner->health.name = consumer_name(t.name);
            for (const auto& old : retired_)
                if (old->name == t.name && !old->done) runner->predecessor = old->finished;
            Runner* r = runner.get();
            Shared* shared = shared_.get();
            runner->thread = std::thread([shared, r] {
                TargetLoop(*shared, *r).run();
                r->done = true;
                r->ended.set_value();
            });
            runners_.emplace(t.name, std::move(runner));
        }
    reap_finished();
}

// Joins the retired threads that ended (the others are joined by stop()).
void NotifyEngine::reap_finished() {
    for (auto it = retired_.begin(); it != retired_.end();) {
        if (!(*it)->done) {
            ++it;
            continue;
        }
        if ((*it)->thread.joinable()) (*it)->thread.join();
        it = retired_.erase(it);
    }
}

void NotifyEngine::stop() {
    std::vector<std::unique_ptr<Runner>> all;
    {
        std::lock_guard lock(mutex_);
        for (auto& [name, r] : runners_) all.push_back(std::move(r));
        runners_.clear();
        for (auto& r : retired_) all.push_back(std::move(r));
        retired_.clear();
    }
    for (auto& r : all) r->request_stop();
    for (auto& r : all)
        if (r->thread.joinable()) r->thread.join();
}

std::vector<ConsumerHealth> NotifyEngine::health() const {
    std::vector<ConsumerHealth> out;
    // The lag behind the log as it is now: a target stuck on one delivery falls behind.
    const std::uint64_t last = shared_->log.last_seq();
    std::lock_guard lock(mutex_);
    for (const auto& [name, r] : runners_) {
        std::lock_guard h(r->health_mutex);
        out.push_back(r->health);
        out.back().lag = last > out.back().cursor ? last - out.back().cursor : 0;
    }
    return out;
}

}  // namespace netkeep::notify
