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

namespace {

Result<Pattern> compile_field(const PatternSpec& spec, std::string_view what) {
    auto p = Pattern::compile(spec);
    if (!p)
        return Status::invalid_argument(fmt::format("bad job: {}: {}", what, p.status().message()));
    return p;
}

// The job's inline commands, else the platform's set (contract §3).
Result<std::vector<std::string>> resolve_commands(const Lease& lease) {
    if (!lease.commands.empty()) return lease.commands;
    const std::string set = lease.command_set.value_or("config");
    if (!lease.platform)
        return Status::invalid_argument(fmt::format(
            "bad job: the job runs the platform's command set \"{}\" and the device has no "
            "platform",
            set));
    if (lease.platform->commands.empty())
        return Status::invalid_argument(
            fmt::format("bad job: platform '{}' sent no commands for the set \"{}\"",
                        lease.platform->name, set));
    return lease.platform->commands;
}

Result<std::vector<Expect>> resolve_expect(const Lease& lease) {
    const std::vector<ExpectRule> none;
    const std::vector<ExpectRule>& rules =
        lease.expect ? *lease.expect : (lease.platform ? lease.platform->expect : none);
    std::vector<Expect> out;
    for (const auto& rule : rules) {
        auto p = compile_field(rule.pattern, "expect");
        if (!p) return p.status();
        out.push_back(Expect{std::move(p.value()), rule.answer});
    }
    return out;
}

Result<std::optional<Enable>> resolve_enable(const Lease& lease) {
    if (!lease.platform || !lease.platform->enable) return std::optional<Enable>{};
    const EnableSpec& spec = *lease.platform->enable;
    auto password = compile_field(spec.password_prompt.value_or(PatternSpec{
                                      PatternSpec::Kind::regex, R"((?i)password\s*:\s*$)"}),
                                  "enable password_prompt");
    if (!password) return password.status();
    std::optional<Pattern> when;
    if (spec.when_prompt) {
        auto w = compile_field(*spec.when_prompt, "enable when_prompt");
        if (!w) return w.status();
        when = std::move(w.value());
    }
    return std::optional<Enable>{Enable{spec.command, std::move(password.value()), std::move(when),
                                        lease.credentials.enable}};
}

}  // namespace

Result<SessionOptions> session_options(const Lease& lease) {
    const PlatformLease* platform = lease.platform ? &*lease.platform : nullptr;
    // The job's prompt, else the credentials', else the platform's, else the default
    // (docs/worker.md).
    const PatternSpec prompt_spec = lease.prompt                   ? *lease.prompt
                                    : lease.credentials.prompt     ? *lease.credentials.prompt
                                    : platform && platform->prompt ? *platform->prompt
                                                                   : default_prompt();
    auto prompt = compile_field(prompt_spec, "prompt");
    if (!prompt) return prompt.status();
    auto pager = compile_field(
        lease.pager ? *lease.pager
                    : (platform && platform->pager ? *platform->pager : default_pager()),
        "pager");
    if (!pager) return pager.status();
    auto commands = resolve_commands(lease);
    if (!commands) return commands.status();
    auto expect = resolve_expect(lease);
    if (!expect) return expect.status();
    auto enable = resolve_enable(lease);
    if (!enable) return enable.status();
    // telnet: the NVT end of line, and the worker answers the login prompts itself.
    const bool telnet = lease.protocol == "telnet";
    std::optional<Login> login;
    if (telnet) login = Login{lease.credentials.user, lease.credentials.pass.value_or("")};
    SessionOptions o{std::move(commands.value()), std::move(prompt.value()),
                     std::move(pager.value()), std::string(telnet ? "\r\n" : "\n"),
                     std::move(login)};
    o.setup =
        lease.setup ? *lease.setup : (platform ? platform->setup : std::vector<std::string>{});
    o.expect = std::move(expect.value());
    o.enable = std::move(enable.value());
    o.strip_ansi = platform && platform->strip_ansi;
    return o;
}

namespace {

// The enable secret never reaches a failure text (and so no log line), even if a device
// echoed it; worker.cpp does the same for the password.
std::optional<std::string> without_enable_secret(std::optional<std::string> failure,
                                                 const Lease& lease) {
    const auto& secret = lease.credentials.enable;
    if (!failure || !secret || secret->empty()) return failure;
    for (std::size_t at = failure->find(*secret); at != std::string::npos;
         at = failure->find(*secret, at + 3))
        failure->replace(at, secret->size(), "***");
    return failure;
}

std::optional<std::string> run(const Lease& lease, const RunOptions& options, OutputBuffer& out,
                               std::int64_t server_now_ms);

}  // namespace

std::optional<std::string> run_job(const Lease& lease, const RunOptions& options, OutputBuffer& out,
                                   std::int64_t server_now_ms) {
    return without_enable_secret(run(lease, options, out, server_now_ms), lease);
}

namespace {

std::optional<std::string> run(const Lease& lease, const RunOptions& options, OutputBuffer& out,
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
    SshOptions ssh{options.known_hosts, options.strict_host_keys, connect_timeout};
    if (lease.platform) {
        ssh.pty_width = lease.platform->pty_width;
        ssh.pty_height = lease.platform->pty_height;
    }
    if (lease.platform && lease.platform->exec) {
        if (lease.protocol != "ssh")
            return fmt::format(
                "bad job: platform '{}' runs commands on SSH exec channels, and "
                "the device's protocol is '{}'",
                lease.platform->name, lease.protocol);
        ExecJob job{std::move(session_opts->setup), std::move(session_opts->commands),
                    session_opts->strip_ansi, options.max_output};
        return run_ssh_exec(lease, ssh, clocks, job,
                            [&out](std::string_view bytes) { return out.write(bytes); });
    }
    Result<std::unique_ptr<Transport>> transport = Status::not_supported("");
    if (lease.protocol == "ssh") {
        transport = open_ssh(lease, ssh, clocks.deadline);
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

}  // namespace

}  // namespace netkeep::worker
