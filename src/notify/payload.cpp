#include "notify/payload.hpp"

#include <ctime>

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::notify {

namespace {

// Slack: a section's text holds at most 3,000 characters; Mattermost: a post 16,383.
constexpr std::size_t k_slack_block = 2900;
constexpr std::size_t k_mattermost_post = 16000;
constexpr std::size_t k_teams_text = 20000;
// RFC 5321: 1,000 bytes per line with its CRLF.
constexpr std::size_t k_mail_line = 990;

std::string short_id(std::string_view commit) {
    return commit.empty() ? std::string("(none)") : std::string(commit.substr(0, 12));
}

// A cut that never splits a UTF-8 sequence (continuation bytes are 10xxxxxx).
std::size_t utf8_cut(std::string_view s, std::size_t max) {
    if (s.size() <= max) return s.size();
    std::size_t at = max;
    while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
    return at;
}

std::string headline(const Notification& n) {
    switch (n.kind) {
        case EventKind::config_changed:
            return fmt::format("configuration changed ({} -> {}){}", short_id(n.old_commit),
                               short_id(n.new_commit),
                               n.changed_by.empty() ? "" : ", configured by " + n.changed_by);
        case EventKind::backup_failed:
            return fmt::format("backup failed {} time{} in a row", n.failures,
                               n.failures == 1 ? "" : "s");
        case EventKind::recovered:
            return fmt::format("backup works again after {} failed attempt{}", n.failures,
                               n.failures == 1 ? "" : "s");
        case EventKind::quarantined:
            return "quarantined by the git writer: not in git until an operator retries it";
    }
    return "";
}

// The diff as chat text: cut to `max` bytes, saying so.
std::string chat_diff(const Notification& n, std::size_t max) {
    std::string diff = n.diff;
    bool cut = truncate_diff(diff, max);
    if (cut || n.diff_truncated) diff += "\n... (diff truncated)";
    return diff;
}

std::string details_text(const Notification& n) {
    std::string out =
        fmt::format("device: {}\njob: {}\ntime: {}\n", n.device, n.job, utc_time(n.time));
    if (!n.worker.empty()) out += fmt::format("worker: {}\n", n.worker);
    if (n.kind == EventKind::config_changed)
        out += fmt::format("commit: {} (before: {})\n", n.new_commit,
                           n.old_commit.empty() ? "none" : n.old_commit);
    if (!n.changed_by.empty())
        out += fmt::format("configured by: {} ({})\n", n.changed_by, n.trigger);
    if (!n.error.empty()) out += fmt::format("error: {}\n", n.error);
    out += fmt::format("seq: {}\n", n.seq);
    return out;
}

}  // namespace

bool truncate_diff(std::string& diff, std::uint64_t max) {
    if (diff.size() <= max) return false;
    std::size_t at = utf8_cut(diff, std::size_t(max));
    const std::size_t line_end = diff.rfind('\n', at == 0 ? 0 : at - 1);
    if (line_end != std::string::npos && line_end < at) at = line_end + 1;
    diff.resize(at);
    return true;
}

std::string utc_time(unix_time t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string delivery_id(std::string_view target, const Notification& n) {
    return fmt::format("{}:{}:{}", target, n.seq, event_kind_name(n.kind));
}

std::string webhook_json(std::string_view target, const Notification& n) {
    std::string commit = "null";
    if (n.kind == EventKind::config_changed)
        commit = fmt::format(R"({{"old":{},"new":{}}})",
                             n.old_commit.empty() ? "null" : json_quote(n.old_commit),
                             json_quote(n.new_commit));
    return fmt::format(
        R"({{"event":{},"delivery":{},"target":{},"seq":{},"device":{},"job":{},"time":{},)"
        R"("time_unix":{},"worker":{},"commit":{},"path":{},"diff":{},"diff_truncated":{},)"
        R"("failures":{},"error":{},"changed_by":{},"trigger":{},"summary":{}}})",
        json_quote(event_kind_name(n.kind)), json_quote(delivery_id(target, n)), json_quote(target),
        n.seq, json_quote(n.device), json_quote(n.job), json_quote(utc_time(n.time)), n.time,
        json_quote(n.worker), commit, json_quote(n.path),
        n.kind == EventKind::config_changed ? json_quote(n.diff) : std::string("null"),
        n.diff_truncated ? "true" : "false", n.failures,
        n.error.empty() ? std::string("null") : json_quote(n.error),
        n.changed_by.empty() ? std::string("null") : json_quote(n.changed_by),
        n.trigger.empty() ? std::string("null") : json_quote(n.trigger),
        json_quote(summary_line(n)));
}

std::string summary_line(const Notification& n) {
    return fmt::format("{}/{}: {}", n.device, n.job, headline(n));
}

std::string slack_json(const Notification& n) {
    std::string blocks =
        fmt::format(R"([{{"type":"section","text":{{"type":"mrkdwn","text":{}}}}})",
                    json_quote(fmt::format("*{}*\n{}", summary_line(n), details_text(n))));
    if (n.kind == EventKind::config_changed && !n.diff.empty())
        blocks += fmt::format(R"(,{{"type":"section","text":{{"type":"mrkdwn","text":{}}}}})",
                              json_quote("```" + chat_diff(n, k_slack_block) + "```"));
    return fmt::format(R"({{"text":{},"blocks":{}]}})", json_quote(summary_line(n)), blocks);
}

std::string mattermost_json(const Notification& n) {
    std::string text = fmt::format("**{}**\n{}", summary_line(n), details_text(n));
    if (n.kind == EventKind::config_changed && !n.diff.empty())
        text += "```diff\n" + chat_diff(n, k_mattermost_post - text.size() - 32) + "\n```";
    return fmt::format(R"({{"text":{}}})", json_quote(text));
}

std::string teams_json(const Notification& n) {
    std::string body = fmt::format(
        R"([{{"type":"TextBlock","size":"Medium","weight":"Bolder","wrap":true,"text":{}}},)"
        R"({{"type":"TextBlock","wrap":true,"text":{}}})",
        json_quote(summary_line(n)), json_quote(details_text(n)));
    if (n.kind == EventKind::config_changed && !n.diff.empty())
        body += fmt::format(R"(,{{"type":"CodeBlock","language":"PlainText","codeSnippet":{}}})",
                            json_quote(chat_diff(n, k_teams_text)));
    return fmt::format(
        R"({{"type":"message","attachments":[{{"contentType":"application/vnd.microsoft.card.adaptive",)"
        R"("contentUrl":null,"content":{{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",)"
        R"("type":"AdaptiveCard","version":"1.5","msteams":{{"width":"Full"}},"body":{}]}}}}]}})",
        body);
}

std::string email_message(const Target& target, const Notification& n, unix_time now) {
    std::string to;
    for (const std::string& r : target.to) to += (to.empty() ? "" : ", ") + r;
    char date[64];
    std::time_t tt = static_cast<std::time_t>(now);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    std::string text = details_text(n);
    if (n.kind == EventKind::config_changed) {
        text += "\n" + (n.diff.empty() ? std::string("(no textual difference)\n") : n.diff);
        if (n.diff_truncated) text += "\n... (diff truncated)\n";
    }
    std::string out = fmt::format(
        "From: {}\r\nTo: {}\r\nSubject: [netkeep] {}\r\nDate: {}\r\nMessage-ID: <{}.{}@netkeep>\r\n"
        "X-Netkeep-Delivery: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n{}\r\n\r\n",
        target.from, to, summary_line(n), date, n.seq, event_kind_name(n.kind),
        delivery_id(target.name, n), summary_line(n));
    std::string_view rest = text;
    while (!rest.empty()) {
        std::size_t end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > k_mail_line) {
            out.append(line.substr(0, utf8_cut(line, k_mail_line)));
            out += " [cut]\r\n";
        } else {
            out.append(line);
            out += "\r\n";
        }
    }
    return out;
}

std::string signed_content(std::string_view timestamp, std::string_view body) {
    std::string out;
    out.reserve(timestamp.size() + 1 + body.size());
    out.append(timestamp);
    out += '.';
    out.append(body);
    return out;
}

}  // namespace netkeep::notify
