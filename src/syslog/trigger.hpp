#pragma once
// The pure half of syslog-triggered backups (docs/syslog.md): which device a message is
// from and whether it says the configuration changed (Matcher), collapsing a burst of
// such messages into one run (Debouncer), and a per-sender message budget (RateLimiter).
// No sockets, no clock: times are passed in (milliseconds of a steady clock), so the unit
// tests drive them. The listener (syslog/listener.hpp) owns one of each on the io thread.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/inventory.hpp"
#include "netkeep/regex.hpp"
#include "netkeep/status.hpp"
#include "syslog/message.hpp"

namespace netkeep::syslog {

using steady_ms = std::int64_t;

// At most this many bytes of a user name are kept; other bytes than printable ASCII
// (and ',', which separates names in a commit) become '?'.
inline constexpr std::size_t k_max_user = 64;
// The patterns see at most this many bytes of a message's text, as much as a datagram
// holds: a 64 KiB TCP frame searched by every platform's patterns costs the io thread
// close to a millisecond, and a config-change line is far shorter.
inline constexpr std::size_t k_max_matched = k_max_datagram;
std::string clean_user(std::string_view user);

// One platform's compiled "syslog" patterns.
class PatternSet {
public:
    // Errors: a pattern that does not compile (the loader has checked them already).
    static Result<PatternSet> compile(const std::vector<std::string>& patterns);
    // Whether the first k_max_matched bytes of `text` match one of the patterns; `user`
    // gets the cleaned text of its `user` group (empty when it has none, or it did not
    // take part).
    bool match(std::string_view text, std::string& user) const;
    bool empty() const { return patterns_.empty(); }

private:
    struct entry {
        Regex regex;
        int user_group;  // -1: none
    };
    std::vector<entry> patterns_;
};

// Which device sent a message. Built from an inventory (structural is enough: names,
// hosts, platforms and their patterns); immutable afterwards.
class Matcher {
public:
    static Matcher build(const Inventory& inventory);

    enum class Outcome { change, other, unknown_sender };
    struct Result {
        Outcome outcome = Outcome::other;
        std::uint32_t device = 0;  // into the inventory's devices (change, other)
        std::string user;          // change: who, cleaned; may be empty
    };
    // The sender is the device whose host is `address` (a numeric address, as the socket
    // reports it) when exactly one device has it; else the device whose name or host, or
    // their first label, equals the message's hostname (ASCII case-insensitive) and, when
    // devices share the address, is one of them. A device's own platform's patterns are
    // tried; a device without a platform tries every platform's.
    Result classify(std::string_view address, const Message& message) const;
    // Whether `address` (numeric) is the host of a device: the rate limiter keeps room
    // for those whatever a flood of other senders does.
    bool is_device_address(std::string_view address) const;

    std::size_t device_count() const { return device_count_; }

private:
    std::optional<std::uint32_t> sender(std::string_view address, std::string_view hostname) const;

    std::size_t device_count_ = 0;
    std::vector<std::string> device_platform_;  // per device
    std::unordered_map<std::string, std::vector<std::uint32_t>> by_address_;
    std::unordered_map<std::string, std::vector<std::uint32_t>> by_name_;  // lower case
    std::map<std::string, PatternSet, std::less<>> patterns_;              // by platform
};

// The canonical text of a numeric IPv4 or IPv6 address ("::ffff:10.0.0.1" is
// "10.0.0.1"), or nullopt when `text` is not one.
std::optional<std::string> canonical_address(std::string_view text);

// Several config-change messages of a device within `window` of its first one cause one
// run, when that window ends; the users they name are collected (each once, at most
// k_max_users). A message after the window opens another.
class Debouncer {
public:
    static constexpr std::size_t k_max_users = 8;
    explicit Debouncer(steady_ms window) : window_(window) {}

    // `source`: the sender's address, kept from the window's first message.
    void note(const std::string& device, std::string_view user, std::string_view source,
              steady_ms now);
    struct Due {
        std::string device;
        std::string users;  // ", "-separated; may be empty
        std::string source;
    };
    // The windows ended at or before now, oldest first; they are forgotten.
    std::vector<Due> take_due(steady_ms now);
    std::optional<steady_ms> next_due() const;
    std::size_t pending() const { return pending_.size(); }

private:
    struct window {
        steady_ms ends = 0;
        std::vector<std::string> users;
        std::string source;
    };
    steady_ms window_;
    std::unordered_map<std::string, window> pending_;  // at most one per device
};

// A token bucket per sender address: `rate` messages a second, bursts of `burst`. Tracks
// at most k_max_senders addresses; when full, idle ones (bucket full again) are
// forgotten, and a new sender finds no room until then (its messages are refused: a
// flood of spoofed UDP sources that keeps the table full of busy senders shuts out new
// senders while it lasts). A `device` sender (a device's own address, so at most one
// per device) always finds room: a device is idle between its changes, so its bucket is
// forgotten in a flood like any, and must not then be shut out with the strangers.
class RateLimiter {
public:
    static constexpr std::size_t k_max_senders = 4096;
    RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
    bool allow(const std::string& sender, steady_ms now, bool device = false);
    std::size_t tracked() const { return buckets_.size(); }

private:
    struct bucket {
        double tokens = 0;
        steady_ms at = 0;
    };
    void forget_idle(steady_ms now);
    double rate_;
    double burst_;
    std::unordered_map<std::string, bucket> buckets_;
    steady_ms swept_at_ = std::numeric_limits<steady_ms>::min() / 2;
};

}  // namespace netkeep::syslog
