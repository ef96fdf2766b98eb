#pragma once
// The server's state engine: the projection's single owner, and the one path by which
// state changes. Every change follows it: decide events from the projection, reserve the
// tasks they concern (held_tasks), append the events durably, apply them to the
// projection, then answer. Nothing is answered before its events are durable.
//
// Besides that path: the start-up (replay, then the inventory on disk), lease expiry, and
// reload of the inventory and the token file (both or neither). The clock is injected
// (EngineOptions::now), so tests drive time instead of sleeping.
//
// Knows the log interface, the projection, the inventory and the token file; nothing of
// HTTP: the front ends in src/api turn requests into decisions and appends here.
//
// Threads: every member runs on the io_context's thread, which owns the projection.
// Blocking work (reading, resolving and preparing an inventory on reload, freeing a
// replaced one) runs on the pool the engine is given; log appends complete on the log's
// writer thread and are posted back to the io thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include "engine/event_counts.hpp"
#include "netkeep/auth.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/projection.hpp"

namespace netkeep::engine {

struct EngineOptions {
    std::string inventory_dir;
    // The token file (netkeepd --auth); empty: no tokens. Re-read with the inventory.
    std::string auth_file;
    // How often leases are checked against their deadlines (deadlines are whole seconds).
    std::chrono::milliseconds expiry_tick{std::chrono::milliseconds(250)};
    // The clock every decision reads; unset: the system clock. Tests set it.
    std::function<unix_time()> now;
    // Configuration kept beside the inventory and reloaded with it (netkeepd: notify.json),
    // checked with the inventory just loaded, off the io thread. An error refuses the start
    // or the reload as a bad inventory does; what it returns is called (on the io thread)
    // once the reload took effect. Unset: nothing beside.
    std::function<Result<std::function<void()>>(const Inventory&)> load_beside;
    // Reads records retention moved out of the log (netkeepd: scan_with_archive on its
    // archive dir). Start-up uses it only when the snapshot it loaded ends below the log's
    // first_seq (the newer snapshots were damaged): a slower start instead of a refused one.
    // Unset (or --archive none): such a start is refused, naming the seqs.
    EventLog::ReadArchived read_archived;
};

class Engine {
public:
    Engine(asio::io_context& io, asio::thread_pool& blocking, EventLog& log, EngineOptions options);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Before the io_context runs: replays the log into the projection, loads the token
    // file and the inventory and appends the inventory if it changed. A bad inventory or
    // token file is an error here (InvalidArgument or NotFound: the operator's to fix).
    Status start();
    // Before start(): load the newest valid snapshot in dir (docs/snapshots.md) and replay
    // only the events after it. Unset: replay the whole log.
    void use_snapshots(std::string dir) { snapshot_dir_ = std::move(dir); }
    // The seq of the snapshot start() loaded; 0 when it replayed the whole log.
    std::uint64_t from_snapshot() const { return from_snapshot_; }

    // Appends durably, then applies to the projection (first catching up on events others
    // appended meanwhile, so the projection applies in log order). On the io thread before
    // and after the await. `prepared`: the structural form of the InventoryApplied among
    // `events`, prepared off the io thread; without it the projection parses the event.
    asio::awaitable<Result<SeqRange>> append_and_apply(std::vector<Event> events,
                                                       PreparedInventory* prepared = nullptr);

    // Re-reads the token file and the inventory (on the blocking pool); refuses the reload
    // if either is bad, keeping the last good ones of both. The seq of the InventoryApplied
    // appended, or 0 when the inventory did not change. One at a time (else Unavailable).
    asio::awaitable<Result<std::uint64_t>> reload();

    // The lease-expiry loop: every expiry_tick, expires the leases past their deadline.
    void run_background();
    void stop();
    // One pass of lease expiry (what the loop does each tick), for tests that drive the clock.
    asio::awaitable<void> expire_due_leases();

    unix_time now() const { return options_.now(); }
    const Projection& projection() const { return projection_; }
    // For held_tasks: reservations change no state a replay would see.
    Projection& projection() { return projection_; }
    // The resolved inventory in force: its devices' and jobs' JSON as workers get it,
    // loaded from the files the projection last applied (same order of devices and jobs).
    const Inventory& resolved() const { return resolved_; }
    // The tokens in force; nullopt without a token file.
    const std::optional<Authenticator>& auth() const { return auth_; }
    const EventCounts& event_counts() const { return counts_; }
    unix_time started_at() const { return started_at_; }

private:
    Status catch_up(std::uint64_t through);
    // Start-up: the records between the loaded snapshot and the log's first_seq.
    Status replay_archived();
    void load_snapshot();
    Result<Inventory> load_inventory() const;
    Result<std::optional<Authenticator>> load_auth() const;
    void use_auth(std::optional<Authenticator> auth);
    void use_resolved(Inventory inventory);
    // Freeing an inventory of 100,000 devices takes a while: it happens on the blocking pool.
    template <class T>
    void free_elsewhere(T value);
    asio::awaitable<void> expiry_loop();

    asio::io_context& io_;
    asio::thread_pool& blocking_;
    EventLog& log_;
    EngineOptions options_;
    Projection projection_;
    Inventory resolved_;
    std::optional<Authenticator> auth_;
    EventCounts counts_;
    unix_time started_at_ = 0;
    std::string snapshot_dir_;
    std::uint64_t from_snapshot_ = 0;
    asio::steady_timer expiry_timer_;
    bool stopping_ = false;
    bool reloading_ = false;
};

}  // namespace netkeep::engine
