// The only place that includes libssh. Every libssh handle is owned by a unique_ptr with
// a deleter, and libssh errors become a Status in one function, ssh_failure().
#include "worker/ssh.hpp"

#include <libssh/libssh.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "netkeep/json.hpp"
#include "netkeep/logger.hpp"
#include "worker/exec_output.hpp"
#include "worker/net.hpp"

namespace netkeep::worker {

namespace {

using clock = std::chrono::steady_clock;

struct SessionFree {
    void operator()(ssh_session s) const {
        ssh_disconnect(s);
        ssh_free(s);
    }
};
struct ChannelFree {
    void operator()(ssh_channel c) const { ssh_channel_free(c); }
};
struct KeyFree {
    void operator()(ssh_key k) const { ssh_key_free(k); }
};
struct CharFree {
    void operator()(char* p) const { ssh_string_free_char(p); }
};
struct HashFree {
    void operator()(unsigned char* p) const { ssh_clean_pubkey_hash(&p); }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelFree>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

// The one conversion of a libssh error into a Status: "<category>: <what>: <libssh's text>".
Status ssh_failure(ssh_session s, std::string_view category, std::string_view what) {
    const char* detail = s ? ssh_get_error(s) : "";
    if (detail && *detail)
        return Status::io_error(fmt::format("{}: {}: {}", category, what, detail));
    return Status::io_error(fmt::format("{}: {}", category, what));
}

// Checking and pinning must not interleave between threads: pinning appends to the file.
std::mutex& known_hosts_mutex() {
    static std::mutex m;
    return m;
}

// "ssh-ed25519 SHA256:...", as `ssh-keygen -lf` shows it.
std::string describe(ssh_key key) {
    const char* type = ssh_key_type_to_char(ssh_key_type(key));
    unsigned char* hash_raw = nullptr;
    size_t len = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash_raw, &len) != 0)
        return type ? type : "unknown key";
    std::unique_ptr<unsigned char, HashFree> hash(hash_raw);
    std::unique_ptr<char, CharFree> text(
        ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash.get(), len));
    return fmt::format("{} {}", type ? type : "unknown", text ? text.get() : "?");
}

std::string fingerprint(ssh_session s) {
    ssh_key raw = nullptr;
    if (ssh_get_server_publickey(s, &raw) != SSH_OK) return "unknown key";
    KeyPtr key(raw);
    return describe(key.get());
}

// The keys the inventory pins for the device decide alone: the known-hosts file is
// neither read nor written for it, so a stale line there cannot let another key in, and
// the inventory stays the one place that says which key a device has.
Status check_inventory_pin(ssh_session s, const std::string& where,
                           const std::vector<HostKey>& pins) {
    ssh_key raw = nullptr;
    if (ssh_get_server_publickey(s, &raw) != SSH_OK)
        return ssh_failure(s, "host key error", "cannot read the host key of " + where);
    KeyPtr server(raw);
    std::vector<std::string> pinned;
    for (const auto& pin : pins) {
        ssh_key pin_raw = nullptr;
        if (ssh_pki_import_pubkey_base64(
                pin.base64.c_str(), ssh_key_type_from_name(pin.type.c_str()), &pin_raw) != SSH_OK) {
            pinned.push_back(pin.type + " (which this worker's libssh cannot read)");
            continue;
        }
        KeyPtr key(pin_raw);
        if (ssh_key_cmp(server.get(), key.get(), SSH_KEY_CMP_PUBLIC) == 0) return Status::ok();
        pinned.push_back(describe(key.get()));
    }
    return Status::conflict(
        fmt::format("host key mismatch: {} presented {}, which is not the key pinned for it in the "
                    "inventory ({}); if the device was re-keyed, update its protocol.ssh.host_key",
                    where, describe(server.get()), fmt::join(pinned, ", ")));
}

Status check_host_key(ssh_session s, const std::string& where, const std::string& file,
                      bool strict) {
    std::lock_guard lock(known_hosts_mutex());
    switch (ssh_session_is_known_server(s)) {
        case SSH_KNOWN_HOSTS_OK:
            return Status::ok();
        case SSH_KNOWN_HOSTS_CHANGED:
        case SSH_KNOWN_HOSTS_OTHER:
            return Status::conflict(fmt::format(
                "host key changed: {} presented {}, which is not the key pinned for it in {}; "
                "if the change is expected, delete its line there",
                where, fingerprint(s), file));
        case SSH_KNOWN_HOSTS_NOT_FOUND:  // no file yet
        case SSH_KNOWN_HOSTS_UNKNOWN:
            // Trust on first use would hand the credentials to whoever answers first.
            if (strict)
                return Status::conflict(fmt::format(
                    "host key unknown: {} presented {}, which is pinned neither in the inventory "
                    "nor in {} (strict host keys: pin it in the device's protocol.ssh.host_key "
                    "or in that file)",
                    where, fingerprint(s), file));
            if (ssh_session_update_known_hosts(s) != SSH_OK)
                return ssh_failure(s, "host key error",
                                   fmt::format("cannot pin {} in {}", where, file));
            log_line(LogLevel::info, "hostkey.pinned",
                     {{"host", where}, {"key", fingerprint(s)}, {"file", file}});
            return Status::ok();
        case SSH_KNOWN_HOSTS_ERROR:
        default:
            return ssh_failure(s, "host key error",
                               fmt::format("cannot check {} against {}", where, file));
    }
}

// The host key algorithms that make the device present a key of a pinned type: without
// this, a device with an ed25519 and an RSA key, pinned by its RSA key, would offer
// ed25519 (libssh's first choice) and be refused.
std::string pinned_algorithms(const std::vector<HostKey>& pins) {
    std::vector<std::string> out;
    auto add = [&out](std::string a) {
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
    };
    for (const auto& pin : pins) {
        if (pin.type == "ssh-rsa") {
            add("rsa-sha2-512");
            add("rsa-sha2-256");
            add("ssh-rsa");  // SHA-1 signatures: old devices know nothing else
        } else {
            add(pin.type);
        }
    }
    return fmt::format("{}", fmt::join(out, ","));
}

// keyboard-interactive: every prompt with echo off gets the password, one with echo on the
// user name. A device that keeps asking is refused after a few rounds.
int kbdint(ssh_session s, const Credentials& c) {
    int rc = ssh_userauth_kbdint(s, nullptr, nullptr);
    for (int round = 0; rc == SSH_AUTH_INFO && round < 8; ++round) {
        const int n = ssh_userauth_kbdint_getnprompts(s);
        for (int i = 0; i < n; ++i) {
            char echo = 0;
            (void)ssh_userauth_kbdint_getprompt(s, unsigned(i), &echo);
            const std::string& answer = echo ? c.user : *c.pass;
            if (ssh_userauth_kbdint_setanswer(s, unsigned(i), answer.c_str()) < 0)
                return SSH_AUTH_ERROR;
        }
        rc = ssh_userauth_kbdint(s, nullptr, nullptr);
    }
    return rc == SSH_AUTH_INFO ? SSH_AUTH_DENIED : rc;
}

Status authenticate(ssh_session s, const Credentials& c, const std::string& where) {
    int rc = ssh_userauth_none(s, nullptr);
    if (rc == SSH_AUTH_SUCCESS) return Status::ok();
    if (rc == SSH_AUTH_ERROR) return ssh_failure(s, "ssh error", "authentication with " + where);
    const int offered = ssh_userauth_list(s, nullptr);
    std::vector<std::string> tried;
    std::string key_problem;

    if (c.key && (offered & SSH_AUTH_METHOD_PUBLICKEY)) {
        ssh_key raw = nullptr;
        if (ssh_pki_import_privkey_file(c.key->c_str(), nullptr, nullptr, nullptr, &raw) !=
            SSH_OK) {
            key_problem = fmt::format("; cannot read the private key file {}", *c.key);
        } else {
            KeyPtr key(raw);
            rc = ssh_userauth_publickey(s, nullptr, key.get());
            if (rc == SSH_AUTH_SUCCESS) return Status::ok();
            if (rc == SSH_AUTH_ERROR)
                return ssh_failure(s, "ssh error", "public-key authentication with " + where);
            tried.push_back("publickey");
        }
    }
    if (c.pass && (offered & SSH_AUTH_METHOD_PASSWORD)) {
        rc = ssh_userauth_password(s, nullptr, c.pass->c_str());
        if (rc == SSH_AUTH_SUCCESS) return Status::ok();
        if (rc == SSH_AUTH_ERROR)
            return ssh_failure(s, "ssh error", "password authentication with " + where);
        tried.push_back("password");
    }
    if (c.pass && (offered & SSH_AUTH_METHOD_INTERACTIVE)) {
        rc = kbdint(s, c);
        if (rc == SSH_AUTH_SUCCESS) return Status::ok();
        if (rc == SSH_AUTH_ERROR)
            return ssh_failure(s, "ssh error", "keyboard-interactive authentication with " + where);
        tried.push_back("keyboard-interactive");
    }
    if (tried.empty()) {
        std::vector<std::string> methods;
        if (offered & SSH_AUTH_METHOD_PUBLICKEY) methods.push_back("publickey");
        if (offered & SSH_AUTH_METHOD_PASSWORD) methods.push_back("password");
        if (offered & SSH_AUTH_METHOD_INTERACTIVE) methods.push_back("keyboard-interactive");
        return Status::unavailable(fmt::format(
            "auth failed: {} offers {} and the credentials of user '{}' fit none of them{}", where,
            methods.empty() ? std::string("no method")
                            : fmt::format("{}", fmt::join(methods, ", ")),
            c.user, key_problem));
    }
    return Status::unavailable(fmt::format("auth failed: {} refused user '{}' (tried {}){}", where,
                                           c.user, fmt::join(tried, ", "), key_problem));
}

class SshTransport final : public Transport {
public:
    SshTransport(SessionPtr session, ChannelPtr channel)
        : session_(std::move(session)), channel_(std::move(channel)) {}

    Result<ReadResult> read(char* buffer, std::size_t size,
                            std::chrono::milliseconds timeout) override {
        const int ms = int(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 1, 600000));
        const int n = ssh_channel_read_timeout(channel_.get(), buffer, std::uint32_t(size), 0, ms);
        if (n == SSH_ERROR) return ssh_failure(session_.get(), "ssh error", "reading");
        if (n > 0) return ReadResult{std::size_t(n), false};
        if (ssh_channel_is_eof(channel_.get()) || ssh_channel_is_closed(channel_.get()))
            return ReadResult{0, true};
        return ReadResult{};
    }

    Status write(std::string_view bytes) override {
        while (!bytes.empty()) {
            const int n =
                ssh_channel_write(channel_.get(), bytes.data(), std::uint32_t(bytes.size()));
            if (n == SSH_ERROR) return ssh_failure(session_.get(), "ssh error", "sending");
            bytes.remove_prefix(std::size_t(n));
        }
        return Status::ok();
    }

private:
    SessionPtr session_;  // declared first: the channel must go before its session
    ChannelPtr channel_;
};

}  // namespace

void ssh_global_init() { (void)ssh_init(); }

namespace {

// TCP, key exchange, host key check, authentication: a session ready for channels.
Result<SessionPtr> connect_ssh(const Lease& lease, const SshOptions& options,
                               clock::time_point deadline) {
    const std::string where = host_port(lease.host, lease.port);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    const auto connect_timeout = std::min(options.connect_timeout, left);
    auto fd = tcp_connect(lease.host, lease.port, connect_timeout);
    if (!fd) return fd.status();

    SessionPtr session(ssh_new());
    if (!session) return Status::io_error("ssh error: cannot create a libssh session");
    ssh_session s = session.get();
    // Blocking calls (key exchange, auth, channel requests) give up after this long.
    long timeout_s = std::max<long>(1, long(std::chrono::duration_cast<std::chrono::seconds>(
                                                connect_timeout + std::chrono::milliseconds(999))
                                                .count()));
    unsigned int port = lease.port;
    bool no = false;
    int log_level = SSH_LOG_NOLOG;
    const bool pinned = !lease.host_keys.empty();
    // With an inventory pin the file is not consulted at all (not even for libssh's
    // choice of host key algorithms).
    const std::string known_hosts = pinned ? "/dev/null" : options.known_hosts;
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||  // ignore ~/.ssh/config
        ssh_options_set(s, SSH_OPTIONS_HOST, lease.host.c_str()) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, lease.credentials.user.c_str()) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known_hosts.c_str()) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &log_level) < 0) {
        return ssh_failure(s, "ssh error", "setting options");
    }
    if (pinned &&
        ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, pinned_algorithms(lease.host_keys).c_str()) < 0)
        return ssh_failure(s, "ssh error", "setting the pinned host key algorithms");
    // From here the socket belongs to the session (ssh_free closes it).
    int raw_fd = fd->release();
    if (ssh_options_set(s, SSH_OPTIONS_FD, &raw_fd) < 0) {
        ::close(raw_fd);
        return ssh_failure(s, "ssh error", "setting options");
    }
    if (ssh_connect(s) != SSH_OK) return ssh_failure(s, "ssh error", "handshake with " + where);
    // The host key is accepted before anything of the credentials, the user name
    // included, leaves this process: a device that cannot prove its identity learns nothing.
    Status host_ok = pinned
                         ? check_inventory_pin(s, where, lease.host_keys)
                         : check_host_key(s, where, options.known_hosts, options.strict_host_keys);
    if (!host_ok) return host_ok;
    if (auto st = authenticate(s, lease.credentials, where); !st) return st;
    return session;
}

std::string timed_out(const Clocks& clocks, bool idle, std::string_view command,
                      std::uint64_t bytes) {
    const std::string why =
        idle ? fmt::format("no output for {} s",
                           std::chrono::duration_cast<std::chrono::seconds>(clocks.idle).count())
             : fmt::format("the job's timeout of {} s passed", clocks.timeout_seconds);
    return fmt::format("timed out: {} while running {} after {} bytes of output", why,
                       json_quote(command), bytes);
}

// Reads the channel's stdout to EOF into `out` (stderr: its first line into `err`), with
// the job's clocks. nullopt at EOF, else the failure text.
std::optional<std::string> read_exec(ssh_session s, ssh_channel ch, std::string_view command,
                                     ExecOutput& out, FirstLine& err, const Clocks& clocks,
                                     const std::uint64_t& total) {
    std::string buffer(64 * 1024, '\0');
    auto last_byte = clock::now();
    while (true) {
        const auto now = clock::now();
        if (now >= clocks.deadline) return timed_out(clocks, false, command, total);
        if (now >= last_byte + clocks.idle) return timed_out(clocks, true, command, total);
        // Short slices, so that stderr is drained even while stdout is silent.
        const auto until = std::min(
            {clocks.deadline, last_byte + clocks.idle, now + std::chrono::milliseconds(100)});
        const int ms = int(std::max<std::int64_t>(
            1, std::chrono::ceil<std::chrono::milliseconds>(until - now).count()));
        const int n =
            ssh_channel_read_timeout(ch, buffer.data(), std::uint32_t(buffer.size()), 0, ms);
        if (n == SSH_ERROR) return ssh_failure(s, "ssh error", "reading").message();
        if (n > 0) {
            last_byte = clock::now();
            if (auto st = out.feed(std::string_view(buffer.data(), std::size_t(n))); !st)
                return st.code() == Status::Code::too_large
                           ? fmt::format("{} while running {}", st.message(), json_quote(command))
                           : st.message();
        }
        int e = 0;
        while ((e = ssh_channel_read_nonblocking(ch, buffer.data(), std::uint32_t(buffer.size()),
                                                 1)) > 0) {
            last_byte = clock::now();
            err.feed(std::string_view(buffer.data(), std::size_t(e)));
        }
        if (n == 0 && (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))) break;
    }
    if (auto st = out.finish(); !st) return st.message();
    return std::nullopt;
}

// One command on its own exec channel.
std::optional<std::string> exec_one(ssh_session s, const std::string& where,
                                    const std::string& command, ExecOutput& out,
                                    const Clocks& clocks, const std::uint64_t& total) {
    ChannelPtr channel(ssh_channel_new(s));
    if (!channel) return ssh_failure(s, "ssh error", "creating a channel").message();
    if (ssh_channel_open_session(channel.get()) != SSH_OK)
        return ssh_failure(s, "ssh error", "opening a session channel on " + where).message();
    if (ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK)
        return ssh_failure(s, "ssh error",
                           fmt::format("running {} on {}", json_quote(command), where))
            .message();
    FirstLine err;
    if (auto failure = read_exec(s, channel.get(), command, out, err, clocks, total))
        return failure;
    // The exit status follows the EOF; a server that sends none (-1) is not a failure.
    // libssh waits for it up to the session's timeout (the connect timeout): no longer than
    // what is left of the job (at least a second, libssh's unit), or a device that sends
    // EOF and then nothing would keep each command past the job's deadline.
    const auto left =
        std::chrono::duration_cast<std::chrono::seconds>(clocks.deadline - clock::now());
    long wait_s = std::max<long>(1, long(left.count()));
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &wait_s);
    const int status = ssh_channel_get_exit_status(channel.get());
    ssh_channel_close(channel.get());
    if (status > 0)
        return fmt::format("command failed: {} exited with status {}{}", json_quote(command),
                           status, err.text().empty() ? "" : ": " + json_quote(err.text()));
    return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<Transport>> open_ssh(const Lease& lease, const SshOptions& options,
                                            clock::time_point deadline) {
    const std::string where = host_port(lease.host, lease.port);
    auto session = connect_ssh(lease, options, deadline);
    if (!session) return session.status();
    ssh_session s = session->get();
    ChannelPtr channel(ssh_channel_new(s));
    if (!channel) return ssh_failure(s, "ssh error", "creating a channel");
    if (ssh_channel_open_session(channel.get()) != SSH_OK)
        return ssh_failure(s, "ssh error", "opening a session channel on " + where);
    if (ssh_channel_request_pty_size(channel.get(), "vt100", options.pty_width,
                                     options.pty_height) != SSH_OK)
        return ssh_failure(s, "ssh error", "requesting a PTY on " + where);
    if (ssh_channel_request_shell(channel.get()) != SSH_OK)
        return ssh_failure(s, "ssh error", "starting a shell on " + where);
    return std::unique_ptr<Transport>(
        std::make_unique<SshTransport>(std::move(*session), std::move(channel)));
}

std::optional<std::string> run_ssh_exec(const Lease& lease, const SshOptions& options,
                                        const Clocks& clocks, const ExecJob& job,
                                        const CliSession::Sink& sink) {
    const std::string where = host_port(lease.host, lease.port);
    auto session = connect_ssh(lease, options, clocks.deadline);
    if (!session) return session.status().message();
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < job.setup.size() + job.commands.size(); ++i) {
        const bool setup = i < job.setup.size();
        const std::string& command = setup ? job.setup[i] : job.commands[i - job.setup.size()];
        ExecOutput out(sink, job.strip_ansi, job.max_output, total, setup);
        if (auto failure = exec_one(session->get(), where, command, out, clocks, total))
            return failure;
    }
    return std::nullopt;
}

}  // namespace netkeep::worker
