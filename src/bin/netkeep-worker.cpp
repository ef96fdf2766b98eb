// netkeep-worker: leases backup jobs from netkeepd, runs them on the devices over SSH or
// telnet, posts the results. See docs/worker.md.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "netkeep/hardening.hpp"
#include "netkeep/logger.hpp"
#include "worker/worker.hpp"

int main(int argc, char** argv) {
    using namespace netkeep;
    // Before anything is created or read: private files, no core dumps (a dump would hold
    // the passwords the server hands out; docs/security.md).
    restrict_new_files();
    if (Status s = disable_core_dumps(); !s)
        log_line(LogLevel::warn, "hardening.core_dumps", {{"error", s.message()}});
    std::vector<std::string> args(argv + 1, argv + argc);
    auto options = worker::parse_worker_args(args);
    if (!options) {
        if (options.status().code() == Status::Code::not_found) {
            std::fputs(worker::worker_usage().data(), stdout);
            return 0;
        }
        std::fprintf(stderr, "netkeep-worker: %s\n%s", options.status().message().c_str(),
                     worker::worker_usage().data());
        return 2;
    }
    set_log_threshold(options->log_level);
    // The token comes from a file or the environment, never argv (ps shows argv). Once
    // read it is dropped from the environment, so nothing this process starts inherits it.
    if (Status s = worker::load_access(*options, std::getenv("NETKEEP_TOKEN")); !s) {
        std::fprintf(stderr, "netkeep-worker: %s\n", s.message().c_str());
        return 2;
    }
    ::unsetenv("NETKEEP_TOKEN");

    // Signals are taken by one thread with sigwait(); every other thread (libssh's
    // included) inherits the blocked mask, so no handler runs inside a job. SIGUSR1 is
    // main's way to end that thread before the Worker it refers to is destroyed.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    worker::Worker w(std::move(options.value()));
    std::thread signal_thread([&w, signals] {
        for (int received = 0;; ++received) {
            int sig = 0;
            sigwait(&signals, &sig);
            if (sig == SIGUSR1) return;
            const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
            if (received > 0) {  // a second signal: leave now, leases expire on the server
                log_line(LogLevel::warn, "worker.signal",
                         {{"signal", name}, {"action", "exit now"}});
                std::_Exit(1);
            }
            log_line(LogLevel::info, "worker.signal", {{"signal", name}, {"action", "stop"}});
            w.request_stop();
        }
    });

    if (!w.run()) {
        // Jobs still run after the grace period: their leases expire on the server. Leave
        // without unwinding, as the runner threads still use the Worker.
        std::_Exit(0);
    }
    pthread_kill(signal_thread.native_handle(), SIGUSR1);
    signal_thread.join();
    return 0;
}
