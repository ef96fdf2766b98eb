#include "notify/deliver.hpp"

#include <fmt/format.h>

#include "netkeep/http_client.hpp"
#include "notify/exec.hpp"
#include "notify/payload.hpp"

namespace netkeep::notify {

namespace {

DeliveryResult http_post(const Target& target, std::string body, HttpHeaders headers,
                         const std::atomic<bool>* cancel) {
    HttpRequest request;
    request.method = "POST";
    request.url = target.url;
    request.headers = std::move(headers);
    request.body = std::move(body);
    request.timeout = target.timeout;
    request.connect_timeout = std::min(target.timeout, request.connect_timeout);
    request.max_response = 64 << 10;  // an answer is read only for its status
    request.ca_file = target.ca_file;
    request.cancel = cancel;
    auto response = http_request(request);
    if (!response) {
        // An answer larger than we read is still an answer: the status counts.
        return {response.status(), false};
    }
    const long code = response->status;
    if (code >= 200 && code < 300) return {Status::ok(), false};
    // The body of an error answer is not logged: a receiver may echo the request.
    Status failed = Status::unavailable(fmt::format("HTTP {}", code));
    const bool permanent = code >= 400 && code < 500 && code != 408 && code != 429;
    return {failed, permanent};
}

DeliveryResult send_email(const Target& target, const Notification& n, unix_time now,
                          const std::atomic<bool>* cancel) {
    MailRequest mail;
    mail.url = target.url;
    mail.from = target.from;
    mail.to = target.to;
    mail.message = email_message(target, n, now);
    mail.user = target.user;
    mail.password = target.password;
    mail.tls = target.tls == SmtpTls::none                  ? MailRequest::Tls::none
               : target.tls == SmtpTls::starttls_if_offered ? MailRequest::Tls::starttls_if_offered
                                                            : MailRequest::Tls::starttls_required;
    mail.timeout = target.timeout;
    mail.connect_timeout = std::min(target.timeout, mail.connect_timeout);
    mail.ca_file = target.ca_file;
    mail.cancel = cancel;
    return {send_mail(mail), false};
}

DeliveryResult run_program(const Target& target, const Notification& n,
                           const std::atomic<bool>* cancel) {
    ExecRequest request;
    request.argv.push_back(target.program);
    request.argv.insert(request.argv.end(), target.args.begin(), target.args.end());
    // Not netkeepd's environment: it may hold {"env": ...} device passwords.
    request.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                   "NETKEEP_EVENT=" + std::string(event_kind_name(n.kind)),
                   "NETKEEP_DELIVERY=" + delivery_id(target.name, n)};
    request.input = webhook_json(target.name, n) + "\n";
    request.timeout = target.timeout;
    request.max_output = target.max_output;
    request.cancel = cancel;
    auto result = run_exec(request);
    if (!result)
        return {
            Status::unavailable(fmt::format("{}: {}", target.program, result.status().message())),
            false};
    return {Status::ok(), false};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> webhook_headers(const Target& target,
                                                                 const Notification& n,
                                                                 const std::string& body,
                                                                 unix_time now) {
    HttpHeaders headers{{"Content-Type", "application/json"},
                        {"X-Netkeep-Delivery", delivery_id(target.name, n)},
                        {"X-Netkeep-Event", std::string(event_kind_name(n.kind))}};
    for (const auto& h : target.headers) headers.push_back(h);
    if (!target.hmac_key.empty()) {
        const std::string timestamp = std::to_string(now);
        headers.emplace_back("X-Netkeep-Timestamp", timestamp);
        headers.emplace_back(
            "X-Netkeep-Signature",
            "sha256=" + hmac_sha256_hex(target.hmac_key, signed_content(timestamp, body)));
    }
    return headers;
}

DeliveryResult deliver(const Target& target, const Notification& n, unix_time now,
                       const std::atomic<bool>* cancel) {
    switch (target.type) {
        case TargetType::webhook: {
            std::string body = webhook_json(target.name, n);
            auto headers = webhook_headers(target, n, body, now);
            return http_post(target, std::move(body), std::move(headers), cancel);
        }
        case TargetType::slack:
            return http_post(target, slack_json(n), {{"Content-Type", "application/json"}}, cancel);
        case TargetType::mattermost:
            return http_post(target, mattermost_json(n), {{"Content-Type", "application/json"}},
                             cancel);
        case TargetType::teams:
            return http_post(target, teams_json(n), {{"Content-Type", "application/json"}}, cancel);
        case TargetType::email:
            return send_email(target, n, now, cancel);
        case TargetType::exec:
            return run_program(target, n, cancel);
    }
    return {Status::invalid_argument("unknown target type"), true};
}

}  // namespace netkeep::notify
