#pragma once
// notify.json: which events go to which notification targets (docs/notifications.md).
// It lives in the inventory dir, is optional (absent: no notifications) and is reloaded
// with the inventory; a bad one is refused like a bad inventory.
//
// Validation is strict and bounded like the inventory's: an unknown field is an error,
// every error names the file and the JSON pointer ("notify.json: /targets/2/url: ..."),
// and no error text or log line ever holds a secret's value (webhook URLs, tokens, SMTP
// passwords and HMAC keys are secrets: written literally, or {"env": "VAR"} /
// {"file": "path"} references resolved at load, as the inventory's credentials).
//
// Pure apart from reading the file and resolving secret references.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::notify {

inline constexpr std::string_view k_config_file = "notify.json";

// Bounds of what notify.json may hold.
inline constexpr std::size_t k_max_file_bytes = 1 << 20;
inline constexpr std::size_t k_max_targets = 64;
inline constexpr std::size_t k_max_rules = 256;
inline constexpr std::size_t k_max_filter_entries = 4096;  // per list of a rule
inline constexpr std::size_t k_max_recipients = 32;
inline constexpr std::size_t k_max_args = 64;
inline constexpr std::size_t k_max_headers = 16;
inline constexpr std::size_t k_max_url_bytes = 4096;
inline constexpr std::uint64_t k_max_diff_bytes_limit = 1 << 20;
inline constexpr std::uint64_t k_default_max_diff_bytes = 64 << 10;

enum class TargetType { webhook, slack, teams, mattermost, email, exec };
std::string_view target_type_name(TargetType type);

// How the SMTP relay is reached (email targets).
enum class SmtpTls { none, starttls_required, starttls_if_offered };

enum class EventKind { config_changed, backup_failed, recovered, quarantined };
std::string_view event_kind_name(EventKind kind);

struct Target {
    std::string name;  // [A-Za-z0-9._-]: the consumer "notify.<name>", a meta key, a label
    TargetType type = TargetType::webhook;
    // webhook, slack, teams, mattermost: where to POST (a secret: incoming-webhook URLs
    // embed their token). email: the relay, smtp://host:port or smtps://host:port.
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;  // webhook; values are secrets
    std::string hmac_key;  // webhook; empty: no signature headers
    std::string ca_file;   // HTTPS / SMTP TLS: a CA bundle instead of the system's
    // email
    SmtpTls tls = SmtpTls::starttls_required;
    std::string from;
    std::vector<std::string> to;
    std::string user;
    std::string password;
    // exec
    std::string program;  // absolute path
    std::vector<std::string> args;
    std::uint64_t max_output = 64 << 10;  // bytes of the program's output read, then dropped
    // every type
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
    std::uint64_t max_diff_bytes = k_default_max_diff_bytes;
};

struct Rule {
    std::vector<EventKind> events;
    std::vector<std::size_t> targets;  // indexes into NotifyConfig::targets
    // Filters: a task matches when every list given contains its device / job / group, or
    // (tags) one of its device's tags. An empty list does not filter.
    std::vector<std::string> devices;
    std::vector<std::string> jobs;
    std::vector<std::string> tags;
    std::vector<std::string> groups;
    // backup_failed: after this many failed attempts in a row (completions that report a
    // failure, leases that expire), once per run of failures.
    std::uint32_t after = 1;
};

struct NotifyConfig {
    std::vector<Target> targets;
    std::vector<Rule> rules;
    // Whether a rule filters by tags or groups (then the engine keeps the devices' ones).
    bool needs_device_info() const;
};

struct NotifyLoadOptions {
    // Resolve {"env"} / {"file"} secrets (relative files from secrets_dir). false: check
    // the structure only (unit tests).
    bool resolve_secrets = true;
    std::string secrets_dir;
};

// Parses the text of notify.json. Errors are InvalidArgument naming the file and the path.
Result<NotifyConfig> parse_notify_config(std::string_view text, const NotifyLoadOptions& options);

// DIR/notify.json, parsed with its secrets resolved from DIR; nullptr when absent.
Result<std::shared_ptr<const NotifyConfig>> load_notify_config(const std::string& dir);

}  // namespace netkeep::notify
