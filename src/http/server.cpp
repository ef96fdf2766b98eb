#include "http/server.hpp"

#include <chrono>
#include <vector>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "http/connection.hpp"

namespace netkeep::http {

namespace {

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> accept_loop(std::shared_ptr<ServerCore> core,
                                  asio::ip::tcp::acceptor& acceptor) {
    while (!core->stopping && acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec == asio::error::operation_aborted || core->stopping) break;
        if (ec) {
            // Out of descriptors and the like: retrying at once would spin; the condition
            // usually clears as other connections end.
            core->log(fmt::format("accept failed: {}", ec.message()));
            asio::steady_timer pause(core->executor, std::chrono::milliseconds(100));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        // Refused before a byte is read: a flood costs an accept and a close, no buffer.
        asio::error_code ec_remote;
        const auto remote = socket.remote_endpoint(ec_remote);
        if (ec_remote) {  // the client is already gone
            asio::error_code ignored;
            socket.close(ignored);
            continue;
        }
        const char* refusal = nullptr;
        if (core->connections.size() >= core->options.max_connections) {
            refusal = "total";
        } else if (const std::size_t cap = core->options.max_connections_per_client; cap > 0) {
            auto it = core->per_client.find(remote.address());
            if (it != core->per_client.end() && it->second >= cap) refusal = "per_client";
        }
        if (refusal) {
            if (core->options.on_refused) core->options.on_refused(refusal, remote.address());
            asio::error_code ignored;
            socket.close(ignored);
            continue;
        }
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        std::make_shared<Connection>(core, std::move(socket))->start();
    }
}

}  // namespace

Server::Server(asio::io_context& io, Router router, ServerOptions options)
    : core_(
          std::make_shared<ServerCore>(io.get_executor(), std::move(router), std::move(options))) {}

Server::~Server() { abort(); }

Result<asio::ip::tcp::endpoint> Server::listen(std::string_view host, std::uint16_t port) {
    if (core_->stopping) return Status::unavailable("server is stopping");
    asio::error_code ec;
    std::vector<asio::ip::tcp::endpoint> candidates;
    auto address = asio::ip::make_address(std::string(host), ec);
    if (!ec) {
        candidates.emplace_back(address, port);
    } else {
        asio::ip::tcp::resolver resolver(core_->executor);
        auto results = resolver.resolve(std::string(host), std::to_string(port),
                                        asio::ip::tcp::resolver::passive, ec);
        if (ec)
            return Status::invalid_argument(
                fmt::format("cannot resolve '{}': {}", host, ec.message()));
        for (const auto& r : results) candidates.push_back(r.endpoint());
    }

    std::string errors;
    for (const auto& endpoint : candidates) {
        auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(core_->executor);
        auto fail = [&](std::string_view what) {
            errors += fmt::format("{}{} {}:{}: {}", errors.empty() ? "" : "; ", what,
                                  endpoint.address().to_string(), endpoint.port(), ec.message());
        };
        acceptor->open(endpoint.protocol(), ec);
        if (ec) {
            fail("open");
            continue;
        }
        acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        if (ec) {
            fail("setsockopt");
            continue;
        }
        acceptor->bind(endpoint, ec);
        if (ec) {
            fail("bind");
            continue;
        }
        acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            fail("listen");
            continue;
        }
        auto bound = acceptor->local_endpoint(ec);
        if (ec) {
            fail("getsockname");
            continue;
        }
        auto& ref = *acceptor;
        core_->acceptors.push_back(std::move(acceptor));
        asio::co_spawn(core_->executor, accept_loop(core_, ref),
                       [core = core_](std::exception_ptr e) {
                           if (e) core->log("accept loop ended by an exception");
                       });
        return bound;
    }
    return Status::io_error(fmt::format("cannot listen on {}:{}: {}", host, port, errors));
}

void Server::stop() {
    core_->stopping = true;
    for (auto& acceptor : core_->acceptors) {
        asio::error_code ignored;
        acceptor->close(ignored);
    }
    // Copy: closing does not destroy a connection at once, but stay safe if it ever does.
    std::vector<Connection*> connections(core_->connections.begin(), core_->connections.end());
    for (auto* c : connections) c->close_if_idle();
}

void Server::abort() {
    core_->stopping = true;
    for (auto& acceptor : core_->acceptors) {
        asio::error_code ignored;
        acceptor->close(ignored);
    }
    std::vector<Connection*> connections(core_->connections.begin(), core_->connections.end());
    for (auto* c : connections) c->close();
}

std::size_t Server::connection_count() const { return core_->connections.size(); }

}  // namespace netkeep::http
