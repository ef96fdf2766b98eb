// notify.json: what parses, and that every refusal names the file and the JSON path but
// never a secret's value.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "notify/config.hpp"
#include "support/temp_dir.hpp"

using namespace netkeep::notify;

namespace {

const NotifyLoadOptions k_structural{.resolve_secrets = false, .secrets_dir = {}};

std::string error_of(const std::string& text, const NotifyLoadOptions& options = k_structural) {
    auto config = parse_notify_config(text, options);
    REQUIRE_FALSE(config.is_ok());
    return config.status().message();
}

}  // namespace

TEST_CASE("every target type and a rule parse") {
    auto config = parse_notify_config(R"({
      "targets": [
        {"name": "hook", "type": "webhook", "url": "https://example.com/h",
         "hmac_key": {"file": "k"}, "headers": {"Authorization": {"env": "TOKEN"}},
         "timeout": 5, "max_diff_bytes": 100},
        {"name": "s", "type": "slack", "url": {"file": "slack.url"}},
        {"name": "t", "type": "teams", "url": "https://teams.example/x"},
        {"name": "m", "type": "mattermost", "url": "http://mm.local/hooks/x"},
        {"name": "mail", "type": "email", "url": "smtp://relay:25", "tls": "starttls_if_offered",
         "from": "nk@example.com", "to": ["a@example.com", "b@example.com"],
         "user": "u", "password": {"file": "p"}},
        {"name": "x", "type": "exec", "program": "/usr/bin/logger", "args": ["-t", "nk"],
         "max_output": 10}
      ],
      "rules": [{"events": ["config_changed", "backup_failed"], "targets": ["hook", "mail"],
                 "devices": ["r2", "r1"], "tags": ["core"], "after": 3}]
    })",
                                      k_structural);
    REQUIRE_MESSAGE(config.is_ok(), config.status().message());
    REQUIRE(config->targets.size() == 6);
    CHECK(config->targets[0].timeout == std::chrono::seconds(5));
    CHECK(config->targets[0].max_diff_bytes == 100);
    CHECK(config->targets[0].headers.size() == 1);
    CHECK(config->targets[4].tls == SmtpTls::starttls_if_offered);
    CHECK(config->targets[4].to.size() == 2);
    CHECK(config->targets[5].args == std::vector<std::string>{"-t", "nk"});
    REQUIRE(config->rules.size() == 1);
    CHECK(config->rules[0].targets == std::vector<std::size_t>{0, 4});
    CHECK(config->rules[0].devices == std::vector<std::string>{"r1", "r2"});  // sorted
    CHECK(config->rules[0].after == 3);
    CHECK(config->needs_device_info());
}

TEST_CASE("refusals name notify.json and the JSON path") {
    CHECK(error_of("{").starts_with("notify.json: not valid JSON"));
    CHECK(error_of(R"({"target": []})") == "notify.json: /target: unknown field 'target'");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "pager", "url": "https://x"}]})") ==
          "notify.json: /targets/0/type: 'pager' is not a target type (webhook, slack, teams, "
          "mattermost, email, exec)");
    CHECK(error_of(R"({"targets": [{"name": "a/b", "type": "slack", "url": "https://x"}]})")
              .starts_with("notify.json: /targets/0/name: may only use"));
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "slack", "url": "https://x"},
                                   {"name": "a", "type": "slack", "url": "https://y"}]})") ==
          "notify.json: /targets/1/name: 'a' is given twice");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "slack", "url": "https://x",
                                    "program": "/bin/true"}]})") ==
          "notify.json: /targets/0/program: is not a field of a slack target");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "exec", "program": "logger"}]})") ==
          "notify.json: /targets/0/program: must be an absolute path (no PATH search)");
    CHECK(error_of(
              R"({"targets": [], "rules": [{"events": ["config_changed"], "targets": ["b"]}]})") ==
          "notify.json: /rules/0/targets/0: no target is named 'b'");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "slack", "url": "https://x"}],
                       "rules": [{"events": ["changed"], "targets": ["a"]}]})")
              .starts_with("notify.json: /rules/0/events/0: 'changed' is not an event"));
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "slack", "url": "https://x"}],
                       "rules": [{"events": ["backup_failed"], "targets": ["a"], "after": 0}]})") ==
          "notify.json: /rules/0/after: 0 is outside 1..1000");
    CHECK(
        error_of(
            R"({"targets": [{"name": "a", "type": "email", "url": "smtp://r", "to": ["x@y"]}]})") ==
        "notify.json: /targets/0: 'from' is required");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "email", "url": "smtp://r",
                                    "from": "a@b", "to": ["x@y\r\nBcc: evil@z"]}]})") ==
          "notify.json: /targets/0/to/0: must be a mail address");
}

TEST_CASE("a bad URL is refused without echoing it: it may embed a token") {
    const std::string secret = "SECRET-TOKEN-in-url";
    auto message = error_of(fmt::format(
        R"({{"targets": [{{"name": "a", "type": "slack", "url": "ftp://hooks/{}"}}]}})", secret));
    CHECK(message == "notify.json: /targets/0/url: must start with https:// or http://");
    CHECK(message.find(secret) == std::string::npos);
}

TEST_CASE("bounds: targets, rules, file size") {
    std::string targets;
    for (std::size_t i = 0; i <= k_max_targets; ++i)
        targets += fmt::format(R"({}{{"name": "t{}", "type": "slack", "url": "https://x"}})",
                               i ? "," : "", i);
    CHECK(error_of(R"({"targets": [)" + targets + "]}") ==
          "notify.json: /targets: more than 64 targets");
    std::string rules;
    for (std::size_t i = 0; i <= k_max_rules; ++i)
        rules += fmt::format(R"({}{{"events": ["recovered"], "targets": ["a"]}})", i ? "," : "");
    CHECK(
        error_of(R"({"targets": [{"name": "a", "type": "slack", "url": "https://x"}], "rules": [)" +
                 rules + "]}") == "notify.json: /rules: more than 256 rules");
    CHECK(error_of(std::string(k_max_file_bytes + 1, ' ')).find("larger than") !=
          std::string::npos);
}

TEST_CASE("secrets come from files and the environment, and errors never show them") {
    auto dir = netkeep::testing::TempDir::create("notify-config").value();
    std::ofstream(dir / "hmac.key") << "HMAC-SECRET-value\n";
    ::setenv("NK_NOTIFY_TEST_URL", "https://hooks.example/SECRET-from-env", 1);
    const NotifyLoadOptions resolve{.resolve_secrets = true, .secrets_dir = dir.path().string()};
    auto config = parse_notify_config(R"({"targets": [
        {"name": "a", "type": "webhook", "url": {"env": "NK_NOTIFY_TEST_URL"},
         "hmac_key": {"file": "hmac.key"}}]})",
                                      resolve);
    REQUIRE_MESSAGE(config.is_ok(), config.status().message());
    CHECK(config->targets[0].url == "https://hooks.example/SECRET-from-env");
    CHECK(config->targets[0].hmac_key == "HMAC-SECRET-value");  // its newline dropped

    CHECK(error_of(
              R"({"targets": [{"name": "a", "type": "slack", "url": {"env": "NK_UNSET_VAR_X"}}]})",
              resolve) ==
          "notify.json: /targets/0/url: environment variable NK_UNSET_VAR_X is not set");
    CHECK(error_of(R"({"targets": [{"name": "a", "type": "slack", "url": {"file": "missing"}}]})",
                   resolve)
              .starts_with("notify.json: /targets/0/url: cannot read secret file "));
    // A secret that is not a URL: the message says what is wrong, not what it holds.
    ::setenv("NK_NOTIFY_TEST_BAD", "SECRET-not-a-url", 1);
    auto message = error_of(
        R"({"targets": [{"name": "a", "type": "slack", "url": {"env": "NK_NOTIFY_TEST_BAD"}}]})",
        resolve);
    CHECK(message.find("SECRET") == std::string::npos);
}

TEST_CASE("load_notify_config: absent is no notifications") {
    auto dir = netkeep::testing::TempDir::create("notify-config").value();
    auto none = load_notify_config(dir.path().string());
    REQUIRE(none.is_ok());
    CHECK(*none == nullptr);
    std::ofstream(dir / "notify.json") << R"({"targets": []})";
    auto empty = load_notify_config(dir.path().string());
    REQUIRE(empty.is_ok());
    REQUIRE(*empty != nullptr);
    CHECK((*empty)->targets.empty());
}
