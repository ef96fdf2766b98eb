// Syslog-triggered backups end to end (docs/syslog.md): the real netkeepd with
// --syslog-listen, netkeep-worker and tools/fake-device. A config-change message over UDP
// or TCP makes exactly one extra backup whose commit names the user; an unknown sender is
// counted; a flood from one sender makes one run and the server stays responsive; hostile
// input (binary junk, oversized datagrams and frames, 1,000 idle TCP connections) never
// stops the service.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "e2e_support.hpp"

using namespace netkeep;
using namespace netkeep::testing;

namespace {

constexpr const char* k_password = "syslog-Pw-5521";

// A socket fd closed when it goes out of scope.
struct socket_fd {
    int fd = -1;
    explicit socket_fd(int type) : fd(::socket(AF_INET, type, 0)) { REQUIRE(fd >= 0); }
    socket_fd(socket_fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    socket_fd(const socket_fd&) = delete;
    ~socket_fd() {
        if (fd >= 0) ::close(fd);
    }
};

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

void send_udp(std::uint16_t port, const std::string& message) {
    static socket_fd s(SOCK_DGRAM);
    sockaddr_in to = loopback(port);
    ::sendto(s.fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

std::optional<socket_fd> connect_tcp(std::uint16_t port) {
    socket_fd s(SOCK_STREAM);
    sockaddr_in to = loopback(port);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return std::nullopt;
    return s;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(std::size_t(n));
    }
    return true;
}

// Whether the peer closed the connection within `timeout` (reads and drops anything).
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
    timeval tv{long(timeout.count() / 1000), long(timeout.count() % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

std::string config_change(const std::string& host, const std::string& user) {
    return fmt::format(
        "<189>Dec  5 23:01:02 {} 52: %SYS-5-CONFIG_I: Configured from console by {} on vty0 "
        "(10.0.0.5)",
        host, user);
}

// A value of netkeepd's /metrics, or -1.
long metric(const Backup& b, const std::string& name) {
    auto text = run_program({"/usr/bin/curl", "-sf", "--max-time", "5", b.url() + "/metrics"});
    if (!text) return -1;
    const auto at = text->find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stol(text->substr(at + name.size() + 2));
}

bool healthy(const Backup& b) {
    return run_program({"/usr/bin/curl", "-sf", "--max-time", "5", b.url() + "/healthz"})
        .has_value();
}

std::string last_message(const Backup& b) {
    return b.git({"log", "-1", "--format=%B", "main"}).value_or("");
}

struct Farm {
    TempDir state = TempDir::create("fake-state").value();
    FakeDevice fake =
        start_fake_device({"--password", k_password, "--state-dir", state.path().string()});
    void bump(const std::string& device, int generation) {
        std::ofstream(state.path() / device) << generation << "\n";
    }
};

std::vector<DeviceEntry> two_devices(const Farm& farm) {
    std::vector<DeviceEntry> devices;
    for (const char* name : {"r1", "r2"}) {
        DeviceEntry d{name};
        d.port = farm.fake.ssh_port;
        d.pass = k_password;
        devices.push_back(d);
    }
    return devices;
}

std::uint16_t syslog_port(Backup& b) {
    auto line = b.server->process.read_line(10s);
    REQUIRE_MESSAGE(line.is_ok(), b.server->process.stderr_text());
    return port_of(*line, "syslog listening on ");
}

}  // namespace

TEST_CASE("a config change over UDP and over TCP makes one backup configured by its user") {
    Farm farm;
    Backup b(two_devices(farm), R"("schedule": {"interval": 86400}, "timeout": 30)",
             R"(["terminal length 0", "show run"])",
             {"--syslog-listen", "127.0.0.1:0", "--syslog-debounce", "1"});
    const std::uint16_t port = syslog_port(b);
    Process worker = b.start_worker();
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 2; }, 60s), worker.stderr_text());

    // Both devices share 127.0.0.1: the message's hostname tells them apart.
    farm.bump("r1", 1);
    send_udp(port, config_change("r1", "alice"));
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 3; }, 30s),
                    b.server->process.stderr_text());
    std::string message = last_message(b);
    CHECK(message.find("r1: show_run at ") == 0);
    CHECK(message.find(", configured by alice\n") != std::string::npos);
    CHECK(message.find("\nNetkeep-Changed-By: alice\n") != std::string::npos);
    CHECK(message.find("\nNetkeep-Trigger: syslog\n") != std::string::npos);

    // TCP: an octet-counted frame cut in two writes, then a line, on one connection.
    farm.bump("r2", 1);
    {
        auto c = connect_tcp(port);
        REQUIRE(c);
        const std::string framed =
            std::to_string(config_change("r2", "bob").size()) + " " + config_change("r2", "bob");
        REQUIRE(send_all(c->fd, framed.substr(0, 10)));
        std::this_thread::sleep_for(50ms);
        REQUIRE(send_all(c->fd, framed.substr(10)));
        REQUIRE(send_all(c->fd, config_change("r2", "carol") + "\n"));
    }
    REQUIRE(eventually([&] { return b.commits() == 4; }, 30s));
    message = last_message(b);
    CHECK(message.find("r2: show_run at ") == 0);
    CHECK(message.find(", configured by bob, carol\n") != std::string::npos);

    // An unknown sender is counted, not run.
    const long before = metric(b, "netkeep_syslog_unknown_sender_messages_total");
    send_udp(port, config_change("nosuch", "mallory"));
    CHECK(eventually(
        [&] { return metric(b, "netkeep_syslog_unknown_sender_messages_total") == before + 1; }));
    CHECK(metric(b, "netkeep_syslog_runs_requested_total") == 2);
    std::this_thread::sleep_for(2500ms);
    CHECK(b.commits() == 4);
    CHECK(count(b.server->process.stderr_text(), "syslog.unknown_senders") == 1);
}

TEST_CASE("a flood from one sender makes one run; hostile input never stops the service") {
    Farm farm;
    Backup b(two_devices(farm), R"("schedule": {"interval": 86400}, "timeout": 30)",
             R"(["terminal length 0", "show run"])",
             {"--syslog-listen", "127.0.0.1:0", "--syslog-debounce", "2",
              "--syslog-max-connections", "100", "--syslog-idle-timeout", "60"});
    const std::uint16_t port = syslog_port(b);
    Process worker = b.start_worker();
    REQUIRE_MESSAGE(eventually([&] { return b.commits() == 2; }, 60s), worker.stderr_text());

    // 10,000 config-change messages from r1 within the debounce window: one run.
    farm.bump("r1", 1);
    const auto flood_start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10'000; ++i) send_udp(port, config_change("r1", "alice"));
    CHECK(healthy(b));
    REQUIRE(eventually([&] { return b.commits() == 3; }, 30s));
    CHECK(std::chrono::steady_clock::now() - flood_start < 20s);
    CHECK(last_message(b).find("configured by alice") != std::string::npos);
    CHECK(metric(b, "netkeep_syslog_runs_requested_total") == 1);
    CHECK(metric(b, "netkeep_syslog_rate_limited_total") > 0);

    // Binary junk, an oversized datagram, a line without end larger than a frame, a bad
    // count and an oversized count: dropped or closed, counted.
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk.push_back(char((i * 131) & 0xff));
    for (int i = 0; i < 100; ++i) send_udp(port, junk.substr(std::size_t(i)));
    // UDP may be dropped (the flood may still fill the socket's buffer): sent until counted.
    CHECK(eventually(
        [&] {
            send_udp(port, std::string(9000, 'x'));
            return metric(b, "netkeep_syslog_oversized_total") >= 1;
        },
        20s));
    {
        auto c = connect_tcp(port);
        REQUIRE(c);
        send_all(c->fd, "<1>" + std::string(70'000, 'a'));
        CHECK(closed_by_peer(c->fd, 10s));
    }
    for (const std::string& stream : {std::string("12x34 hello\n"), std::string("999999 x"),
                                      std::string("\0\0\0\xff\xfe", 5) + junk}) {
        auto c = connect_tcp(port);
        REQUIRE(c);
        send_all(c->fd, stream);
        if (stream[0] != '<' && stream[0] != '\0') CHECK(closed_by_peer(c->fd, 10s));
    }
    CHECK(eventually([&] { return metric(b, "netkeep_syslog_oversized_total") >= 4; }, 20s));

    // 1,000 idle TCP connections: at most 100 are kept, the rest closed at accept.
    std::vector<socket_fd> idle;
    for (int i = 0; i < 1000; ++i)
        if (auto c = connect_tcp(port)) idle.push_back(std::move(*c));
    CHECK(eventually([&] { return metric(b, "netkeep_syslog_connections") == 100; }));
    CHECK(metric(b, "netkeep_syslog_connections_refused_total") >= 800);
    CHECK(healthy(b));
    // UDP still works meanwhile: r2 changed.
    farm.bump("r2", 1);
    send_udp(port, config_change("r2", "dave"));
    REQUIRE(eventually([&] { return b.commits() == 4; }, 30s));
    CHECK(last_message(b).find("r2: show_run at ") == 0);
    CHECK(last_message(b).find("configured by dave") != std::string::npos);
    // Once they are gone, TCP takes messages again.
    idle.clear();
    CHECK(eventually([&] { return metric(b, "netkeep_syslog_connections") == 0; }));
    farm.bump("r1", 2);
    {
        auto c = connect_tcp(port);
        REQUIRE(c);
        REQUIRE(send_all(c->fd, config_change("r1", "erin") + "\n"));
    }
    REQUIRE(eventually([&] { return b.commits() == 5; }, 30s));
    CHECK(last_message(b).find("configured by erin") != std::string::npos);
    stop(worker);
    b.stop_server();
}

TEST_CASE("an idle TCP connection is closed after --syslog-idle-timeout, a partial frame too") {
    Farm farm;
    Backup b(two_devices(farm), R"("schedule": {"interval": 86400}, "timeout": 30)",
             R"(["terminal length 0", "show run"])",
             {"--syslog-listen", "127.0.0.1:0", "--syslog-idle-timeout", "1"});
    const std::uint16_t port = syslog_port(b);
    auto silent = connect_tcp(port);
    auto partial = connect_tcp(port);
    REQUIRE(silent);
    REQUIRE(partial);
    REQUIRE(send_all(partial->fd, "120 <189>half a frame"));
    CHECK(eventually([&] { return metric(b, "netkeep_syslog_connections") == 2; }));
    const auto start = std::chrono::steady_clock::now();
    CHECK(closed_by_peer(silent->fd, 10s));
    CHECK(closed_by_peer(partial->fd, 10s));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(eventually([&] { return metric(b, "netkeep_syslog_connections") == 0; }));
    CHECK(metric(b, "netkeep_syslog_messages_total") == 0);  // the half frame is no message
    b.stop_server();
}
