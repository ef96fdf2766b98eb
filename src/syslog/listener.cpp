// The syslog listener (syslog/listener.hpp): sockets and timers on the io thread; what a
// message means is decided by the pure parts (syslog/message.hpp, syslog/trigger.hpp).

#include "syslog/listener.hpp"

#include <array>
#include <list>
#include <vector>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "engine/held_tasks.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/projection.hpp"
#include "syslog/message.hpp"
#include "syslog/trigger.hpp"

namespace netkeep::syslog {

namespace {

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
using asio::ip::tcp;
using asio::ip::udp;
using clock = std::chrono::steady_clock;

steady_ms now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch())
        .count();
}

// One TCP connection: its socket and the timer that closes it when idle.
struct connection {
    explicit connection(tcp::socket s) : socket(std::move(s)), idle(socket.get_executor()) {}
    tcp::socket socket;
    asio::steady_timer idle;
    clock::time_point deadline;
    bool open = true;
    void close() {
        if (!open) return;
        open = false;
        asio::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        idle.cancel();
    }
};

}  // namespace

struct Listener::impl : std::enable_shared_from_this<impl> {
    impl(asio::io_context& io_, engine::Engine& engine_, ListenerOptions options_)
        : io(io_),
          engine(engine_),
          options(std::move(options_)),
          udp_socket(io_),
          acceptor(io_),
          flush_timer(io_),
          debouncer(options.debounce.count()),
          limiter(options.rate, 2 * options.rate) {}

    asio::io_context& io;
    engine::Engine& engine;
    ListenerOptions options;
    udp::socket udp_socket;
    tcp::acceptor acceptor;
    asio::steady_timer flush_timer;
    std::list<std::shared_ptr<connection>> connections;
    Matcher matcher;
    std::uint64_t matcher_generation = ~std::uint64_t{0};
    Debouncer debouncer;
    RateLimiter limiter;
    ListenerStats stats;
    steady_ms unknown_logged_at = 0;
    std::uint64_t unknown_unlogged = 0;
    bool flush_armed = false;
    bool stopping = false;

    Status start();
    void stop();
    void on_message(const std::string& peer, std::string_view bytes);
    void note_unknown(const std::string& peer, steady_ms now);
    void arm_flush();
    static asio::awaitable<void> udp_loop(std::shared_ptr<impl> self);
    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self);
    static asio::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<connection> c);
    static asio::awaitable<void> watch_idle(std::shared_ptr<connection> c);
    static asio::awaitable<void> flush(std::shared_ptr<impl> self);
    asio::awaitable<void> request_runs(const Debouncer::Due& due);
};

Status Listener::impl::start() {
    asio::error_code ec;
    const auto address = asio::ip::make_address(options.host, ec);
    if (ec) return Status::invalid_argument(fmt::format("syslog: bad address '{}'", options.host));
    const tcp::endpoint tcp_at(address, options.port);
    acceptor.open(tcp_at.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(tcp_at, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        return Status::unavailable(fmt::format("syslog: cannot listen on tcp {}:{}: {}",
                                               options.host, options.port, ec.message()));
    // UDP on the TCP port: with port 0 the kernel chose one, and both share it.
    const udp::endpoint udp_at(address, acceptor.local_endpoint().port());
    udp_socket.open(udp_at.protocol(), ec);
    if (!ec) udp_socket.bind(udp_at, ec);
    if (ec)
        return Status::unavailable(fmt::format("syslog: cannot bind udp {}:{}: {}", options.host,
                                               udp_at.port(), ec.message()));
    auto self = shared_from_this();
    asio::co_spawn(io, udp_loop(self), asio::detached);
    asio::co_spawn(io, accept_loop(self), asio::detached);
    log_line(LogLevel::info, "syslog.listening",
             {{"address", options.host}, {"port", std::to_string(udp_at.port())}});
    return Status::ok();
}

void Listener::impl::stop() {
    stopping = true;
    asio::error_code ignored;
    udp_socket.close(ignored);
    acceptor.close(ignored);
    flush_timer.cancel();
    for (auto& c : connections) c->close();
}

asio::awaitable<void> Listener::impl::udp_loop(std::shared_ptr<impl> self) {
    // One byte more than accepted: a datagram that fills it was longer (and truncated).
    std::vector<char> buffer(k_max_datagram + 1);
    udp::endpoint from;
    while (!self->stopping) {
        auto into = asio::buffer(buffer);
        auto [ec, n] = co_await self->udp_socket.async_receive_from(into, from, use_nothrow);
        if (self->stopping || ec == asio::error::operation_aborted) co_return;
        if (ec) continue;  // an ICMP error reported on the socket: nothing to read
        if (n > k_max_datagram) {
            ++self->stats.oversized;
            continue;
        }
        self->on_message(from.address().to_string(), std::string_view(buffer.data(), n));
    }
}

asio::awaitable<void> Listener::impl::accept_loop(std::shared_ptr<impl> self) {
    while (!self->stopping) {
        auto [ec, socket] = co_await self->acceptor.async_accept(use_nothrow);
        if (self->stopping || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors, say: wait a little instead of spinning.
            asio::steady_timer pause(self->io, std::chrono::milliseconds(100));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        if (self->connections.size() >= self->options.max_connections) {
            ++self->stats.connections_refused;
            asio::error_code ignored;
            socket.close(ignored);
            continue;
        }
        auto c = std::make_shared<connection>(std::move(socket));
        self->connections.push_back(c);
        self->stats.connections = self->connections.size();
        asio::co_spawn(self->io, serve(self, c), asio::detached);
    }
}

asio::awaitable<void> Listener::impl::watch_idle(std::shared_ptr<connection> c) {
    while (c->open) {
        c->idle.expires_at(c->deadline);
        co_await c->idle.async_wait(use_nothrow);
        if (c->open && clock::now() >= c->deadline) c->close();
    }
}

asio::awaitable<void> Listener::impl::serve(std::shared_ptr<impl> self,
                                            std::shared_ptr<connection> c) {
    asio::error_code ec;
    const auto remote = c->socket.remote_endpoint(ec);
    const std::string peer = ec ? std::string() : remote.address().to_string();
    c->deadline = clock::now() + self->options.idle_timeout;
    asio::co_spawn(self->io, watch_idle(c), asio::detached);
    Framer framer;
    std::array<char, 16384> buffer;
    auto on_frame = [&](std::string_view frame) { self->on_message(peer, frame); };
    while (c->open && !self->stopping) {
        auto into = asio::buffer(buffer);
        auto [read_error, n] = co_await c->socket.async_read_some(into, use_nothrow);
        if (read_error) {
            if (c->open) framer.finish(on_frame);
            break;
        }
        c->deadline = clock::now() + self->options.idle_timeout;
        if (!framer.feed(std::string_view(buffer.data(), n), on_frame)) {
            ++self->stats.oversized;
            break;
        }
    }
    c->close();
    self->connections.remove(c);
    self->stats.connections = self->connections.size();
}

void Listener::impl::on_message(const std::string& peer, std::string_view bytes) {
    ++stats.messages;
    const steady_ms now = now_ms();
    const Projection& projection = engine.projection();
    if (projection.inventory_generation() != matcher_generation) {
        // A reload changed the devices: match against the new ones from now on.
        matcher = Matcher::build(projection.inventory());
        matcher_generation = projection.inventory_generation();
    }
    // A device's own address keeps its room in the limiter's table during a flood.
    if (!limiter.allow(peer, now, matcher.is_device_address(peer))) {
        ++stats.rate_limited;
        return;
    }
    const Message message = parse_message(bytes);
    const Matcher::Result r = matcher.classify(peer, message);
    if (r.outcome == Matcher::Outcome::unknown_sender) return note_unknown(peer, now);
    if (r.outcome != Matcher::Outcome::change) return;
    ++stats.changes;
    debouncer.note(projection.inventory().devices[r.device].name, r.user, peer, now);
    arm_flush();
}

// Counted always; logged at most once per interval, with how many since the last line.
void Listener::impl::note_unknown(const std::string& peer, steady_ms now) {
    ++stats.unknown_senders;
    ++unknown_unlogged;
    if (unknown_logged_at != 0 && now - unknown_logged_at < options.unknown_log_interval.count())
        return;
    log_line(LogLevel::warn, "syslog.unknown_senders",
             {{"messages", std::to_string(unknown_unlogged)}, {"last_sender", peer}});
    unknown_logged_at = now;
    unknown_unlogged = 0;
}

void Listener::impl::arm_flush() {
    if (flush_armed || stopping) return;
    flush_armed = true;
    asio::co_spawn(io, flush(shared_from_this()), asio::detached);
}

// Waits for each debounce window to end and records its runs; ends when none is left.
asio::awaitable<void> Listener::impl::flush(std::shared_ptr<impl> self) {
    while (!self->stopping) {
        auto next = self->debouncer.next_due();
        if (!next) break;
        const steady_ms wait = std::max<steady_ms>(0, *next - now_ms());
        self->flush_timer.expires_after(std::chrono::milliseconds(wait));
        co_await self->flush_timer.async_wait(use_nothrow);
        if (self->stopping) break;
        std::vector<Debouncer::Due> due = self->debouncer.take_due(now_ms());
        for (const Debouncer::Due& one : due) co_await self->request_runs(one);
    }
    self->flush_armed = false;
}

namespace {

// The tasks a config change runs: the device's jobs that back up the platform's
// "config" command set (the default of a job without inline commands); a device without
// such a job runs all its jobs (docs/syslog.md#which-jobs-run).
std::vector<task_id> tasks_to_run(const Projection& p, std::uint32_t device) {
    const InventoryIndex& index = *p.inventory_index();
    const Inventory& inventory = index.inventory();
    std::vector<task_id> config, all;
    for (std::uint32_t j = 0; j < inventory.jobs.size(); ++j) {
        const task_id id = index.task(device, j);
        if (id == InventoryIndex::k_no_task) continue;
        all.push_back(id);
        if (inventory.jobs[j].platform_commands == "config") config.push_back(id);
    }
    return config.empty() ? all : config;
}

}  // namespace

asio::awaitable<void> Listener::impl::request_runs(const Debouncer::Due& due) {
    Projection& projection = engine.projection();
    auto device = projection.inventory_index()->device(due.device);
    if (!device) co_return;  // removed by a reload meanwhile
    engine::held_tasks held(projection);
    std::vector<Event> events;
    bool busy = false;
    for (task_id id : tasks_to_run(projection, *device)) {
        const TaskState& t = projection.task(id);
        RunDecision d = decide_run(projection, t.device, t.job, engine.now(),
                                   "syslog " + due.source, due.users, "syslog");
        if (d.kind == RunDecision::Kind::busy) busy = true;
        if (d.kind != RunDecision::Kind::accept) continue;
        held.hold(id);
        events.emplace_back(std::move(d.event));
    }
    if (busy)  // another append about the task is in flight: try again in a second
        debouncer.note(due.device, due.users, due.source,
                       now_ms() + 1000 - options.debounce.count());
    if (events.empty()) co_return;
    const std::size_t count = events.size();
    auto appended = co_await engine.append_and_apply(std::move(events));
    if (!appended) {
        log_line(LogLevel::error, "syslog.append_failed",
                 {{"device", due.device}, {"error", appended.status().to_string()}});
        co_return;
    }
    stats.runs_requested += count;
    log_line(LogLevel::info, "syslog.run_requested",
             {{"seq", std::to_string(appended->first)},
              {"device", due.device},
              {"runs", std::to_string(count)},
              {"changed_by", due.users},
              {"sender", due.source}});
}

std::string render_metrics(const ListenerStats& s) {
    std::string out;
    auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                      std::uint64_t value) {
        out +=
            fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
    };
    family("netkeep_syslog_messages_total", "counter", "Syslog messages taken in.", s.messages);
    family("netkeep_syslog_config_changes_total", "counter",
           "Config-change messages from known devices.", s.changes);
    family("netkeep_syslog_unknown_sender_messages_total", "counter",
           "Syslog messages from senders that are no device of the inventory.", s.unknown_senders);
    family("netkeep_syslog_rate_limited_total", "counter",
           "Syslog messages dropped over a sender's rate.", s.rate_limited);
    family("netkeep_syslog_oversized_total", "counter",
           "Datagrams over 8 KiB dropped and TCP streams closed for a bad or oversized frame.",
           s.oversized);
    family("netkeep_syslog_runs_requested_total", "counter",
           "RunRequested events recorded for config changes.", s.runs_requested);
    family("netkeep_syslog_connections_refused_total", "counter",
           "Syslog TCP connections closed at accept (over --syslog-max-connections).",
           s.connections_refused);
    family("netkeep_syslog_connections", "gauge", "Syslog TCP connections open.", s.connections);
    return out;
}

Listener::Listener(asio::io_context& io, engine::Engine& engine, ListenerOptions options)
    : impl_(std::make_shared<impl>(io, engine, std::move(options))) {}

Listener::~Listener() { impl_->stop(); }

Status Listener::start() { return impl_->start(); }
void Listener::stop() { impl_->stop(); }
std::uint16_t Listener::port() const {
    asio::error_code ec;
    auto at = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : at.port();
}
const ListenerStats& Listener::stats() const { return impl_->stats; }

}  // namespace netkeep::syslog
