// sim-year's generator (sim_generate.hpp). One thread drives a Projection minute by
// minute: expiries, run-now requests, then every due occurrence is leased and (mostly)
// completed within the minute, exactly through decide_expiry, decide_run, decide_grant
// and decide_completion; a reload goes through parse_inventory and decide_inventory. Each
// event is applied to the projection as soon as it is decided (the next decision must
// see it) and appended in large unsynced batches (EventLogOptions::sync = false): the
// log's format is the same, only durability is skipped.

#include "sim_generate.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/projection.hpp"
#include "netkeep/sha256.hpp"

#if defined(SIM_HAVE_SNAPSHOTS)
#include "netkeep/snapshot.hpp"
#endif

namespace netkeep::sim {

namespace fs = std::filesystem;

namespace {

constexpr unix_time k_tick = 60;
constexpr std::size_t k_batch = 20'000;
constexpr unix_time k_day = 86'400;

// What a task's config is now: its version and the content's size and hash, so the hash
// is computed once per change, not once per run.
struct Content {
    std::uint32_t version = 0;
    std::uint64_t size = 0;
    std::string sha256;
};

std::string job_name(int index) {
    static constexpr std::string_view names[] = {"show_run", "show_version", "show_inventory"};
    if (index < 3) return std::string(names[index]);
    return fmt::format("job-{}", index);
}

unix_time time_of(const Event& e) {
    return std::visit([](const auto& v) { return v.at; }, e);
}

// The config a device reports for a job at a version: a small, plausible text whose
// version line changes.
std::string config_text(std::string_view device, std::string_view job, std::uint32_t version,
                        int bytes) {
    std::string out =
        fmt::format("! {} {}\n! version {}\nhostname {}\n", device, job, version, device);
    for (int i = 0; int(out.size()) < bytes; ++i)
        out += fmt::format(
            "interface GigabitEthernet0/{}\n description uplink {}\n no shutdown\n!\n", i, i % 7);
    return out;
}

class Generator {
public:
    Generator(const GenerateOptions& o, EventLog& log)
        : o_(o), log_(log), rng_(o.seed), start_(o.end - unix_time(o.days) * k_day) {
        content_.resize(std::size_t(o.devices + o.reloads + 1) * std::size_t(o.jobs));
        for (int d = 0; d < o.devices; ++d) active_.push_back(d);
        next_device_ = o.devices;
        report_.start = start_;
        report_.end = o.end;
    }

    Result<GenerateReport> run();

private:
    double uniform() { return double(rng_() >> 11) * 0x1.0p-53; }
    Status emit(Event e);
    Status flush();
    Status apply_inventory(unix_time at);
    Status tick(unix_time t);
    Status expire(unix_time t);
    Status request_runs(unix_time t);
    Status lease_and_complete(unix_time t);
    Result<CompletionRecorded> completion(task_id id, unix_time start, unix_time end, bool fail);
    Status reload(unix_time t, int k);
    Status snapshot();
    void progress(unix_time t);
    std::size_t slot_of(const TaskState& t) const;

    const GenerateOptions& o_;
    EventLog& log_;
    std::mt19937_64 rng_;
    const unix_time start_;
    Projection p_;
    std::vector<Event> batch_;
    std::uint64_t next_seq_ = 1;
    unix_time last_at_ = 0;
    std::vector<Content> content_;  // [device number * jobs + job]
    std::vector<int> active_;       // the device numbers in the inventory, in file order
    int next_device_ = 0;
    std::uint64_t spool_counter_ = 0;
    GenerateReport report_;
    std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_progress_ = began_;
};

Status Generator::emit(Event e) {
    last_at_ = time_of(e);
    EventRecord record{next_seq_++, std::move(e)};
    if (Status s = p_.apply(record); !s) return s;
    batch_.push_back(std::move(record.event));
    ++report_.events;
    return batch_.size() >= k_batch ? flush() : Status::ok();
}

Status Generator::flush() {
    if (batch_.empty()) return Status::ok();
    auto range = log_.append(batch_);
    if (!range) return range.status();
    if (range->last != next_seq_ - 1)
        return Status::conflict(fmt::format("the log gave seqs {}..{}, the projection expected {}",
                                            range->first, range->last, next_seq_ - 1));
    batch_.clear();
    return Status::ok();
}

// The inventory of the active devices, written to <data_dir>/inventory and applied as
// netkeepd applies one at start or on a reload.
Status Generator::apply_inventory(unix_time at) {
    std::string devices = R"({"credentials": {"lab": {"user": "netops", "pass": "sim-year"}},)"
                          "\n \"devices\": [";
    for (std::size_t i = 0; i < active_.size(); ++i) {
        const int d = active_[i];
        devices += fmt::format(
            R"({}{{"name": "{}", "host": "10.{}.{}.{}", "credentials": "lab", "tags": ["site-{}"], "group": "g{}"}})",
            i ? ",\n  " : "\n  ", device_name(d), (d >> 16) & 255, (d >> 8) & 255, d & 255, d % 10,
            d % 20);
    }
    devices += "\n]}\n";
    std::string jobs = R"({"jobs": [)";
    for (int j = 0; j < o_.jobs; ++j)
        jobs += fmt::format(
            R"({}{{"name": "{}", "schedule": {{"interval": 3600}}, "command": {{"inline": ["{}"]}}, "timeout": 600}})",
            j ? ",\n  " : "\n  ", job_name(j), job_name(j));
    jobs += "\n]}\n";
    const fs::path dir = fs::path(o_.data_dir) / "inventory";
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::ofstream(dir / "devices.json", std::ios::binary | std::ios::trunc) << devices;
    std::ofstream(dir / "jobs.json", std::ios::binary | std::ios::trunc) << jobs;
    auto files = read_inventory_files(dir.string());
    if (!files) return files.status();
    auto parsed = parse_inventory(
        *files, InventoryLoadOptions{.resolve_secrets = true, .secrets_dir = dir.string()});
    if (!parsed) return parsed.status();
    for (Event& e : decide_inventory(p_, *parsed, at))
        if (Status s = emit(std::move(e)); !s) return s;
    return Status::ok();
}

std::size_t Generator::slot_of(const TaskState& t) const {
    int number = 0;
    std::string_view digits = t.device.substr(4, 6);
    std::from_chars(digits.data(), digits.data() + digits.size(), number);
    return std::size_t(number) * std::size_t(o_.jobs) + t.job_index;
}

Status Generator::expire(unix_time t) {
    for (task_id id : p_.expired_leases(t, SIZE_MAX)) {
        ++report_.expiries;
        for (Event& e : decide_expiry(p_, id, t))
            if (Status s = emit(std::move(e)); !s) return s;
    }
    return Status::ok();
}

// Operators' run-now requests, about runs_per_day a day, each for a random task.
Status Generator::request_runs(unix_time t) {
    if (p_.task_count() == 0 || uniform() >= o_.runs_per_day * double(k_tick) / double(k_day))
        return Status::ok();
    const TaskState& task = p_.task(task_id(rng_() % p_.task_count()));
    if (task.closed) return Status::ok();
    auto decision = decide_run(p_, task.device, task.job, t, "192.0.2.10");
    if (decision.kind != RunDecision::Kind::accept) return Status::ok();
    ++report_.runs;
    return emit(std::move(decision.event));
}

// The completion a worker posts for task's open occurrence: a new version of the config
// when it changed, its spool file written when the git writer is to read it.
Result<CompletionRecorded> Generator::completion(task_id id, unix_time start, unix_time end,
                                                 bool fail) {
    const TaskState& task = p_.task(id);
    CompletionRecorded c{.at = end,
                         .device = std::string(task.device),
                         .job = std::string(task.job),
                         .job_timestamp = task.timestamp,
                         .start_timestamp = start,
                         .end_timestamp = end,
                         .failure = std::nullopt,
                         .size = 0,
                         .sha256 = {},
                         .spool = {},
                         .worker = task.lease ? task.lease->worker : "worker-1",
                         .changed_by = {},
                         .trigger = {}};
    if (fail) {
        c.failure = "connect: timed out after 30 s";
        c.sha256 = std::string(32, '\0');
        return c;
    }
    Content& content = content_[slot_of(task)];
    const bool hot = o_.hot_device && c.device == device_name(0) && task.job_index == 0;
    const bool changed = content.version == 0 || hot || uniform() < o_.change_rate;
    std::string text;
    if (changed || o_.git_writer)
        text = config_text(c.device, c.job, content.version + (changed ? 1 : 0), o_.config_bytes);
    if (changed) {
        if (content.version > 0) ++report_.changes;
        ++content.version;
        content.size = text.size();
        auto digest = [&] {
            Sha256 h;
            h.update(text);
            return h.finish();
        }();
        content.sha256.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
    }
    c.size = content.size;
    c.sha256 = content.sha256;
    c.spool = fmt::format("sim-{}-{}", o_.seed, spool_counter_++);
    if (o_.git_writer) {
        std::ofstream out(fs::path(o_.data_dir) / "spool" / c.spool, std::ios::binary);
        out << text;
        if (!out.flush()) return Status::io_error("cannot write the spool file " + c.spool);
        ++report_.spool_files;
    }
    return c;
}

// Every due occurrence is leased at t; most are completed within the minute (in the
// order of their end times), a few fail (and are retried once the retry delay passed),
// and a few are never completed (their lease expires later).
Status Generator::lease_and_complete(unix_time t) {
    struct Run {
        task_id id;
        unix_time end;
        bool fail;
    };
    std::vector<Run> runs;
    static constexpr std::string_view workers[] = {"worker-a", "worker-b", "worker-c"};
    for (task_id id : p_.due({}, t, SIZE_MAX)) {
        if (Status s = emit(decide_grant(p_, id, t, std::string(workers[rng_() % 3]))); !s)
            return s;
        const double roll = uniform();
        if (roll < o_.expiry_rate) continue;
        runs.push_back(
            {id, t + 5 + unix_time(rng_() % 50), roll < o_.expiry_rate + o_.failure_rate});
    }
    std::stable_sort(runs.begin(), runs.end(),
                     [](const Run& a, const Run& b) { return a.end < b.end; });
    for (const Run& run : runs) {
        auto c = completion(run.id, t, run.end, run.fail);
        if (!c) return c.status();
        auto decision = decide_completion(p_, *c);
        if (decision.kind != CompletionDecision::Kind::accept)
            return Status::conflict(
                fmt::format("{}/{}: completion refused: {}", c->device, c->job, decision.message));
        ++report_.completions;
        if (run.fail) ++report_.failures;
        for (Event& e : decision.events)
            if (Status s = emit(std::move(e)); !s) return s;
    }
    return Status::ok();
}

// Reload k: odd ones add a device, even ones remove a random one (never the first, whose
// history is measured).
Status Generator::reload(unix_time t, int k) {
    if (k % 2 == 1 || active_.size() < 3) {
        active_.push_back(next_device_++);
    } else {
        active_.erase(active_.begin() + 1 + std::ptrdiff_t(rng_() % (active_.size() - 1)));
    }
    ++report_.reloads;
    return apply_inventory(t);
}

// What netkeepd's snapshot thread leaves on disk: it writes every 10 minutes (or million
// events) and at a clean stop, and thins to the first snapshot of each day plus the newest
// three; the generator writes those directly (daily, and at the end) and thins the same way.
Status Generator::snapshot() {
#if defined(SIM_HAVE_SNAPSHOTS)
    const std::uint32_t check = batch_.empty() ? 0 : snapshot_event_check(batch_.back());
    if (Status s = flush(); !s) return s;
    const std::string dir = (fs::path(o_.data_dir) / "snapshots").string();
    auto written = write_snapshot(dir, p_, last_at_, check);
    if (!written) return written.status();
    ++report_.snapshots;
    return thin_snapshots(dir, 400, last_at_);
#else
    return Status::ok();
#endif
}

Status Generator::tick(unix_time t) {
    if (Status s = expire(t); !s) return s;
    if (Status s = request_runs(t); !s) return s;
    return lease_and_complete(t);
}

void Generator::progress(unix_time t) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::seconds(10) && t < o_.end) return;
    last_progress_ = now;
    const double s = std::chrono::duration<double>(now - began_).count();
    fmt::print(stderr, "sim-year: day {:.1f}/{}: {} events, {:.0f} events/s\n",
               double(t - start_) / double(k_day), o_.days, report_.events,
               double(report_.events) / std::max(s, 1e-9));
}

Result<GenerateReport> Generator::run() {
    if (Status s = apply_inventory(start_ - k_tick); !s) return s;
    const unix_time period = o_.end - start_;
    int reloads_done = 0;
    for (unix_time t = start_; t < o_.end; t += k_tick) {
        if (reloads_done < o_.reloads &&
            t - start_ >= period * (reloads_done + 1) / (o_.reloads + 1)) {
            if (Status s = reload(t, ++reloads_done); !s) return s;
        }
        if (o_.snapshot_every_days > 0 && t > start_ &&
            (t - start_) % (k_day * unix_time(o_.snapshot_every_days)) == 0) {
            if (Status s = snapshot(); !s) return s;
        }
        if (Status s = tick(t); !s) return s;
        if ((t - start_) % 3600 == 0) progress(t);
    }
    if (o_.snapshot_every_days > 0)
        if (Status s = snapshot(); !s) return s;
    if (Status s = flush(); !s) return s;
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
    progress(o_.end);
    return report_;
}

}  // namespace

std::string device_name(int index) { return fmt::format("rtr-{:06}.example.net", index); }

bool generator_writes_snapshots() {
#if defined(SIM_HAVE_SNAPSHOTS)
    return true;
#else
    return false;
#endif
}

#if defined(SIM_HAVE_SNAPSHOTS)
Result<std::uint64_t> write_snapshots_from_log(const std::string& data_dir, unix_time start) {
    auto log = open_event_log_reader((fs::path(data_dir) / "log").string());
    if (!log) return log.status();
    const std::string dir = (fs::path(data_dir) / "snapshots").string();
    Projection p;
    p.defer_indexing();  // a snapshot holds no indexes
    std::uint64_t written = 0;
    unix_time next_day = start + k_day, at = 0;
    std::uint32_t check = 0;
    Status failed = Status::ok();
    auto write = [&] {
        auto w = write_snapshot(dir, p, at, check);
        if (w)
            failed = thin_snapshots(dir, 400, at);
        else
            failed = w.status();
        ++written;
        return failed.is_ok();
    };
    Status scanned = (*log)->scan(1, (*log)->last_seq(), [&](EventRecord&& r) {
        const unix_time t = time_of(r.event);
        // Snapshot the state before the first event of a new day, as the generator does.
        if (t >= next_day && p.last_seq() > 0) {
            if (!write()) return false;
            while (next_day <= t) next_day += k_day;
        }
        at = t;
        check = snapshot_event_check(r.event);
        failed = p.apply(r);
        return failed.is_ok();
    });
    if (!scanned) return scanned;
    if (!failed) return failed;
    if (!write()) return failed;
    return written;
}
#else
Result<std::uint64_t> write_snapshots_from_log(const std::string&, unix_time) {
    return Status::not_supported("this sim-year was built without the snapshot library");
}
#endif

Result<GenerateReport> generate(const GenerateOptions& options) {
    if (options.devices < 1 || options.devices > 999'999 || options.jobs < 1 ||
        options.jobs > 100 || options.days < 1 || options.days > 3660)
        return Status::invalid_argument(
            "devices in [1, 999999], jobs in [1, 100], days in [1, 3660]");
    std::error_code ec;
    fs::create_directories(fs::path(options.data_dir) / "spool", ec);
    if (ec) return Status::io_error(fmt::format("{}: {}", options.data_dir, ec.message()));
    auto log = open_event_log((fs::path(options.data_dir) / "log").string(),
                              EventLogOptions{.sync = false,
                                              .create_if_missing = true,
                                              .on_failed = {},
                                              .resume_every = std::chrono::seconds(1)});
    if (!log) return log.status();
    if ((*log)->last_seq() != 0)
        return Status::invalid_argument(options.data_dir + " holds a log already: generate once");
    Generator generator(options, **log);
    auto report = generator.run();
    (*log)->close();
    return report;
}

}  // namespace netkeep::sim
