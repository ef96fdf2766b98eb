// netkeepd's command line (src/bin/netkeepd_args.hpp): defaults, every option, and the
// rules between options, without starting a process.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bin/netkeepd_args.hpp"

using namespace netkeep;
using namespace netkeep::netkeepd;

namespace {

Result<Config> parse(std::vector<std::string> words) {
    words.insert(words.begin(), "netkeepd");
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    return parse_args(int(words.size()), argv.data());
}

std::string error_of(std::vector<std::string> words) {
    auto r = parse(std::move(words));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Status::Code::invalid_argument);
    return r.status().message();
}

}  // namespace

TEST_CASE("netkeepd: defaults with only --inventory") {
    auto c = parse({"--inventory", "inv"});
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    CHECK(c->data_dir == "var");
    CHECK(c->inventory_dir == "inv");
    CHECK(c->host == "127.0.0.1");
    CHECK(c->port == 8080);
    CHECK(c->header_timeout == std::chrono::seconds(10));
    CHECK(c->max_upload == (std::uint64_t(1) << 30));
    CHECK(c->max_connections_per_client == 64);
    CHECK(c->min_body_rate == 1024);
    CHECK(c->body_rate_grace == std::chrono::seconds(10));
    CHECK(c->git_writer);
    CHECK(c->git_layout == PathLayout::device);
    CHECK_FALSE(c->commit_unchanged);
    CHECK(c->spool_retention == std::chrono::seconds(0));
    CHECK(c->quarantine_after == 3);
    CHECK(c->log_level == LogLevel::info);
    CHECK(c->auth_file.empty());
    CHECK_FALSE(c->insecure_no_auth);
    CHECK(c->tls.cert.empty());
}

TEST_CASE("netkeepd: every option, in both spellings") {
    auto c = parse({"--data-dir=/d",
                    "--inventory",
                    "/i",
                    "--listen",
                    "0.0.0.0:9000",
                    "--max-upload",
                    "4096",
                    "--header-timeout=0.25",
                    "--max-connections-per-client",
                    "0",
                    "--min-body-rate=0",
                    "--body-rate-grace",
                    "60",
                    "--no-git-writer",
                    "--git-layout",
                    "group",
                    "--commit-unchanged",
                    "--spool-retention",
                    "3600",
                    "--quarantine-after",
                    "7",
                    "--log-level",
                    "warn",
                    "--auth",
                    "/t.json",
                    "--tls-cert",
                    "c.pem",
                    "--tls-key",
                    "k.pem",
                    "--tls-client-ca",
                    "ca.pem"});
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    CHECK(c->data_dir == "/d");
    CHECK(c->host == "0.0.0.0");
    CHECK(c->port == 9000);
    CHECK(c->max_upload == 4096);
    CHECK(c->header_timeout == std::chrono::milliseconds(250));
    CHECK(c->max_connections_per_client == 0);
    CHECK(c->min_body_rate == 0);
    CHECK(c->body_rate_grace == std::chrono::seconds(60));
    CHECK_FALSE(c->git_writer);
    CHECK(c->git_layout == PathLayout::group);
    CHECK(c->commit_unchanged);
    CHECK(c->spool_retention == std::chrono::seconds(3600));
    CHECK(c->quarantine_after == 7);
    CHECK(c->log_level == LogLevel::warn);
    CHECK(c->auth_file == "/t.json");
    CHECK(c->tls.cert == "c.pem");
    CHECK(c->tls.key == "k.pem");
    CHECK(c->tls.client_ca == "ca.pem");
    // A header timeout never rounds to nothing.
    CHECK(parse({"--inventory", "i", "--header-timeout", "0.0001"})->header_timeout.count() == 1);
    CHECK(parse({"--inventory", "i", "--listen", "[::1]:0", "--insecure-no-auth"}).is_ok());
}

TEST_CASE("netkeepd: usage errors name the option") {
    struct Bad {
        std::vector<std::string> args;
        std::string message;
    };
    for (const auto& bad : std::vector<Bad>{
             {{}, "--inventory is required"},
             {{"--inventory"}, "--inventory needs a value (DIR)"},
             {{"--inventory", ""}, "--inventory needs a value (DIR), got an empty one"},
             {{"--inventory", "i", "--bogus"}, "unknown option '--bogus'"},
             {{"--inventory", "i", "extra"}, "unexpected argument 'extra'"},
             {{"--inventory", "i", "--inventory", "j"}, "--inventory may be given only once"},
             {{"--inventory", "i", "--no-git-writer=1"}, "--no-git-writer takes no value"},
             {{"--inventory", "i", "--listen", "nope"}, "--listen "},
             {{"--inventory", "i", "--git-layout", "tree"},
              "--git-layout wants 'device' or 'group', got 'tree'"},
             {{"--inventory", "i", "--spool-retention", "59"},
              "--spool-retention wants 0 or at least 60 seconds, got '59'"},
             {{"--inventory", "i", "--max-connections-per-client", "x"},
              "--max-connections-per-client wants a number (0: no limit), got 'x'"},
             {{"--inventory", "i", "--min-body-rate", "2199023255553"},
              "--min-body-rate wants a number (0: no limit), got '2199023255553'"},
             {{"--inventory", "i", "--body-rate-grace", "0"},
              "--body-rate-grace wants seconds from 1 to 3600, got '0'"},
             {{"--inventory", "i", "--log-level", "verbose"},
              "--log-level wants debug, info, warn or error, got 'verbose'"},
             {{"--inventory", "i", "--quarantine-after", "1001"},
              "--quarantine-after wants a count in [1, 1000], got '1001'"},
             {{"--inventory", "i", "--max-upload", "0"},
              "--max-upload wants a byte count, got '0'"},
             {{"--inventory", "i", "--header-timeout", "3601"},
              "--header-timeout wants seconds in (0, 3600], got '3601'"},
             {{"--inventory", "i", "--header-timeout", "nan"},
              "--header-timeout wants seconds in (0, 3600], got 'nan'"},
             {{"--inventory", "i", "--auth", "t", "--insecure-no-auth"},
              "--auth and --insecure-no-auth exclude each other"},
             {{"--inventory", "i", "--listen", "10.0.0.1:80"}, "listening beyond loopback needs"},
             {{"--inventory", "i", "--tls-cert", "c"}, "--tls-cert and --tls-key go together"},
             {{"--inventory", "i", "--tls-client-ca", "c"},
              "--tls-client-ca needs --tls-cert and --tls-key"},
         }) {
        CAPTURE(bad.message);
        const std::string message = error_of(bad.args);
        CHECK_MESSAGE(message.find(bad.message) != std::string::npos, message);
    }
}

TEST_CASE("netkeepd: the usage text lists every option") {
    CHECK(k_usage.starts_with("usage: netkeepd"));
    for (auto option : {"--data-dir",
                        "--inventory",
                        "--listen",
                        "--max-upload",
                        "--header-timeout",
                        "--max-connections-per-client",
                        "--min-body-rate",
                        "--body-rate-grace",
                        "--no-git-writer",
                        "--git-layout",
                        "--commit-unchanged",
                        "--spool-retention",
                        "--quarantine-after",
                        "--log-level",
                        "--auth",
                        "--insecure-no-auth",
                        "--tls-cert",
                        "--tls-key",
                        "--tls-client-ca",
                        "--help"})
        CHECK_MESSAGE(k_usage.find(option) != std::string::npos, option);
}

TEST_CASE("netkeepd: the --syslog-* options (issue 14)") {
    auto off = parse({"--inventory", "i"});
    REQUIRE(off.is_ok());
    CHECK(off->syslog_host.empty());
    CHECK(off->syslog_debounce == std::chrono::seconds(30));
    CHECK(off->syslog_rate == 100);
    CHECK(off->syslog_max_connections == 256);
    CHECK(off->syslog_idle_timeout == std::chrono::seconds(300));
    auto c =
        parse({"--inventory", "i", "--syslog-listen", "0.0.0.0:5514", "--syslog-debounce", "5",
               "--syslog-rate=7", "--syslog-max-connections", "9", "--syslog-idle-timeout", "11"});
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    CHECK(c->syslog_host == "0.0.0.0");  // syslog carries no secret: any address is allowed
    CHECK(c->syslog_port == 5514);
    CHECK(c->syslog_debounce == std::chrono::seconds(5));
    CHECK(c->syslog_rate == 7);
    CHECK(c->syslog_max_connections == 9);
    CHECK(c->syslog_idle_timeout == std::chrono::seconds(11));
    for (const auto& [args, message] :
         std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--syslog-listen", "nope"}, "--syslog-listen "},
             {{"--syslog-debounce", "0"}, "--syslog-debounce wants a whole number from 1 to 3600"},
             {{"--syslog-debounce", "3601"}, "got '3601'"},
             {{"--syslog-rate", "-1"}, "--syslog-rate wants a whole number from 1 to 100000"},
             {{"--syslog-max-connections", "65537"}, "--syslog-max-connections wants"},
             {{"--syslog-idle-timeout", "1.5"}, "--syslog-idle-timeout wants"},
         }) {
        std::vector<std::string> words{"--inventory", "i"};
        words.insert(words.end(), args.begin(), args.end());
        const std::string error = error_of(words);
        CHECK_MESSAGE(error.find(message) != std::string::npos, error);
    }
    for (auto option : {"--syslog-listen", "--syslog-debounce", "--syslog-rate",
                        "--syslog-max-connections", "--syslog-idle-timeout"})
        CHECK(k_usage.find(option) != std::string::npos);
}

TEST_CASE("netkeepd: the retention options (issue 16)") {
    auto defaults = parse({"--inventory", "inv"});
    REQUIRE(defaults.is_ok());
    CHECK(defaults->log_retention_days == 0);
    CHECK(defaults->archive_dir.empty());
    CHECK(defaults->retention_delay == std::chrono::seconds(60));
    CHECK(defaults->retention_every == std::chrono::seconds(3600));

    auto c = parse({"--inventory", "inv", "--log-retention", "0.5", "--archive", "none",
                    "--retention-interval", "5"});
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    CHECK(c->log_retention_days == 0.5);
    CHECK(c->archive_dir == "none");
    CHECK(c->retention_delay == std::chrono::seconds(5));
    CHECK(c->retention_every == std::chrono::seconds(5));

    for (const char* bad : {"0", "-1", "x", "1e9", "nan", ""})
        CHECK(error_of({"--inventory", "inv", "--log-retention", bad}).find("--log-retention") !=
              std::string::npos);
    CHECK(error_of({"--inventory", "inv", "--retention-interval", "0"})
              .find("--retention-interval") != std::string::npos);
}

TEST_CASE("netkeepd: the snapshot options (issue 16)") {
    auto defaults = parse({"--inventory", "i"});
    REQUIRE(defaults.is_ok());
    CHECK(defaults->snapshots);
    CHECK(defaults->snapshot_every == 1'000'000);
    CHECK(defaults->snapshot_interval == std::chrono::seconds(600));
    CHECK(defaults->snapshot_keep_days == 400);
    auto c = parse({"--inventory", "i", "--snapshot-every", "0", "--snapshot-interval=0",
                    "--snapshot-keep-days", "7", "--no-snapshots"});
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    CHECK(!c->snapshots);
    CHECK(c->snapshot_every == 0);
    CHECK(c->snapshot_interval == std::chrono::seconds(0));
    CHECK(c->snapshot_keep_days == 7);
    for (const auto& [args, message] :
         std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--snapshot-every", "99"}, "--snapshot-every"},
             {{"--snapshot-every", "-1"}, "--snapshot-every"},
             {{"--snapshot-interval", "x"}, "--snapshot-interval"},
             {{"--snapshot-keep-days", "-2"}, "--snapshot-keep-days"},
         }) {
        std::vector<std::string> words{"--inventory", "i"};
        words.insert(words.end(), args.begin(), args.end());
        const std::string error = error_of(words);
        CHECK_MESSAGE(error.find(message) != std::string::npos, error);
    }
    for (auto option :
         {"--snapshot-every", "--snapshot-interval", "--snapshot-keep-days", "--no-snapshots"})
        CHECK(k_usage.find(option) != std::string::npos);
}
