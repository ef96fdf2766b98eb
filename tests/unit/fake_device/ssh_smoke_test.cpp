// The personalities over real SSH (an integration test, though it lives next to the unit
// tests of the code it covers): the real fake-device binary (FAKE_DEVICE, set by
// meson.build) and a libssh client. Three shell personalities with their login extras
// (enable, FortiOS's accept prompt, ProCurve's press-any-key and ANSI codes) and the exec
// channel of junos and routeros; the config each prints must be --print-config's text.
#include <doctest/doctest.h>

#include <libssh/libssh.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "support/process.hpp"
#include "text.hpp"

using namespace netkeep::testing;
using namespace std::chrono_literals;

namespace {

using netkeep::fake_device::test::crlf;
using netkeep::fake_device::test::strip_ansi;

std::string fake_device_path() {
    const char* p = std::getenv("FAKE_DEVICE");
    if (!p || !*p) FAIL("FAKE_DEVICE is not set: run the test through meson test");
    return p;
}

// `text` with every `pager` and the backspace erase that follows it removed.
std::string without_pager(std::string text, std::string_view pager) {
    const std::string erase = std::string(pager.size(), '\b') + std::string(pager.size(), ' ') +
                              std::string(pager.size(), '\b');
    for (auto at = text.find(pager); at != std::string::npos; at = text.find(pager, at)) {
        text.erase(at, pager.size());
        if (text.compare(at, erase.size(), erase) == 0) text.erase(at, erase.size());
    }
    return text;
}

struct Fake {
    Process process;
    unsigned port = 0;
};

Fake start_fake() {
    auto p = Process::spawn({fake_device_path(), "--listen", "127.0.0.1:0"});
    REQUIRE(p.is_ok());
    Fake f{std::move(p.value())};
    auto line = f.process.read_line(10s);
    REQUIRE_MESSAGE(line.is_ok(), f.process.stderr_text());
    REQUIRE(line->starts_with("ssh listening on "));
    f.port = static_cast<unsigned>(std::stoul(line->substr(line->rfind(':') + 1)));
    return f;
}

std::string print_config(const std::string& device, int run) {
    auto p = Process::spawn(
        {fake_device_path(), "--print-config", device, "--run", std::to_string(run)});
    REQUIRE(p.is_ok());
    auto status = p->wait(30s);
    REQUIRE(status.is_ok());
    REQUIRE(status->exited());
    REQUIRE(status->code == 0);
    return p->stdout_text();
}

struct Session_free {
    void operator()(ssh_session s) const {
        ssh_disconnect(s);
        ssh_free(s);
    }
};
struct Channel_free {
    void operator()(ssh_channel c) const { ssh_channel_free(c); }
};

// A logged-in libssh client session to one device of the farm (password "netkeep").
class Client {
public:
    Client(unsigned port, const std::string& device) : session_(ssh_new()) {
        REQUIRE(session_);
        ssh_session s = session_.get();
        bool no = false;
        long timeout_s = 10;
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) == 0);
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1") == 0);
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_PORT, &port) == 0);
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_USER, device.c_str()) == 0);
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") == 0);
        REQUIRE(ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) == 0);
        REQUIRE_MESSAGE(ssh_connect(s) == SSH_OK, ssh_get_error(s));
        // The host key is a fresh one of this run: nothing to check it against.
        REQUIRE(ssh_userauth_password(s, nullptr, "netkeep") == SSH_AUTH_SUCCESS);
        channel_.reset(ssh_channel_new(s));
        REQUIRE(channel_);
        REQUIRE(ssh_channel_open_session(channel_.get()) == SSH_OK);
    }

    void shell() {
        REQUIRE(ssh_channel_request_pty_size(channel_.get(), "vt100", 511, 24) == SSH_OK);
        REQUIRE(ssh_channel_request_shell(channel_.get()) == SSH_OK);
    }
    bool exec(const std::string& command) {
        return ssh_channel_request_exec(channel_.get(), command.c_str()) == SSH_OK;
    }
    void send(std::string_view text) {
        REQUIRE(ssh_channel_write(channel_.get(), text.data(),
                                  static_cast<std::uint32_t>(text.size())) ==
                static_cast<int>(text.size()));
    }

    // Reads stdout until done(everything so far) (the text returned, ANSI codes removed
    // when `ansi`); fails after 10 s.
    std::string read_until(const std::function<bool(const std::string&)>& done, bool ansi = false) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (true) {
            const std::string seen = ansi ? strip_ansi(received_) : received_;
            if (done(seen)) {
                received_.clear();
                return seen;
            }
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "waited for: " << seen);
            char buf[4096];
            const int n = ssh_channel_read_timeout(channel_.get(), buf, sizeof buf, 0, 100);
            REQUIRE_MESSAGE(n >= 0, ssh_get_error(session_.get()));
            received_.append(buf, static_cast<std::size_t>(n));
        }
    }
    std::string read_until_end(std::string& err) {
        std::string out;
        char buf[4096];
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!ssh_channel_is_eof(channel_.get())) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            for (int is_stderr : {0, 1}) {
                const int n =
                    ssh_channel_read_timeout(channel_.get(), buf, sizeof buf, is_stderr, 50);
                REQUIRE(n >= 0);
                (is_stderr ? err : out).append(buf, static_cast<std::size_t>(n));
            }
        }
        return out;
    }
    int exit_status() {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        int status = -1;
        while ((status = ssh_channel_get_exit_status(channel_.get())) == -1 &&
               std::chrono::steady_clock::now() < deadline) {
            char buf[256];
            (void)ssh_channel_read_timeout(channel_.get(), buf, sizeof buf, 0, 50);
        }
        return status;
    }

private:
    std::unique_ptr<ssh_session_struct, Session_free> session_;
    std::unique_ptr<ssh_channel_struct, Channel_free> channel_;
    std::string received_;
};

auto ends_with(std::string suffix) {
    return [suffix = std::move(suffix)](const std::string& s) { return s.ends_with(suffix); };
}

}  // namespace

TEST_CASE("ios personality over SSH: unprivileged, enable, config with its prompt line") {
    Fake fake = start_fake();
    Client c(fake.port, "ios--sw1");
    c.shell();
    CHECK(c.read_until(ends_with("sw1>")).find("authorized access") != std::string::npos);
    c.send("show running-config\r");
    CHECK(c.read_until(ends_with("sw1>")).find("% Invalid input") != std::string::npos);
    c.send("enable\r");
    c.read_until(ends_with("Password: "));
    c.send("enable-secret\r");
    CHECK(c.read_until(ends_with("sw1#")) == "\r\nsw1#");
    c.send("terminal length 0\r");
    c.read_until(ends_with("sw1#"));
    c.send("show running-config\r");
    // The first show of this device in the process: {{run}} = 1.
    const std::string expected =
        "show running-config\r\n" + crlf(print_config("ios--sw1", 1)) + "sw1#";
    CHECK(c.read_until([&](const std::string& s) { return s.size() >= expected.size(); }) ==
          expected);
}

TEST_CASE("fortios personality over SSH: accept the disclaimer, answer the pager, the config") {
    Fake fake = start_fake();
    Client c(fake.port, "fortios--fgt1");
    c.shell();
    c.read_until(ends_with("(Press 'a' to accept):"));
    c.send("a");
    c.read_until(ends_with("fgt1 # "));
    c.send("show\r");
    std::size_t answered = 0;
    const std::string out = c.read_until([&](const std::string& s) {
        if (s.ends_with("--More-- ") && s.size() != answered) {
            answered = s.size();
            c.send(" ");
        }
        return s.ends_with("\r\nfgt1 # ");
    });
    CHECK(without_pager(out, "--More-- ") ==
          "show\r\n" + crlf(print_config("fortios--fgt1", 1)) + "fgt1 # ");
}

TEST_CASE("procurve personality over SSH: press any key, ANSI codes, no page") {
    Fake fake = start_fake();
    Client c(fake.port, "procurve--sw2");
    c.shell();
    c.read_until(ends_with("Press any key to continue"), true);
    c.send(" ");
    c.read_until(ends_with("sw2# "), true);
    c.send("no page\r");
    c.read_until(ends_with("sw2# "), true);
    c.send("show running-config\r");
    const std::string expected =
        "show running-config\r\n" + crlf(print_config("procurve--sw2", 1)) + "sw2# ";
    CHECK(c.read_until([&](const std::string& s) { return s.size() >= expected.size(); }, true) ==
          expected);
}

TEST_CASE("exec channel: junos and routeros run one command, exit status 0 or 1") {
    Fake fake = start_fake();
    for (const auto& [device, command] :
         {std::pair{"junos--fw1", "show configuration | display omit"},
          std::pair{"routeros--mt1", "/export"}}) {
        CAPTURE(device);
        {
            Client c(fake.port, device);
            REQUIRE(c.exec(command));
            std::string err;
            CHECK(c.read_until_end(err) == print_config(device, 1));
            CHECK(err.empty());
            CHECK(c.exit_status() == 0);
        }
        {
            Client c(fake.port, device);
            REQUIRE(c.exec("show bogus"));
            std::string err;
            CHECK(c.read_until_end(err).empty());
            CHECK_FALSE(err.empty());
            CHECK(c.exit_status() == 1);
        }
    }
    // An exec request longer than 4096 bytes is refused; the farm serves on.
    {
        Client c(fake.port, "junos--fw1");
        CHECK_FALSE(c.exec(std::string(10000, 'x')));
    }
    {
        Client c(fake.port, "junos--fw1");
        REQUIRE(c.exec("show version"));
        std::string err;
        CHECK(c.read_until_end(err).starts_with("Hostname: fw1\n"));
        CHECK(c.exit_status() == 0);
    }
    // The other personalities and the plain device refuse exec requests, as before.
    for (const char* device : {"ios--sw1", "r1"}) {
        Client c(fake.port, device);
        CHECK_FALSE(c.exec("show running-config"));
    }
}
