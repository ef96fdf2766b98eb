#include "worker/run.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "worker/net.hpp"
#include "worker/server_clock.hpp"
#include "worker/ssh.hpp"
#include "worker/telnet_transport.hpp"
#include "worker/transport.hpp"

namespace netkeep::worker {

using clock = std::chrono::steady_clock;

Result<SessionOptions> session_options(const Lease& lease) {
    // The job's prompt, else the credentials', else the default (docs/worker.md).
    const PatternSpec prompt_spec =
        lease.prompt ? *lease.prompt
                     : (lease.credentials.prompt ? *lease.credentials.prompt : default_prompt());
    auto prompt = Pattern::compile(prompt_spec);
    if (!prompt) return Status::invalid_argument("bad job: prompt: " + prompt.status().message());
    auto pager = Pattern::compile(lease.pager ? *lease.pager : default_pager());
    if (!pager) return Status::invalid_argument("bad job: pager: " + pager.status().message());
    // telnet: the NVT end of line, and the worker answers the login prompts itself.
    const bool telnet = lease.protocol == "telnet";
    std::optional<Login> login;
    if (telnet) login = Login{lease.credentials.user, lease.credentials.pass.value_or("")};
    SessionOptions o{lease.commands, std::move(prompt.value()), std::move(pager.value()),
                     std::string(telnet ? "\r\n" : "\n"), std::move(login)};
    return o;
}

std::optional<std::string> run_job(const Lease& lease, const RunOptions& options, OutputBuffer& out,
                                   std::int64_t server_now_ms) {
    const auto start = clock::now();
    const auto deadline = start + job_budget(lease.timeout, lease.expires, server_now_ms);
    const Clocks clocks{deadline, lease.timeout, options.idle_timeout, options.quiet};
    auto session_opts = session_options(lease);
    if (!session_opts) return session_opts.status().message();
    session_opts->max_output = options.max_output;

    const auto connect_timeout =
        std::min(options.connect_timeout,
                 std::chrono::duration_cast<std::chrono::milliseconds>(clocks.deadline - start));
    Result<std::unique_ptr<Transport>> transport = Status::not_supported("");
    if (lease.protocol == "ssh") {
        transport = open_ssh(
            lease, SshOptions{options.known_hosts, options.strict_host_keys, connect_timeout},
            clocks.deadline);
    } else if (lease.protocol == "telnet") {
        // Strict mode promises that credentials go only to a device that proved a pinned
        // identity; telnet proves none and carries the password in clear. Refused before
        // connecting, so not even the device's address sees a login.
        if (options.strict_host_keys)
            return fmt::format(
                "telnet refused: {} is a telnet device, and --strict-host-keys sends "
                "credentials only to devices whose SSH host key is pinned (telnet cannot "
                "authenticate the device and sends the password in clear); run telnet devices "
                "on a worker without --strict-host-keys",
                host_port(lease.host, lease.port));
        transport = open_telnet(lease, connect_timeout);
    } else {
        return fmt::format("bad job: unsupported protocol '{}'", lease.protocol);
    }
    if (!transport) return transport.status().message();

    CliSession session(std::move(session_opts.value()),
                       [&out](std::string_view bytes) { return out.write(bytes); });
    drive(**transport, session, clocks);
    if (session.phase() == CliSession::Phase::done) return std::nullopt;
    return session.failure();
}

}  // namespace netkeep::worker
