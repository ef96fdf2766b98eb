#include "api/session.hpp"

#include <algorithm>

#include <openssl/crypto.h>

namespace netkeep::api {

namespace {

std::string key_of(std::string_view id) {
    const auto hash = token_sha256(id);
    return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

}  // namespace

bool SessionStore::expired(const Session& s, unix_time now) const {
    return now - s.last_used >= limits_.idle || now - s.created >= limits_.lifetime;
}

void SessionStore::make_room(unix_time now) {
    if (sessions_.size() < limits_.max_sessions) return;
    std::erase_if(sessions_, [&](const auto& entry) { return expired(entry.second, now); });
    while (!sessions_.empty() && sessions_.size() >= limits_.max_sessions) {
        auto oldest = std::min_element(
            sessions_.begin(), sessions_.end(),
            [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
        sessions_.erase(oldest);
    }
}

Result<SessionStore::Issued> SessionStore::create(const TokenEntry& token, unix_time now) {
    auto id = random_secret("nks_");
    if (!id) return id.status();
    auto csrf = random_secret("nkc_");
    if (!csrf) return csrf.status();
    make_room(now);
    sessions_[key_of(*id)] = Session{token.name, token.sha256, *csrf, now, now};
    return Issued{std::move(*id), std::move(*csrf)};
}

Session* SessionStore::find(std::string_view id, unix_time now) {
    auto it = sessions_.find(key_of(id));
    if (it == sessions_.end()) return nullptr;
    if (expired(it->second, now)) {
        sessions_.erase(it);
        return nullptr;
    }
    it->second.last_used = now;
    return &it->second;
}

void SessionStore::remove(std::string_view id) { sessions_.erase(key_of(id)); }

bool csrf_matches(const Session& session, std::string_view presented) {
    return presented.size() == session.csrf.size() &&
           CRYPTO_memcmp(presented.data(), session.csrf.data(), presented.size()) == 0;
}

}  // namespace netkeep::api
