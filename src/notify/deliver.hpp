#pragma once
// Sending one notification to one target, once: the formats of payload.hpp over the
// libcurl wrapper (include/netkeep/http_client.hpp) or an exec target's program.
// Blocking (bounded by the target's timeout); called on the target's own thread.

#include <atomic>
#include <functional>
#include <string>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"
#include "notify/config.hpp"
#include "notify/select.hpp"

namespace netkeep::notify {

struct DeliveryResult {
    Status status;  // ok: the target took it. Never holds a URL, header, body or secret.
    // The target refused it for good (an HTTP 4xx other than 408/429): retrying the same
    // body cannot help, so it is dropped after a few attempts (docs/notifications.md).
    bool permanent = false;
};

// The request headers of a webhook body: Content-Type, X-Netkeep-Delivery, the target's
// own headers and, with an HMAC key, X-Netkeep-Timestamp and
// X-Netkeep-Signature: sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>.
std::vector<std::pair<std::string, std::string>> webhook_headers(const Target& target,
                                                                 const Notification& n,
                                                                 const std::string& body,
                                                                 unix_time now);

// `cancel` (may be null): once it is true the delivery ends soon (an HTTP or SMTP
// transfer within about a second, a program is killed), failed: a stop does not wait out a
// target's timeout (up to 300 s).
DeliveryResult deliver(const Target& target, const Notification& n, unix_time now,
                       const std::atomic<bool>* cancel = nullptr);

// How a delivery is made; netkeepd uses deliver(), tests stand in their own.
using Deliver = std::function<DeliveryResult(const Target&, const Notification&, unix_time,
                                             const std::atomic<bool>* cancel)>;

}  // namespace netkeep::notify
