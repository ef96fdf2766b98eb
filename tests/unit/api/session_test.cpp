#include "api/session.hpp"
#include "api/session_api.hpp"

#include <doctest/doctest.h>

using namespace netkeep;
using namespace netkeep::api;

namespace {

TokenEntry token(const std::string& name) {
    TokenEntry t;
    t.name = name;
    t.role = Role::admin;
    t.sha256 = token_sha256("nk_" + name);
    return t;
}

}  // namespace

TEST_CASE("a session is found by its id, keeps only hashes and has its own CSRF token") {
    SessionStore store;
    auto a = store.create(token("ops"), 1000);
    auto b = store.create(token("ops"), 1000);
    REQUIRE(a.is_ok());
    REQUIRE(b.is_ok());
    CHECK(a->id.starts_with("nks_"));
    CHECK(a->id.size() == 4 + 64);
    CHECK(a->id != b->id);
    CHECK(a->csrf != b->csrf);
    const Session* s = store.find(a->id, 1001);
    REQUIRE(s);
    CHECK(s->token_name == "ops");
    CHECK(s->token_sha256 == token_sha256("nk_ops"));
    CHECK(csrf_matches(*s, a->csrf));
    CHECK_FALSE(csrf_matches(*s, b->csrf));
    CHECK_FALSE(csrf_matches(*s, ""));
    CHECK_FALSE(csrf_matches(*s, a->csrf.substr(1)));
    CHECK(store.find("nks_forged", 1001) == nullptr);
    CHECK(store.find("", 1001) == nullptr);
    store.remove(a->id);
    CHECK(store.find(a->id, 1002) == nullptr);
    CHECK(store.find(b->id, 1002) != nullptr);
}

TEST_CASE("sessions end when idle too long and at their lifetime, however busy") {
    SessionStore store({.idle = 100, .lifetime = 1000, .max_sessions = 10});
    auto a = store.create(token("ops"), 0);
    REQUIRE(a.is_ok());
    for (unix_time t = 50; t < 1000; t += 50) REQUIRE_MESSAGE(store.find(a->id, t), t);
    CHECK(store.find(a->id, 1000) == nullptr);  // lifetime
    CHECK(store.size() == 0);
    auto b = store.create(token("ops"), 0);
    REQUIRE(b.is_ok());
    CHECK(store.find(b->id, 99) != nullptr);
    CHECK(store.find(b->id, 199) == nullptr);  // idle since 99
}

TEST_CASE("a full store drops expired sessions first, then the least recently used") {
    SessionStore store({.idle = 100, .lifetime = 10'000, .max_sessions = 3});
    auto stale = store.create(token("a"), 0);
    auto old = store.create(token("b"), 150);
    auto used = store.create(token("c"), 160);
    REQUIRE(store.find(old->id, 200));
    // Full: the expired one goes, the others stay.
    auto d = store.create(token("d"), 210);
    CHECK(store.size() == 3);
    CHECK(store.find(stale->id, 210) == nullptr);
    REQUIRE(store.find(used->id, 220));
    // Full again, none expired: the least recently used ("b", used at 200) goes.
    auto e = store.create(token("e"), 230);
    CHECK(store.size() == 3);
    CHECK(store.find(old->id, 230) == nullptr);
    CHECK(store.find(used->id, 230) != nullptr);
    CHECK(store.find(d->id, 230) != nullptr);
    CHECK(store.find(e->id, 230) != nullptr);
}

TEST_CASE("login_token reads JSON or a form, and nothing else") {
    CHECK(login_token("application/json", R"({"token": "nk_1"})") == "nk_1");
    CHECK(login_token("application/json; charset=utf-8", R"({"x": 1, "token": "nk_2"})") == "nk_2");
    CHECK(login_token("application/x-www-form-urlencoded", "a=b&token=nk_%33") == "nk_3");
    CHECK(login_token("", "token=nk_4") == "nk_4");
    CHECK_FALSE(login_token("application/json", R"({"token": 5})").has_value());
    CHECK_FALSE(login_token("application/json", "{").has_value());
    CHECK_FALSE(login_token("application/json", "").has_value());
    CHECK_FALSE(login_token("application/x-www-form-urlencoded", "tok=1").has_value());
    CHECK_FALSE(login_token("application/x-www-form-urlencoded", "token=%zz").has_value());
}
