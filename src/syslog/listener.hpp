#pragma once
// netkeepd --syslog-listen HOST:PORT (docs/syslog.md): a UDP socket and a TCP listener on
// the same address, whose config-change messages record run-now requests through the
// engine, the way POST /api/v1/tasks/<device>/<job>/run does, with who changed the device
// (RunRequested's changed_by) and trigger "syslog".
//
// Bounded in every way: a datagram is at most k_max_datagram bytes (a longer one is
// dropped, counted), a TCP frame at most k_max_frame (the connection is closed), at most
// max_connections TCP connections (more are closed at accept), each closed after
// idle_timeout without a byte, each sender `rate` messages a second (the rest dropped,
// counted), and a device causes at most one run per debounce window.
//
// Threads: everything runs on the io_context's thread (the engine's); nothing locks.
// stats() may be read there at any time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "engine/engine.hpp"
#include "netkeep/status.hpp"

namespace netkeep::syslog {

struct ListenerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: an ephemeral port (tests); see Listener::port()
    std::chrono::milliseconds debounce{std::chrono::seconds(30)};
    double rate = 100;  // messages a second per sender, bursts of 2 * rate
    std::size_t max_connections = 256;
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
    // How often at most one line about unknown senders is logged.
    std::chrono::milliseconds unknown_log_interval{std::chrono::minutes(1)};
};

// Counters since start, for /metrics (docs/metrics.md) and the tests.
struct ListenerStats {
    std::uint64_t messages = 0;         // framed messages and datagrams taken in
    std::uint64_t changes = 0;          // config-change messages of a known device
    std::uint64_t unknown_senders = 0;  // messages whose sender is no device
    std::uint64_t rate_limited = 0;     // dropped: over a sender's rate
    std::uint64_t oversized = 0;        // dropped datagrams and closed TCP streams
    std::uint64_t runs_requested = 0;   // RunRequested events appended
    std::uint64_t connections_refused = 0;
    std::uint64_t connections = 0;  // open now
};

// The counters in Prometheus' text format (docs/metrics.md), netkeep_syslog_*.
std::string render_metrics(const ListenerStats& stats);

class Listener {
public:
    Listener(asio::io_context& io, engine::Engine& engine, ListenerOptions options);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // Binds both sockets (an error names the address) and starts serving.
    Status start();
    void stop();
    std::uint16_t port() const;
    const ListenerStats& stats() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace netkeep::syslog
