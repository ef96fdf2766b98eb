// Matching, debouncing and rate limiting of syslog messages (syslog/trigger.hpp).

#include "syslog/trigger.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <set>

#include "netkeep/platform.hpp"

namespace netkeep::syslog {

std::string clean_user(std::string_view user) {
    if (user.size() > k_max_user) user = user.substr(0, k_max_user);
    std::string out(user);
    for (char& c : out)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
            c == ',')
            c = '?';
    return out;
}

Result<PatternSet> PatternSet::compile(const std::vector<std::string>& patterns) {
    PatternSet set;
    for (const std::string& p : patterns) {
        auto re = Regex::compile(p);
        if (!re) return re.status();
        const int user = re->named_group("user");
        set.patterns_.push_back(entry{std::move(*re), user});
    }
    return set;
}

bool PatternSet::match(std::string_view text, std::string& user) const {
    text = text.substr(0, k_max_matched);
    for (const entry& e : patterns_) {
        std::array<std::string_view, 16> groups{};
        const std::size_t n = e.user_group >= 0 && e.user_group < int(groups.size())
                                  ? std::size_t(e.user_group) + 1
                                  : 1;
        if (!e.regex.search(text, 0, std::span(groups.data(), n))) continue;
        user.clear();
        if (e.user_group >= 1 && std::size_t(e.user_group) < n && groups[n - 1].data())
            user = clean_user(groups[n - 1]);
        return true;
    }
    return false;
}

std::optional<std::string> canonical_address(std::string_view text) {
    if (text.empty() || text.size() > 64) return std::nullopt;
    std::string s(text);
    if (s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    in_addr v4{};
    if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        std::array<char, INET_ADDRSTRLEN> buf{};
        ::inet_ntop(AF_INET, &v4, buf.data(), buf.size());
        return std::string(buf.data());
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        std::array<char, INET_ADDRSTRLEN> buf{};
        ::inet_ntop(AF_INET, &v6.s6_addr[12], buf.data(), buf.size());
        return std::string(buf.data());
    }
    std::array<char, INET6_ADDRSTRLEN> buf{};
    ::inet_ntop(AF_INET6, &v6, buf.data(), buf.size());
    return std::string(buf.data());
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

std::string_view first_label(std::string_view s) { return s.substr(0, s.find('.')); }

void add_unique(std::vector<std::uint32_t>& list, std::uint32_t device) {
    if (std::find(list.begin(), list.end(), device) == list.end()) list.push_back(device);
}

}  // namespace

Matcher Matcher::build(const Inventory& inventory) {
    Matcher m;
    m.device_count_ = inventory.devices.size();
    for (const PlatformSpec& p : inventory.platforms) {
        auto set = PatternSet::compile(p.syslog);
        if (set && !set->empty()) m.patterns_.emplace(p.name, std::move(*set));
    }
    // A device without a platform may be any: every built-in platform's patterns apply
    // to it, also those of platforms no device of the inventory names.
    for (const BuiltinPlatform& b : builtin_platforms()) {
        if (m.patterns_.count(b.name)) continue;
        auto spec = parse_platform_definition(b.name, b.json);
        if (!spec) continue;
        auto set = PatternSet::compile(spec->syslog);
        if (set && !set->empty()) m.patterns_.emplace(std::string(b.name), std::move(*set));
    }
    for (std::uint32_t d = 0; d < inventory.devices.size(); ++d) {
        const DeviceSpec& device = inventory.devices[d];
        m.device_platform_.push_back(device.platform);
        const std::string& host = device.host.empty() ? device.name : device.host;
        if (auto address = canonical_address(host)) add_unique(m.by_address_[*address], d);
        for (std::string_view name : {std::string_view(device.name), std::string_view(host)}) {
            if (canonical_address(name)) continue;
            add_unique(m.by_name_[lower(name)], d);
            add_unique(m.by_name_[lower(first_label(name))], d);
        }
    }
    return m;
}

std::optional<std::uint32_t> Matcher::sender(std::string_view address,
                                             std::string_view hostname) const {
    const std::vector<std::uint32_t>* at = nullptr;
    if (auto canonical = canonical_address(address)) {
        auto it = by_address_.find(*canonical);
        if (it != by_address_.end()) at = &it->second;
    }
    if (at && at->size() == 1) return at->front();
    if (hostname.empty() || hostname.size() > 255) return std::nullopt;
    const std::string key = lower(hostname);
    auto named = by_name_.find(key);
    if (named == by_name_.end()) named = by_name_.find(lower(first_label(hostname)));
    if (named == by_name_.end()) return std::nullopt;
    std::optional<std::uint32_t> found;
    for (std::uint32_t d : named->second) {
        if (at && std::find(at->begin(), at->end(), d) == at->end()) continue;
        if (found) return std::nullopt;  // ambiguous: not guessed
        found = d;
    }
    return found;
}

bool Matcher::is_device_address(std::string_view address) const {
    auto canonical = canonical_address(address);
    return canonical && by_address_.count(*canonical) != 0;
}

Matcher::Result Matcher::classify(std::string_view address, const Message& message) const {
    Result r;
    auto device = sender(address, message.hostname);
    if (!device) {
        r.outcome = Outcome::unknown_sender;
        return r;
    }
    r.device = *device;
    const std::string& platform = device_platform_[*device];
    if (!platform.empty()) {
        auto it = patterns_.find(platform);
        if (it != patterns_.end() && it->second.match(message.text, r.user))
            r.outcome = Outcome::change;
        return r;
    }
    for (const auto& [name, set] : patterns_)
        if (set.match(message.text, r.user)) {
            r.outcome = Outcome::change;
            break;
        }
    return r;
}

void Debouncer::note(const std::string& device, std::string_view user, std::string_view source,
                     steady_ms now) {
    auto [it, opened] = pending_.try_emplace(device);
    if (opened) {
        it->second.ends = now + window_;
        it->second.source = std::string(source);
    }
    auto& users = it->second.users;
    if (!user.empty() && users.size() < k_max_users &&
        std::find(users.begin(), users.end(), user) == users.end())
        users.emplace_back(user);
}

std::vector<Debouncer::Due> Debouncer::take_due(steady_ms now) {
    std::vector<std::pair<steady_ms, Due>> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.ends > now) {
            ++it;
            continue;
        }
        std::string users;
        for (const std::string& u : it->second.users) users += (users.empty() ? "" : ", ") + u;
        due.emplace_back(it->second.ends,
                         Due{it->first, std::move(users), std::move(it->second.source)});
        it = pending_.erase(it);
    }
    std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second.device < b.second.device;
    });
    std::vector<Due> out;
    out.reserve(due.size());
    for (auto& [ends, d] : due) out.push_back(std::move(d));
    return out;
}

std::optional<steady_ms> Debouncer::next_due() const {
    std::optional<steady_ms> next;
    for (const auto& [device, w] : pending_)
        if (!next || w.ends < *next) next = w.ends;
    return next;
}

void RateLimiter::forget_idle(steady_ms now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        const double refill = double(now - it->second.at) / 1000.0 * rate_;
        if (it->second.tokens + refill >= burst_)
            it = buckets_.erase(it);
        else
            ++it;
    }
}

bool RateLimiter::allow(const std::string& sender, steady_ms now, bool device) {
    auto it = buckets_.find(sender);
    if (it == buckets_.end()) {
        // A sweep costs the whole table: at most one per 100 ms, however many new
        // (perhaps spoofed) senders knock meanwhile.
        if (buckets_.size() >= k_max_senders && now - swept_at_ >= 100) {
            forget_idle(now);
            swept_at_ = now;
        }
        if (buckets_.size() >= k_max_senders && !device) return false;
        it = buckets_.emplace(sender, bucket{burst_, now}).first;
    }
    bucket& b = it->second;
    if (now > b.at) {
        b.tokens = std::min(burst_, b.tokens + double(now - b.at) / 1000.0 * rate_);
        b.at = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
}

}  // namespace netkeep::syslog
