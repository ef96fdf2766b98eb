#pragma once
// The bodies a notification is sent as: netkeep's own JSON (webhook, exec's stdin), the
// incoming-webhook formats of Slack, Mattermost and Microsoft Teams, and a plain-text
// mail. Pure: unit-tested byte for byte.
//
// None of them holds a secret: a notification carries names, commit ids, times and a
// diff that comes from git, which holds only redacted content (docs/jobs.md#redact).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "notify/config.hpp"
#include "notify/select.hpp"

namespace netkeep::notify {

// Cuts `diff` to at most `max` bytes, at the end of a line when one ends within the bound
// (else at a UTF-8 character boundary). True when something was cut.
bool truncate_diff(std::string& diff, std::uint64_t max);

// "2026-12-05T23:10:27Z"
std::string utc_time(unix_time t);

// The receiver's key for telling a repeat (at-least-once) from a new notification:
// "<target>:<seq>:<kind>", the same every time the notification is sent.
std::string delivery_id(std::string_view target, const Notification& n);

// {"event", "delivery", "target", "seq", "device", "job", "time", "time_unix", "worker",
//  "commit": {"old", "new"} | null, "path", "diff", "diff_truncated", "failures", "error",
//  "changed_by", "trigger", "summary"}
// (docs/notifications.md "Webhook payload").
std::string webhook_json(std::string_view target, const Notification& n);

// One line: "r1/show_run: configuration changed (1a2b3c4 -> 5d6e7f8)".
std::string summary_line(const Notification& n);

// Slack incoming webhook: {"text": summary, "blocks": [section, diff section]}; the diff is
// cut to fit Slack's 3,000 characters per text block.
std::string slack_json(const Notification& n);
// Mattermost incoming webhook: {"text": summary + a ```diff block}, cut to its 16,383.
std::string mattermost_json(const Notification& n);
// Microsoft Teams (a Workflows "post to a channel when a webhook request is received"
// flow, or a classic incoming webhook): a message with one Adaptive Card attachment.
std::string teams_json(const Notification& n);

// The whole RFC 5322 message (CRLF line ends, 8bit UTF-8 text/plain): headers, a summary,
// the details and the diff. Lines longer than SMTP allows are cut (and marked).
std::string email_message(const Target& target, const Notification& n, unix_time now);

// What the HMAC signature covers: "<timestamp>.<body>", so a captured request cannot be
// replayed later with a new timestamp (docs/notifications.md "Signatures").
std::string signed_content(std::string_view timestamp, std::string_view body);

}  // namespace netkeep::notify
