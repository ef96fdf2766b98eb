#include <doctest/doctest.h>

#include <string>

#include "mirror/known_hosts.hpp"
#include "mirror/url.hpp"
#include "netkeep/git_mirror.hpp"

using namespace netkeep;
using namespace netkeep::mirror;

TEST_CASE("mirror URLs: the forms git takes, and no password in them") {
    auto ssh = parse_mirror_url("ssh://git@git.example.net:2222/netops/configs.git");
    REQUIRE(ssh.is_ok());
    CHECK(ssh->scheme == MirrorUrl::Scheme::ssh);
    CHECK(ssh->user == "git");
    CHECK(ssh->host == "git.example.net");
    CHECK(ssh->port == 2222);
    CHECK(ssh->path == "/netops/configs.git");
    auto scp = parse_mirror_url("git@gitea:netops/configs.git");
    REQUIRE(scp.is_ok());
    CHECK(scp->scheme == MirrorUrl::Scheme::ssh);
    CHECK(ssh_port(*scp) == 22);
    CHECK(scp->path == "netops/configs.git");
    auto v6 = parse_mirror_url("ssh://[::1]:22/x.git");
    REQUIRE(v6.is_ok());
    CHECK(v6->host == "::1");
    CHECK(parse_mirror_url("file:///srv/mirror.git")->scheme == MirrorUrl::Scheme::file);
    CHECK(parse_mirror_url("/srv/mirror.git")->path == "/srv/mirror.git");
    CHECK(parse_mirror_url("https://gitlab.example.net/a/b.git")->scheme ==
          MirrorUrl::Scheme::https);

    for (const char* bad :
         {"https://oauth2:glpat-s3cret@gitlab.example.net/a.git", "ssh://git:pw@h/x.git",
          "https://user@gitlab.example.net/a.git", "relative/dir.git", "file://relative",
          "ftp://h/x.git", "ssh://h:99999/x.git", "ssh://h", "ssh://h/x y.git", "", "git@h:"}) {
        CAPTURE(bad);
        auto r = parse_mirror_url(bad);
        CHECK(!r.is_ok());
        if (!r.is_ok()) CHECK(r.status().message().find("s3cret") == std::string::npos);
    }
    CHECK(!parse_mirror_url(std::string(3000, 'a')).is_ok());
}

TEST_CASE("scrub_url hides a password whatever the scheme") {
    CHECK(scrub_url("https://u:s3cret@h/x.git") == "https://u:***@h/x.git");
    CHECK(scrub_url("https://h/x.git") == "https://h/x.git");
    CHECK(scrub_url("ssh://git@h/x.git") == "ssh://git@h/x.git");
}

TEST_CASE("default mirror names come from host and path") {
    CHECK(default_mirror_name(*parse_mirror_url("ssh://git@git.example.net/netops/configs.git")) ==
          "git.example.net-netops-configs");
    CHECK(default_mirror_name(*parse_mirror_url("file:///srv/backup/mirror.git")) ==
          "srv-backup-mirror");
    const std::string long_path = "/" + std::string(100, 'x') + "/end.git";
    auto name = default_mirror_name(*parse_mirror_url(long_path));
    CHECK(valid_mirror_name(name));
    CHECK(name.ends_with("end"));
    CHECK(!valid_mirror_name("-x"));
    CHECK(!valid_mirror_name("a/b"));
    CHECK(!valid_mirror_name(std::string(65, 'a')));
}

TEST_CASE("--git-mirror takes [NAME=]URL and leaves credentials to the file") {
    auto named = git_mirror_from_flag("backup=file:///srv/m.git");
    REQUIRE(named.is_ok());
    CHECK(named->name == "backup");
    CHECK(named->url == "file:///srv/m.git");
    CHECK(!named->force);
    CHECK(git_mirror_from_flag("/srv/m.git")->name == "srv-m");
    CHECK(!git_mirror_from_flag("ssh://git@h/x.git").is_ok());
    CHECK(!git_mirror_from_flag("https://h/x.git").is_ok());
}

TEST_CASE("--git-mirrors: every field, relative files, and errors that name the JSON path") {
    auto parsed = parse_git_mirrors(R"({"mirrors": [
        {"name": "gitea", "url": "ssh://git@gitea:2222/n/c.git", "ssh_key": "keys/id",
         "known_hosts": "/etc/netkeep/known_hosts", "force": true, "timeout": 5,
         "retry_first": 0.5, "retry_max": 60},
        {"url": "https://gitlab.example.net/n/c.git", "username": "oauth2",
         "token_file": "gitlab.token"}]})",
                                    "/etc/netkeep");
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    REQUIRE(parsed->size() == 2);
    const auto& a = (*parsed)[0];
    CHECK(a.name == "gitea");
    CHECK(a.ssh_key == "/etc/netkeep/keys/id");
    CHECK(a.force);
    CHECK(a.timeout == std::chrono::seconds(5));
    CHECK(a.retry_first == std::chrono::milliseconds(500));
    CHECK(a.retry_max == std::chrono::seconds(60));
    const auto& b = (*parsed)[1];
    CHECK(b.name == "gitlab.example.net-n-c");
    CHECK(b.token_file == "/etc/netkeep/gitlab.token");
    CHECK(b.username == "oauth2");

    auto error = [](const std::string& json) {
        auto r = parse_git_mirrors(json, "/");
        return r.is_ok() ? std::string("ok") : r.status().message();
    };
    CHECK(error(R"({"mirrors": [{"url": "/a"}, {"url": "/b", "timeout": 0}]})") ==
          "mirrors[1].timeout: wants seconds in (0, 3600]");
    CHECK(error(R"({"mirrors": [{"url": "/a", "force": "yes"}]})") ==
          "mirrors[0].force: wants true or false");
    CHECK(error(R"({"mirrors": [{"name": "x", "url": "/a"}, {"name": "x", "url": "/b"}]})")
              .find("names another mirror") != std::string::npos);
    CHECK(error(R"({"mirrors": [{"url": "http://h/a", "token_file": "/t"}]})")
              .find("travels in clear") != std::string::npos);
    CHECK(error(R"({"mirrors": [{"url": "/a", "ssh_key": "/k"}]})").find("ssh URLs only") !=
          std::string::npos);
    CHECK(error(R"({"mirror": []})").find("unknown key") != std::string::npos);
    CHECK(error("{").find("not valid JSON") != std::string::npos);
    std::string many = R"({"mirrors": [)";
    for (int i = 0; i < 33; ++i)
        many += std::string(i ? "," : "") + R"({"url": "/a)" + std::to_string(i) + "\"}";
    CHECK(error(many + "]}").find("at most 32") != std::string::npos);
}

namespace {
// An ed25519 key blob as the server sends it (what the base64 field decodes to).
const std::string k_key_b64 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
std::string blob(const std::string& b64);
}  // namespace

TEST_CASE("known_hosts: names and ports as OpenSSH writes them; others refused") {
    const std::string key = blob(k_key_b64);
    const std::string other =
        blob("AAAAC3NzaC1lZDI1NTE5AAAAIBBqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl");
    const std::string file =
        "# comment\n"
        "gitea,10.0.0.5 ssh-ed25519 " +
        k_key_b64 +
        " c\n"
        "[git.example.net]:2222 ssh-ed25519 " +
        k_key_b64 +
        "\n"
        "*.lab.example.net,!bad.lab.example.net ssh-ed25519 " +
        k_key_b64 +
        "\n"
        "@cert-authority * ssh-ed25519 " +
        k_key_b64 + "\n";
    CHECK(check_known_hosts(file, "gitea", 22, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(file, "10.0.0.5", 22, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(file, "GITEA", 22, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(file, "gitea", 22, other) == HostKeyMatch::mismatch);
    CHECK(check_known_hosts(file, "gitea", 2222, key) == HostKeyMatch::unknown);
    CHECK(check_known_hosts(file, "git.example.net", 2222, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(file, "git.example.net", 22, key) == HostKeyMatch::unknown);
    CHECK(check_known_hosts(file, "r1.lab.example.net", 22, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(file, "bad.lab.example.net", 22, key) == HostKeyMatch::unknown);
    CHECK(check_known_hosts(file, "stranger", 22, key) == HostKeyMatch::unknown);
    CHECK(check_known_hosts("", "gitea", 22, key) == HostKeyMatch::unknown);

    // HashKnownHosts: HMAC-SHA1 of "[git.example.net]:2222" under the salt.
    const std::string hashed =
        "|1|MDEyMzQ1Njc4OWFiY2RlZmdoaWo=|WTe+meCZK/w03V7H3x4cJ7vLVKw= "
        "ssh-ed25519 " +
        k_key_b64 + "\n";
    CHECK(check_known_hosts(hashed, "git.example.net", 2222, key) == HostKeyMatch::known);
    CHECK(check_known_hosts(hashed, "git.example.net", 22, key) == HostKeyMatch::unknown);

    const std::string revoked = file + "@revoked * ssh-ed25519 " + k_key_b64 + "\n";
    CHECK(check_known_hosts(revoked, "gitea", 22, key) == HostKeyMatch::revoked);
    CHECK(key_fingerprint(key).starts_with("SHA256:"));
    CHECK(!key_fingerprint(key).ends_with("="));
}

namespace {
std::string blob(const std::string& b64) {
    // Base64 decoded by hand, independent of the decoder under test.
    static const std::string chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned value = 0;
    int bits = 0;
    for (char c : b64) {
        if (c == '=') break;
        value = (value << 6) | unsigned(chars.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((value >> bits) & 0xff);
        }
    }
    return out;
}
}  // namespace
