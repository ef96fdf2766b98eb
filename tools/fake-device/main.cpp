// fake-device: a router farm (IOS-like, or per-platform personalities) over SSH and telnet, for
// netkeep's tests and demo. One process serves any number of devices: the login name is the device.
// See docs/fake-device.md.
//
// Threads: main (parses, then waits for signals), one acceptor per listener, one thread per
// connection. Exit codes: 0 after SIGTERM/SIGINT (and for --help), 1 when it cannot serve, 2 for
// usage errors.

#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "config_gen.hpp"
#include "device.hpp"
#include "farm.hpp"
#include "net.hpp"
#include "personality.hpp"
#include "ssh_server.hpp"
#include "telnet_server.hpp"
#include "util/args.hpp"

namespace {

using namespace netkeep::fake_device;
using netkeep::Endpoint;
using netkeep::format_endpoint;
using netkeep::parse_endpoint;
using netkeep::Result;
using netkeep::Status;

struct Options {
    std::optional<Endpoint> ssh_listen;
    std::optional<Endpoint> telnet_listen;
    Ssh_options ssh;
    Farm_settings farm;
    std::optional<std::string> print_config;
    std::uint64_t generation = 0;
    std::uint64_t run = 1;  // {{run}} of a personality's config: the first show is run 1
    bool help = false;      // -h/--help: print the usage, nothing else was checked
};

using netkeep::args::Kind;
using netkeep::args::quoted;
using netkeep::args::Rule;

Result<std::uint64_t> parse_number(std::string_view flag, std::string_view text) {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || ptr != text.data() + text.size())
        return Status::invalid_argument(
            fmt::format("{} wants a number, got {}", flag, quoted(text)));
    return n;
}

template <std::optional<Endpoint> Options::*field>
Status set_endpoint(Options& o, std::string_view v) {
    auto endpoint = parse_endpoint(v);
    if (!endpoint) {
        const char* flag = field == &Options::ssh_listen ? "--listen" : "--telnet-listen";
        return Status::invalid_argument(fmt::format("{}: {}", flag, endpoint.status().message()));
    }
    o.*field = *endpoint;
    return Status::ok();
}

Status set_print_config(Options& o, std::string_view v) {
    if (!valid_device_name(v))
        return Status::invalid_argument(
            fmt::format("--print-config: {} is not a device name ([A-Za-z0-9._-])", quoted(v)));
    o.print_config = std::string(v);
    return Status::ok();
}

constexpr Rule<Options> k_rules[] = {
    {{"listen", Kind::value, "HOST:PORT", "SSH address; port 0 picks a free port"},
     set_endpoint<&Options::ssh_listen>},
    {{"telnet-listen", Kind::value, "HOST:PORT", "telnet address (off without it)"},
     set_endpoint<&Options::telnet_listen>},
    {{"host-key", Kind::value, "FILE", "ed25519 host key, written when missing"},
     [](Options& o, std::string_view v) {
         o.ssh.host_key = std::string(v);
         return Status::ok();
     }},
    {{"password", Kind::value, "PW", "every device's password (default netkeep)"},
     [](Options& o, std::string_view v) {
         o.farm.password = std::string(v);
         return Status::ok();
     }},
    {{"authorized-keys", Kind::value, "FILE", "keys accepted for public-key logins"},
     [](Options& o, std::string_view v) {
         o.ssh.authorized_keys = std::string(v);
         return Status::ok();
     }},
    {{"config-bytes", Kind::value, "N", "about how long each config is (default 4096)"},
     [](Options& o, std::string_view v) -> Status {
         auto n = parse_number("--config-bytes", v);
         if (!n) return n.status();
         o.farm.config_bytes = static_cast<std::size_t>(*n);
         return Status::ok();
     }},
    {{"state-dir", Kind::value, "DIR", "where to find generations"},
     [](Options& o, std::string_view v) {
         o.farm.state_dir = std::string(v);
         return Status::ok();
     }},
    {{"log-auth", Kind::flag, "", "one stderr line per login attempt"},
     [](Options& o, std::string_view) {
         o.farm.log_auth = true;
         return Status::ok();
     }},
    {{"print-config", Kind::value, "NAME", "print NAME's config and exit"}, set_print_config},
    {{"generation", Kind::value, "G", "with --print-config: which generation (default 0)"},
     [](Options& o, std::string_view v) -> Status {
         auto n = parse_number("--generation", v);
         if (!n) return n.status();
         o.generation = *n;
         return Status::ok();
     }},
    {{"run", Kind::value, "R", "with --print-config: a personality's {{run}} (default 1)"},
     [](Options& o, std::string_view v) -> Status {
         auto n = parse_number("--run", v);
         if (!n) return n.status();
         o.run = *n;
         return Status::ok();
     }},
};

const std::string k_usage =
    "usage: fake-device --listen HOST:PORT [--telnet-listen HOST:PORT] [options]\n"
    "       fake-device --print-config NAME [--config-bytes N] [--generation G] [--run R]\n\n" +
    netkeep::args::help_text<Options>(k_rules);

Result<Options> parse_args(int argc, char** argv) {
    Options o;
    const auto words = netkeep::args::views(argc, argv);
    auto parsed = netkeep::args::parse_into<Options>(k_rules, words, o);
    if (!parsed) return parsed.status();
    o.help = parsed->help;
    if (o.help) return o;
    if (!parsed->positional.empty())
        return Status::invalid_argument("unexpected argument " + quoted(parsed->positional[0]));
    if (!o.print_config && !o.ssh_listen)
        return Status::invalid_argument("--listen or --print-config is required");
    return o;
}

int print_config(const Options& o) {
    const std::size_t bytes =
        o.farm.config_bytes == 0 ? k_default_config_bytes : o.farm.config_bytes;
    const Personality* p = find_personality(*o.print_config);
    const std::string text = p ? personality_config(*p, *o.print_config, o.generation, o.run)
                               : generate_config(*o.print_config, o.generation, bytes);
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
        return 1;
    return 0;
}

int serve(const Options& o) {
    // Signals go to the main thread's sigwait only: block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    if (!init_libssh()) {
        fmt::print(stderr, "fake-device: libssh does not start\n");
        return 1;
    }
    Farm farm(o.farm);
    Connections connections;
    auto ssh = Ssh_server::create(o.ssh, farm, connections);
    if (!ssh) {
        fmt::print(stderr, "fake-device: {}\n", ssh.status().message());
        return 1;
    }
    auto ssh_listener = listen_tcp(*o.ssh_listen);
    if (!ssh_listener) {
        fmt::print(stderr, "fake-device: --listen: {}\n", ssh_listener.status().message());
        return 1;
    }
    std::optional<Listener> telnet_listener;
    if (o.telnet_listen) {
        auto listener = listen_tcp(*o.telnet_listen);
        if (!listener) {
            fmt::print(stderr, "fake-device: --telnet-listen: {}\n", listener.status().message());
            return 1;
        }
        telnet_listener = std::move(listener).value();
    }

    fmt::print("ssh listening on {}\n", format_endpoint(ssh_listener->bound));
    if (telnet_listener)
        fmt::print("telnet listening on {}\n", format_endpoint(telnet_listener->bound));
    std::fflush(stdout);

    std::thread ssh_acceptor([&, listener = std::move(ssh_listener).value()]() mutable {
        (*ssh)->run(std::move(listener));
    });
    std::thread telnet_acceptor;
    if (telnet_listener) {
        telnet_acceptor = std::thread([&, listener = std::move(*telnet_listener)]() mutable {
            run_telnet_server(std::move(listener), farm, connections);
        });
    }

    while (true) {
        int signal = 0;
        if (sigwait(&signals, &signal) != 0) continue;
        if (signal == SIGUSR1) {
            farm.bump();
            continue;
        }
        break;  // SIGTERM, SIGINT
    }

    connections.stop();
    ssh_acceptor.join();
    if (telnet_acceptor.joinable()) telnet_acceptor.join();
    if (!connections.wait_idle(std::chrono::seconds(3))) {
        // A connection thread stuck inside libssh: do not wait for it, the process is done.
        std::fflush(stdout);
        std::_Exit(0);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_args(argc, argv);
    if (!options) {
        fmt::print(stderr, "fake-device: {}\n{}", options.status().message(), k_usage);
        return 2;
    }
    if (options->help) {
        fmt::print("{}", k_usage);
        return 0;
    }
    if (options->print_config) return print_config(*options);
    return serve(*options);
}
