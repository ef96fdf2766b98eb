#include "mirror/url.hpp"

#include <charconv>

#include "netkeep/git_mirror.hpp"

namespace netkeep::mirror {

namespace {

constexpr std::size_t k_max_url = 2048;

Status bad_url(std::string_view why) {
    return Status::invalid_argument("url: " + std::string(why));
}

// "host[:port]" or "[v6][:port]" into url.host and url.port.
Status split_host_port(std::string_view authority, MirrorUrl& url) {
    std::string_view port;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return bad_url("an unclosed '[' in the host");
        url.host = std::string(authority.substr(1, close - 1));
        auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return bad_url("text after the host's ']'");
            port = rest.substr(1);
        }
    } else {
        auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (url.host.empty()) return bad_url("no host");
    if (!port.empty()) {
        unsigned n = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
            return bad_url("a bad port");
        url.port = std::uint16_t(n);
    }
    return Status::ok();
}

// "[user@]host[:port]/path" after "scheme://".
Status parse_authority_url(std::string_view rest, MirrorUrl& url) {
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return bad_url("no path after the host");
    std::string_view authority = rest.substr(0, slash);
    url.path = std::string(rest.substr(slash));
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        if (userinfo.find(':') != std::string_view::npos)
            return bad_url(
                "a password in the URL would end up in logs and process listings; use "
                "token_file (https) or ssh_key (ssh)");
        if (url.scheme != MirrorUrl::Scheme::ssh)
            return bad_url("no user name in an http(s) URL: use username and token_file");
        if (userinfo.empty()) return bad_url("an empty user name before '@'");
        url.user = std::string(userinfo);
        authority = authority.substr(at + 1);
    }
    return split_host_port(authority, url);
}

}  // namespace

Result<MirrorUrl> parse_mirror_url(std::string_view text) {
    if (text.empty()) return bad_url("empty");
    if (text.size() > k_max_url) return bad_url("longer than 2048 bytes");
    for (unsigned char c : text)
        if (c <= 0x20 || c == 0x7f) return bad_url("a space or control character");
    MirrorUrl url;
    auto sep = text.find("://");
    if (sep != std::string_view::npos) {
        std::string_view scheme = text.substr(0, sep);
        std::string_view rest = text.substr(sep + 3);
        if (scheme == "file") {
            if (!rest.starts_with('/')) return bad_url("file:// wants an absolute path");
            url.path = std::string(rest);
            return url;
        }
        if (scheme == "ssh")
            url.scheme = MirrorUrl::Scheme::ssh;
        else if (scheme == "https")
            url.scheme = MirrorUrl::Scheme::https;
        else if (scheme == "http")
            url.scheme = MirrorUrl::Scheme::http;
        else
            return bad_url("the scheme must be file, ssh, https or http");
        if (Status s = parse_authority_url(rest, url); !s) return s;
        return url;
    }
    if (text.starts_with('/')) {
        url.path = std::string(text);
        return url;
    }
    // scp-like: [user@]host:path, as git takes it.
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return bad_url("a relative path (use an absolute path or file:///...)");
    url.scheme = MirrorUrl::Scheme::ssh;
    std::string_view authority = text.substr(0, colon);
    url.path = std::string(text.substr(colon + 1));
    if (url.path.empty()) return bad_url("no path after ':'");
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        url.user = std::string(authority.substr(0, at));
        if (url.user.empty()) return bad_url("an empty user name before '@'");
        authority = authority.substr(at + 1);
    }
    if (authority.empty() || authority.find('/') != std::string_view::npos)
        return bad_url("a relative path (use an absolute path or file:///...)");
    url.host = std::string(authority);
    return url;
}

std::string default_mirror_name(const MirrorUrl& url) {
    std::string path = url.path;
    if (path.ends_with(".git")) path.resize(path.size() - 4);
    std::string source = url.host.empty() ? path : url.host + "/" + path;
    std::string name;
    for (char c : source) {
        const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_';
        if (keep)
            name += c;
        else if (!name.empty() && name.back() != '-')
            name += '-';
    }
    while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
    if (name.size() > 64) name.erase(0, name.size() - 64);  // the path's end tells them apart
    while (!name.empty() && !valid_mirror_name(name)) name.erase(0, 1);
    return name.empty() ? "mirror" : name;
}

bool valid_mirror_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (!alnum(name[0])) return false;
    for (char c : name)
        if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

}  // namespace netkeep::mirror

namespace netkeep {

std::string scrub_url(std::string_view url) {
    auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::string(url);
    auto start = sep + 3;
    auto end = url.find('/', start);
    std::string_view authority =
        url.substr(start, end == std::string_view::npos ? url.npos : end - start);
    auto at = authority.rfind('@');
    if (at == std::string_view::npos) return std::string(url);
    auto colon = authority.substr(0, at).find(':');
    if (colon == std::string_view::npos) return std::string(url);
    return std::string(url.substr(0, start + colon + 1)) + "***" +
           std::string(url.substr(start + at));
}

}  // namespace netkeep
