#include "engine/engine.hpp"

#include <future>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "engine/held_tasks.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/snapshot.hpp"

namespace netkeep::engine {

namespace {

unix_time system_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void log_inventory_applied(std::uint64_t seq, const Inventory& inventory) {
    log_line(LogLevel::info, "inventory.applied",
             {{"seq", std::to_string(seq)},
              {"devices", std::to_string(inventory.devices.size())},
              {"jobs", std::to_string(inventory.jobs.size())},
              {"tasks", std::to_string(inventory.tasks.size())}});
}

}  // namespace

void EventCounts::count(const std::vector<Event>& events) {
    for (const Event& event : events) {
        std::visit(
            [&](const auto& e) {
                using T = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<T, LeaseGranted>) {
                    leases_granted += 1;
                } else if constexpr (std::is_same_v<T, LeaseExpired>) {
                    leases_expired += 1;
                } else if constexpr (std::is_same_v<T, CompletionRecorded>) {
                    (e.failure ? completions_failed : completions_ok) += 1;
                    bytes_ingested += e.size;
                } else if constexpr (std::is_same_v<T, RunRequested>) {
                    run_requests += 1;
                } else if constexpr (std::is_same_v<T, OccurrenceClosed>) {
                    if (e.reason == CloseReason::failed) occurrences_failed += 1;
                }
            },
            event);
    }
}

Engine::Engine(asio::io_context& io, asio::thread_pool& blocking, EventLog& log,
               EngineOptions options)
    : io_(io), blocking_(blocking), log_(log), options_(std::move(options)), expiry_timer_(io) {
    if (!options_.now) options_.now = system_now;
}

// ---- start-up ----

Status Engine::start() {
    auto auth = load_auth();
    if (!auth) return auth.status();
    auth_ = std::move(*auth);
    // The inventory on disk does not depend on the log: read and resolve it on another
    // thread while the log replays (both take about a second for 100,000 devices).
    auto loading = std::async(std::launch::async, [this] { return load_inventory(); });
    load_snapshot();
    Status replayed = catch_up(log_.last_seq());
    auto inventory = loading.get();
    if (!replayed) return replayed;
    if (!inventory) return inventory.status();
    std::function<void()> beside;
    if (options_.load_beside) {
        auto loaded = options_.load_beside(*inventory);
        if (!loaded) return loaded.status();
        beside = std::move(*loaded);
    }
    auto events = decide_inventory(projection_, *inventory, now());
    if (!events.empty()) {
        auto range = log_.append(events);
        if (!range) return range.status();
        counts_.count(events);
        for (std::size_t i = 0; i < events.size(); ++i)
            if (Status s = projection_.apply(EventRecord{range->first + i, std::move(events[i])});
                !s)
                return s;
        log_inventory_applied(range->last, *inventory);
    }
    use_resolved(std::move(*inventory));
    if (beside) beside();
    started_at_ = now();
    return Status::ok();
}

// A snapshot ahead of the log or of another log, or damaged, is skipped with a warning
// (snapshot.skipped) for an older one; none at all is a full replay. Never an error: the
// log is the truth, snapshots only save time.
void Engine::load_snapshot() {
    if (snapshot_dir_.empty()) return;
    const auto started = std::chrono::steady_clock::now();
    // Every seq: one ahead of the log is skipped with a warning by the check, not quietly.
    auto loaded =
        load_newest_snapshot(snapshot_dir_, std::numeric_limits<std::uint64_t>::max(),
                             std::numeric_limits<unix_time>::max(), snapshot_matches_log(log_));
    if (!loaded) {
        if (log_.first_seq() > 1)
            log_line(LogLevel::error, "snapshot.none_for_log",
                     {{"first_seq", std::to_string(log_.first_seq())},
                      {"why",
                       "the log no longer starts at seq 1 and no snapshot loads: the "
                       "replayed state lacks the removed events"}});
        return;
    }
    projection_ = std::move(loaded->projection);
    from_snapshot_ = loaded->info.seq;
    log_line(LogLevel::info, "snapshot.loaded",
             {{"seq", std::to_string(from_snapshot_)},
              {"path", loaded->info.path},
              {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - started)
                                        .count())}});
}

Result<Inventory> Engine::load_inventory() const {
    auto files = read_inventory_files(options_.inventory_dir);
    if (!files) return files.status();
    return parse_inventory(*files, InventoryLoadOptions{.resolve_secrets = true,
                                                        .secrets_dir = options_.inventory_dir});
}

Result<std::optional<Authenticator>> Engine::load_auth() const {
    if (options_.auth_file.empty()) return std::optional<Authenticator>();
    auto file = load_auth_file(options_.auth_file);
    if (!file) return file.status();
    return std::optional<Authenticator>(Authenticator(std::move(*file)));
}

void Engine::use_auth(std::optional<Authenticator> auth) {
    if (!auth) return;
    log_line(LogLevel::info, "auth.loaded",
             {{"tokens", std::to_string(auth->file().tokens.size())}});
    auth_ = std::move(auth);
}

void Engine::use_resolved(Inventory inventory) {
    free_elsewhere(std::exchange(resolved_, std::move(inventory)));
}

template <class T>
void Engine::free_elsewhere(T value) {
    auto owned = std::make_shared<T>(std::move(value));
    asio::post(blocking_, [owned = std::move(owned)]() mutable { owned.reset(); });
}

// ---- the one path for state changes ----

asio::awaitable<Result<SeqRange>> Engine::append_and_apply(std::vector<Event> events,
                                                           PreparedInventory* prepared) {
    auto result =
        co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result<SeqRange>)>(
            [this, &events](auto handler) {
                // The log calls back on its writer thread; hop back to the io thread, and keep
                // the io_context running until then (shutdown waits for durable answers).
                auto work = asio::make_work_guard(io_);
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                log_.append_async(events, [shared, work](Result<SeqRange> r) mutable {
                    auto ex = asio::get_associated_executor(*shared, work.get_executor());
                    asio::post(ex, [shared, r = std::move(r), work]() mutable {
                        (*shared)(std::move(r));
                    });
                });
            },
            asio::use_awaitable);
    if (!result) co_return result;
    counts_.count(events);
    // Events appended by others (not through this path) come first: apply in log order.
    if (Status s = catch_up(result->first - 1); !s) co_return s;
    for (std::size_t i = 0; i < events.size(); ++i) {
        EventRecord record{result->first + i, std::move(events[i])};
        Status s = prepared && std::holds_alternative<InventoryApplied>(record.event)
                       ? projection_.apply(record, *std::exchange(prepared, nullptr))
                       : projection_.apply(record);
        if (!s) {
            log_line(LogLevel::error, "projection.apply_failed", {{"error", s.to_string()}});
            co_return s;
        }
    }
    co_return result;
}

Status Engine::catch_up(std::uint64_t through) { return replay(log_, through, projection_); }

// ---- lease expiry ----

void Engine::run_background() { asio::co_spawn(io_, expiry_loop(), asio::detached); }

void Engine::stop() {
    stopping_ = true;
    expiry_timer_.cancel();
}

asio::awaitable<void> Engine::expiry_loop() {
    while (!stopping_) {
        // An exception must not end lease expiry for the life of the process.
        try {
            co_await expire_due_leases();
        } catch (const std::exception& e) {
            log_line(LogLevel::error, "lease.expiry_failed", {{"error", e.what()}});
        }
        expiry_timer_.expires_after(options_.expiry_tick);
        asio::error_code ec;  // cancelled only by stop(), which the loop condition sees
        co_await expiry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> Engine::expire_due_leases() {
    const unix_time at = now();
    std::vector<task_id> ids = projection_.expired_leases(at, 1000);
    if (ids.empty()) co_return;
    std::vector<Event> events;
    held_tasks held(projection_);
    for (task_id id : ids) {
        for (Event& e : decide_expiry(projection_, id, at)) events.push_back(std::move(e));
        held.hold(id);
    }
    auto appended = co_await append_and_apply(std::move(events));
    if (!appended)
        log_line(LogLevel::error, "lease.expiry_append_failed",
                 {{"error", appended.status().to_string()}});
}

// ---- reload ----

asio::awaitable<Result<std::uint64_t>> Engine::reload() {
    // One at a time: a second reload would decide against a projection the first is
    // about to change, and the last answer could describe an inventory not in force.
    if (reloading_) {
        log_line(LogLevel::warn, "inventory.reload_busy");
        co_return Status::unavailable("a reload is already in progress; try again");
    }
    reloading_ = true;
    struct done_guard {
        bool& flag;
        ~done_guard() { flag = false; }
    } done{reloading_};
    // Both files are checked before either is used: a reload takes effect whole or not at all.
    // Reading and parsing them takes about a second for 100,000 devices: that runs on the
    // blocking pool, so /worker/next and every other request are served meanwhile. So does
    // the structural form the projection applies, indexed and matched against the tasks
    // in force (prepare_inventory): on the io thread, the decision and the apply move
    // pointers (a reload stalled /worker/next for seconds when they parsed and hashed).
    Result<std::optional<Authenticator>> auth = Status::unavailable("not loaded");
    Result<Inventory> inventory = Status::unavailable("not loaded");
    std::optional<PreparedInventory> prepared;
    Result<std::function<void()>> beside = std::function<void()>();
    // A local, not a capture by value: GCC 12 destroys a coroutine lambda's by-value
    // captures once too often under co_spawn (a shared_ptr captured so lost a reference).
    auto current = projection_.inventory_index();
    co_await asio::co_spawn(
        blocking_,
        [&]() -> asio::awaitable<void> {
            auth = load_auth();
            if (auth) inventory = load_inventory();
            if (!inventory) co_return;
            if (options_.load_beside) beside = options_.load_beside(*inventory);
            if (!beside) co_return;
            auto structural =
                parse_inventory(inventory->recorded,
                                InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
            if (structural)
                prepared = prepare_inventory(std::move(current), std::move(*structural));
            co_return;
        },
        asio::use_awaitable);
    if (!auth) {
        log_line(LogLevel::error, "auth.refused", {{"error", auth.status().message()}});
        co_return auth.status();
    }
    if (!inventory) {
        log_line(LogLevel::error, "inventory.refused", {{"error", inventory.status().message()}});
        co_return inventory.status();
    }
    if (!beside) {
        log_line(LogLevel::error, "inventory.refused", {{"error", beside.status().message()}});
        co_return beside.status();
    }
    // Without a prepared form (its recorded files do not parse) the projection parses
    // the event itself and reports why.
    auto events = prepared ? decide_inventory(projection_, *prepared, now())
                           : decide_inventory(projection_, *inventory, now());
    if (events.empty()) {
        if (prepared) free_elsewhere(std::move(*prepared));
        use_auth(std::move(*auth));
        use_resolved(std::move(*inventory));  // secrets may have changed
        if (*beside) (*beside)();
        log_line(LogLevel::info, "inventory.unchanged");
        co_return std::uint64_t{0};
    }
    auto appended = co_await append_and_apply(std::move(events), prepared ? &*prepared : nullptr);
    if (prepared) free_elsewhere(std::move(*prepared));  // the replaced inventory, once applied
    if (!appended) {
        log_line(LogLevel::error, "inventory.append_failed",
                 {{"error", appended.status().to_string()}});
        co_return appended.status();
    }
    log_inventory_applied(appended->last, *inventory);
    use_auth(std::move(*auth));
    use_resolved(std::move(*inventory));
    if (*beside) (*beside)();
    co_return appended->last;
}

}  // namespace netkeep::engine
