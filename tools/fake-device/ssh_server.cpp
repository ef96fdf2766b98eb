#include "ssh_server.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "device.hpp"
#include "personality.hpp"

namespace netkeep::fake_device {
namespace {

struct Key_free {
    void operator()(ssh_key key) const { ssh_key_free(key); }
};
struct Bind_free {
    void operator()(ssh_bind bind) const { ssh_bind_free(bind); }
};
struct Session_free {
    void operator()(ssh_session session) const { ssh_free(session); }
};
struct Event_free {
    void operator()(ssh_event event) const { ssh_event_free(event); }
};
struct Channel_free {
    void operator()(ssh_channel channel) const { ssh_channel_free(channel); }
};
using Key_ptr = std::unique_ptr<ssh_key_struct, Key_free>;
using Bind_ptr = std::unique_ptr<ssh_bind_struct, Bind_free>;
using Session_ptr = std::unique_ptr<ssh_session_struct, Session_free>;
using Event_ptr = std::unique_ptr<ssh_event_struct, Event_free>;
using Channel_ptr = std::unique_ptr<ssh_channel_struct, Channel_free>;

constexpr int k_poll_ms = 100;  // how often blocked loops look at the stop flag
constexpr auto k_login_timeout = std::chrono::seconds(60);
constexpr std::size_t k_write_chunk = 32 * 1024;
constexpr std::size_t k_max_exec_command = 4096;  // longer exec requests are refused

Result<Key_ptr> load_or_create_host_key(const std::optional<std::filesystem::path>& path) {
    std::error_code ec;
    if (path && std::filesystem::exists(*path, ec)) {
        ssh_key raw = nullptr;
        if (ssh_pki_import_privkey_file(path->c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK)
            return Status::invalid_argument(
                fmt::format("--host-key {}: not a private key libssh can read", path->string()));
        return Key_ptr(raw);
    }
    ssh_key raw = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK)
        return Status::io_error("cannot generate an ed25519 host key");
    Key_ptr key(raw);
    if (path) {
        if (ssh_pki_export_privkey_file(key.get(), nullptr, nullptr, nullptr, path->c_str()) !=
            SSH_OK)
            return Status::io_error(fmt::format("cannot write host key {}", path->string()));
        ::chmod(path->c_str(), 0600);
    }
    return key;
}

// One key per line: [options] TYPE BASE64 [comment]; the options are skipped.
Result<std::vector<Key_ptr>> load_authorized_keys(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return Status::not_found(fmt::format("cannot read {}", path.string()));
    std::vector<Key_ptr> keys;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        std::istringstream words(line);
        std::string word;
        if (!(words >> word) || word.starts_with("#")) continue;
        bool loaded = false;
        do {
            const auto type = ssh_key_type_from_name(word.c_str());
            if (type == SSH_KEYTYPE_UNKNOWN) continue;
            std::string base64;
            ssh_key raw = nullptr;
            if (words >> base64 &&
                ssh_pki_import_pubkey_base64(base64.c_str(), type, &raw) == SSH_OK) {
                keys.emplace_back(raw);
                loaded = true;
            }
            break;
        } while (words >> word);
        if (!loaded)
            return Status::invalid_argument(
                fmt::format("{}:{}: not a public key line", path.string(), line_no));
    }
    return keys;
}

}  // namespace

struct Ssh_server::State {
    Farm& farm;
    Connections& connections;
    Bind_ptr bind;
    std::vector<Key_ptr> authorized;

    bool key_authorized(ssh_key key) const {
        for (const auto& k : authorized)
            if (ssh_key_cmp(k.get(), key, SSH_KEY_CMP_PUBLIC) == 0) return true;
        return false;
    }
};

namespace {

// One SSH connection, from key exchange to close, on its own thread. libssh calls the
// static callbacks on this same thread, from inside ssh_event_dopoll/ssh_channel_write.
class Ssh_connection {
public:
    Ssh_connection(const Ssh_server::State& server, Session_ptr session, int fd)
        : server_(server), session_(std::move(session)), fd_(fd) {}

    ~Ssh_connection() {
        channel_.reset();  // before the session, which would free it otherwise
        if (event_) ssh_event_remove_session(event_.get(), session_.get());
        event_.reset();
        // libssh closes the socket in ssh_free(): stop tracking it before.
        server_.connections.untrack(fd_);
        session_.reset();
    }

    Ssh_connection(const Ssh_connection&) = delete;
    Ssh_connection& operator=(const Ssh_connection&) = delete;

    void run();

private:
    bool login();
    void shell();
    void exec();
    bool session_alive() const;
    bool alive() const;  // the session, and the channel once there is one
    // Processes incoming packets for up to `timeout_ms`; false when the connection is gone.
    bool pump(int timeout_ms);
    bool write_all(std::string_view data, bool to_stderr = false);
    void close_channel(int exit_status = 0);

    static int on_password(ssh_session, const char* user, const char* password, void* self);
    static int on_none(ssh_session, const char* user, void* self);
    static int on_pubkey(ssh_session, const char* user, ssh_key_struct* key, char state,
                         void* self);
    static int on_message(ssh_session, ssh_message message, void* self);
    static ssh_channel on_channel_open(ssh_session, void* self);
    static int on_pty(ssh_session, ssh_channel, const char*, int, int, int, int, void*) {
        return 0;
    }
    static int on_window_change(ssh_session, ssh_channel, int, int, int, int, void*) { return 0; }
    static int on_env(ssh_session, ssh_channel, const char*, const char*, void*) { return 0; }
    static int on_shell(ssh_session, ssh_channel, void* self);
    static int on_exec(ssh_session, ssh_channel, const char* command, void* self);
    static int on_data(ssh_session, ssh_channel, void* data, std::uint32_t len, int, void* self);

    const Ssh_server::State& server_;
    Session_ptr session_;
    int fd_;
    Event_ptr event_;
    Channel_ptr channel_;
    ssh_server_callbacks_struct server_callbacks_{};
    ssh_channel_callbacks_struct channel_callbacks_{};
    std::string user_;         // the device, once logged in
    std::string kbdint_user_;  // the user of a keyboard-interactive exchange in progress
    bool shell_requested_ = false;
    bool exec_requested_ = false;
    std::string exec_command_;
    bool dropped_ = false;
    std::string inbox_;  // bytes typed by the client, not yet fed to the Cli
};

int Ssh_connection::on_password(ssh_session, const char* user, const char* password, void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    c->server_.farm.log_auth("ssh-password", user);
    if (!c->server_.farm.password_ok(user, password)) return SSH_AUTH_DENIED;
    c->user_ = user;
    return SSH_AUTH_SUCCESS;
}

// "none" carries only the user name; refused (the default), but logged as an attempt.
int Ssh_connection::on_none(ssh_session, const char* user, void* self) {
    static_cast<Ssh_connection*>(self)->server_.farm.log_auth("ssh-none", user ? user : "");
    return SSH_AUTH_DENIED;
}

int Ssh_connection::on_pubkey(ssh_session, const char* user, ssh_key_struct* key, char state,
                              void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    c->server_.farm.log_auth("ssh-publickey", user);
    if (!c->server_.farm.user_ok(user) || !c->server_.key_authorized(key)) return SSH_AUTH_DENIED;
    if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "would you take it?"
    if (state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;  // bad signature
    c->user_ = user;
    return SSH_AUTH_SUCCESS;
}

// Keyboard-interactive has no server callback in libssh 0.10: it comes as a message.
// Returns 0 when handled, 1 for libssh's default answer (a refusal).
int Ssh_connection::on_message(ssh_session session, ssh_message message, void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    if (ssh_message_type(message) != SSH_REQUEST_AUTH ||
        ssh_message_subtype(message) != SSH_AUTH_METHOD_INTERACTIVE)
        return 1;
    if (!ssh_message_auth_kbdint_is_response(message)) {
        const char* user = ssh_message_auth_user(message);
        c->kbdint_user_ = user ? user : "";
        c->server_.farm.log_auth("ssh-keyboard-interactive", c->kbdint_user_);
        const char* prompts[] = {"Password: "};
        char echo[] = {0};
        ssh_message_auth_interactive_request(message, "", "", 1, prompts, echo);
        return 0;
    }
    const char* answer = ssh_userauth_kbdint_getnanswers(session) == 1
                             ? ssh_userauth_kbdint_getanswer(session, 0)
                             : nullptr;
    if (answer && c->server_.farm.password_ok(c->kbdint_user_, answer)) {
        c->user_ = c->kbdint_user_;
        ssh_message_auth_reply_success(message, 0);
    } else {
        ssh_message_reply_default(message);
    }
    return 0;
}

ssh_channel Ssh_connection::on_channel_open(ssh_session session, void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    if (c->user_.empty() || c->channel_) return nullptr;  // one session channel per login
    c->channel_.reset(ssh_channel_new(session));
    if (!c->channel_) return nullptr;
    c->channel_callbacks_ = {};
    c->channel_callbacks_.userdata = c;
    c->channel_callbacks_.channel_data_function = &Ssh_connection::on_data;
    c->channel_callbacks_.channel_pty_request_function = &Ssh_connection::on_pty;
    c->channel_callbacks_.channel_pty_window_change_function = &Ssh_connection::on_window_change;
    c->channel_callbacks_.channel_env_request_function = &Ssh_connection::on_env;
    c->channel_callbacks_.channel_shell_request_function = &Ssh_connection::on_shell;
    c->channel_callbacks_.channel_exec_request_function = &Ssh_connection::on_exec;
    ssh_callbacks_init(&c->channel_callbacks_);
    ssh_set_channel_callbacks(c->channel_.get(), &c->channel_callbacks_);
    return c->channel_.get();
}

int Ssh_connection::on_shell(ssh_session, ssh_channel, void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    if (c->shell_requested_) return 1;
    c->shell_requested_ = true;
    return 0;
}

// Exec requests are for the personalities that have an exec channel (junos, routeros);
// the others refuse them, as the IOS-like device always did.
int Ssh_connection::on_exec(ssh_session, ssh_channel, const char* command, void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    const Personality* p = find_personality(c->user_);
    if (c->shell_requested_ || c->exec_requested_ || !p || !p->exec || !command) return 1;
    const std::string_view text(command);
    if (text.size() > k_max_exec_command) return 1;
    c->exec_command_ = std::string(text);
    c->exec_requested_ = true;
    return 0;
}

int Ssh_connection::on_data(ssh_session, ssh_channel, void* data, std::uint32_t len, int,
                            void* self) {
    auto* c = static_cast<Ssh_connection*>(self);
    c->inbox_.append(static_cast<const char*>(data), len);
    return static_cast<int>(len);
}

bool Ssh_connection::session_alive() const {
    if (ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) return false;
    return ssh_is_connected(session_.get()) != 0;
}

bool Ssh_connection::alive() const {
    if (server_.connections.stopping() || !session_alive()) return false;
    return !channel_ || !ssh_channel_is_closed(channel_.get());
}

bool Ssh_connection::pump(int timeout_ms) {
    if (ssh_event_dopoll(event_.get(), timeout_ms) == SSH_ERROR) return false;
    return alive();
}

bool Ssh_connection::write_all(std::string_view data, bool to_stderr) {
    while (!data.empty()) {
        if (!alive()) return false;
        const auto size = static_cast<std::uint32_t>(std::min(data.size(), k_write_chunk));
        const auto n = to_stderr ? ssh_channel_write_stderr(channel_.get(), data.data(), size)
                                 : ssh_channel_write(channel_.get(), data.data(), size);
        if (n == SSH_ERROR) return false;
        if (n == 0) {  // the window stayed shut for libssh's timeout: keep waiting
            if (!pump(k_poll_ms)) return false;
            continue;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool Ssh_connection::login() {
    server_callbacks_.userdata = this;
    server_callbacks_.auth_password_function = &Ssh_connection::on_password;
    server_callbacks_.auth_pubkey_function = &Ssh_connection::on_pubkey;
    server_callbacks_.auth_none_function = &Ssh_connection::on_none;
    server_callbacks_.channel_open_request_session_function = &Ssh_connection::on_channel_open;
    ssh_callbacks_init(&server_callbacks_);
    ssh_set_server_callbacks(session_.get(), &server_callbacks_);
    ssh_set_message_callback(session_.get(), &Ssh_connection::on_message, this);
    ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE |
                                             SSH_AUTH_METHOD_PUBLICKEY);

    if (ssh_handle_key_exchange(session_.get()) != SSH_OK) return false;

    event_.reset(ssh_event_new());
    if (!event_ || ssh_event_add_session(event_.get(), session_.get()) != SSH_OK) {
        event_.reset();
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + k_login_timeout;
    while (!shell_requested_ && !exec_requested_) {
        if (std::chrono::steady_clock::now() > deadline || !pump(k_poll_ms)) return false;
    }
    return true;
}

void Ssh_connection::close_channel(int exit_status) {
    if (!channel_ || ssh_channel_is_closed(channel_.get())) return;
    ssh_channel_request_send_exit_status(channel_.get(), exit_status);
    ssh_channel_send_eof(channel_.get());
    ssh_channel_close(channel_.get());
    // Give the client a moment to read everything and hang up first, so our TCP close
    // cannot reset data it has not read yet.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < deadline && !server_.connections.stopping()) {
        if (ssh_event_dopoll(event_.get(), 20) == SSH_ERROR) break;
        if (ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) break;
    }
}

void Ssh_connection::shell() {
    Cli cli(user_, [this] { return server_.farm.config(user_); });
    if (!write_all(cli.greeting())) return;
    while (true) {
        if (!inbox_.empty()) {
            cli.feed(inbox_);
            inbox_.clear();
        }
        Step step = cli.step();
        if (!write_all(step.bytes)) return;
        switch (step.next) {
            case Next::step:
                // Take in window adjustments and typeahead without waiting.
                if (ssh_event_dopoll(event_.get(), 0) == SSH_ERROR) return;
                break;
            case Next::pause:
                std::this_thread::sleep_for(k_slow_line_interval);
                if (ssh_event_dopoll(event_.get(), 0) == SSH_ERROR) return;
                break;
            case Next::read:
                while (inbox_.empty()) {
                    if (!pump(k_poll_ms)) return;
                    if (inbox_.empty() && ssh_channel_is_eof(channel_.get())) {
                        close_channel();  // the client has nothing more to say
                        return;
                    }
                }
                break;
            case Next::close:
                if (fault_of(user_) == Fault::drop) {
                    // A dead link: the TCP connection ends, no SSH goodbye.
                    ::shutdown(fd_, SHUT_RDWR);
                    dropped_ = true;
                    return;
                }
                close_channel();
                return;
            case Next::hang:
                while (pump(k_poll_ms)) {
                    inbox_.clear();
                }
                return;
        }
    }
}

void Ssh_connection::exec() {
    Cli cli(user_, [this] { return server_.farm.config(user_); });
    const Cli::Exec_result result = cli.exec(exec_command_);
    if (result.hang) {
        while (pump(k_poll_ms)) inbox_.clear();
        return;
    }
    if (!write_all(result.out)) return;
    if (!result.err.empty() && !write_all(result.err, true)) return;
    close_channel(result.status);
}

void Ssh_connection::run() {
    if (login()) {
        if (exec_requested_)
            exec();
        else
            shell();
    }
    // Also when the client closed the channel: say goodbye to the session it leaves open.
    if (!dropped_ && !server_.connections.stopping() && session_alive()) {
        // ssh_disconnect() frees the session's channels itself.
        (void)channel_.release();
        ssh_disconnect(session_.get());
    }
}

}  // namespace

bool init_libssh() { return ssh_init() == SSH_OK; }

Ssh_server::Ssh_server(std::unique_ptr<State> state) : state_(std::move(state)) {}
Ssh_server::~Ssh_server() = default;

Result<std::unique_ptr<Ssh_server>> Ssh_server::create(const Ssh_options& options, Farm& farm,
                                                       Connections& connections) {
    auto state = std::make_unique<State>(State{farm, connections, nullptr, {}});
    if (options.authorized_keys) {
        auto keys = load_authorized_keys(*options.authorized_keys);
        if (!keys) return keys.status();
        state->authorized = std::move(keys).value();
    }
    auto key = load_or_create_host_key(options.host_key);
    if (!key) return key.status();
    state->bind.reset(ssh_bind_new());
    if (!state->bind) return Status::io_error("ssh_bind_new failed");
    // The bind owns the key from here on (freed by ssh_bind_free).
    if (ssh_bind_options_set(state->bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key->get()) != SSH_OK)
        return Status::invalid_argument(
            fmt::format("host key refused: {}", ssh_get_error(state->bind.get())));
    key->release();
    return std::unique_ptr<Ssh_server>(new Ssh_server(std::move(state)));
}

void Ssh_server::run(Listener listener) {
    State& s = *state_;
    while (!s.connections.stopping()) {
        if (!wait_readable(listener.fd.get(), s.connections.wake_fd(), 1000)) continue;
        UniqueFd fd(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (fd.get() < 0) continue;
        Session_ptr session(ssh_new());
        if (!session) continue;
        if (ssh_bind_accept_fd(s.bind.get(), session.get(), fd.get()) != SSH_OK) {
            (void)fd.release();  // the session may hold it already: ssh_free closes it
            continue;
        }
        const int raw_fd = fd.release();  // the session owns it now
        // std::function needs a copyable callable: share the connection's handle.
        auto connection = std::make_shared<Ssh_connection>(s, std::move(session), raw_fd);
        s.connections.start(raw_fd, [connection] { connection->run(); });
    }
}

}  // namespace netkeep::fake_device
