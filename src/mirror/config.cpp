// The mirror configuration: the --git-mirror flag, the --git-mirrors file (simdjson, like
// the inventory and the token file: an operator-written JSON file) and the checks that
// need the file system. docs/mirrors.md is the reference.

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>

#include "mirror/url.hpp"
#include "netkeep/git_mirror.hpp"
#include "netkeep/hardening.hpp"

namespace netkeep {

namespace {

namespace dom = simdjson::dom;
using mirror::MirrorUrl;

Status fail(const std::string& path, std::string_view why) {
    return Status::invalid_argument(fmt::format("{}: {}", path, why));
}

// The URL rules a mirror's other fields depend on.
Status check_mirror(const GitMirrorConfig& m, const std::string& path) {
    if (!mirror::valid_mirror_name(m.name))
        return fail(path + ".name", "wants [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    auto url = mirror::parse_mirror_url(m.url);
    if (!url) return fail(path, url.status().message());
    const bool ssh = url->scheme == MirrorUrl::Scheme::ssh;
    const bool web =
        url->scheme == MirrorUrl::Scheme::https || url->scheme == MirrorUrl::Scheme::http;
    if (ssh && (m.ssh_key.empty() || m.known_hosts.empty()))
        return fail(path, "an ssh URL needs ssh_key and known_hosts (unknown hosts are refused)");
    if (!ssh && (!m.ssh_key.empty() || !m.known_hosts.empty() || !m.ssh_passphrase_file.empty()))
        return fail(path, "ssh_key, known_hosts and ssh_passphrase_file are for ssh URLs only");
    if (!web && !m.token_file.empty()) return fail(path, "token_file is for https URLs only");
    if (url->scheme == MirrorUrl::Scheme::http && !m.token_file.empty())
        return fail(path, "a token over http:// travels in clear: use https://");
    if (m.timeout.count() <= 0 || m.retry_first.count() <= 0 || m.retry_max < m.retry_first)
        return fail(path, "timeout and retry_first must be positive, retry_max >= retry_first");
    return Status::ok();
}

Result<std::string> string_field(dom::object obj, std::string_view key, const std::string& path) {
    std::string_view v;
    if (obj[key].get_string().get(v)) return fail(path + "." + std::string(key), "wants a string");
    if (v.size() > 4096) return fail(path + "." + std::string(key), "longer than 4096 bytes");
    return std::string(v);
}

// Seconds (fractions allowed) in (0, 3600].
Result<std::chrono::milliseconds> seconds_field(dom::object obj, std::string_view key,
                                                const std::string& path) {
    double v = 0;
    if (obj[key].get_double().get(v) || !(v > 0 && v <= 3600))
        return fail(path + "." + std::string(key), "wants seconds in (0, 3600]");
    return std::chrono::milliseconds(std::max<long long>(1, std::llround(v * 1000)));
}

std::string resolve(const std::filesystem::path& base, const std::string& file) {
    if (file.empty()) return file;
    std::filesystem::path p(file);
    return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

Result<GitMirrorConfig> parse_entry(dom::element item, const std::string& path,
                                    const std::filesystem::path& base) {
    dom::object obj;
    if (item.get_object().get(obj)) return fail(path, "wants an object");
    GitMirrorConfig m;
    static const std::set<std::string_view> paths = {
        "ssh_key", "ssh_public_key", "ssh_passphrase_file", "known_hosts", "token_file"};
    for (auto [key, value] : obj) {
        const std::string at = path + "." + std::string(key);
        if (key == "force") {
            if (value.get_bool().get(m.force)) return fail(at, "wants true or false");
            continue;
        }
        if (key == "timeout" || key == "retry_first" || key == "retry_max") {
            auto v = seconds_field(obj, key, path);
            if (!v) return v.status();
            (key == "timeout"       ? m.timeout
             : key == "retry_first" ? m.retry_first
                                    : m.retry_max) = *v;
            continue;
        }
        std::string* field = key == "name"                  ? &m.name
                             : key == "url"                 ? &m.url
                             : key == "username"            ? &m.username
                             : key == "ssh_key"             ? &m.ssh_key
                             : key == "ssh_public_key"      ? &m.ssh_public_key
                             : key == "ssh_passphrase_file" ? &m.ssh_passphrase_file
                             : key == "known_hosts"         ? &m.known_hosts
                             : key == "token_file"          ? &m.token_file
                                                            : nullptr;
        if (!field) return fail(at, "unknown key (a typo?)");
        auto v = string_field(obj, key, path);
        if (!v) return v.status();
        *field = paths.contains(key) ? resolve(base, *v) : std::move(*v);
    }
    if (m.url.empty()) return fail(path + ".url", "is required");
    if (m.name.empty()) {
        auto url = mirror::parse_mirror_url(m.url);
        if (!url) return fail(path, url.status().message());
        m.name = mirror::default_mirror_name(*url);
    }
    if (Status s = check_mirror(m, path); !s) return s;
    return m;
}

// A secret or key file: a regular file this process can open, at most `max` bytes.
Status check_file(const std::string& file, std::string_view what, const std::string& mirror,
                  bool secret) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return Status::invalid_argument(
            fmt::format("mirror {}: {} {}: not a readable file", mirror, what, file));
    if (std::ifstream probe(file); !probe)
        return Status::invalid_argument(
            fmt::format("mirror {}: {} {}: cannot read it", mirror, what, file));
    if (secret) warn_if_exposed(file, fmt::format("mirror {} {}", mirror, what));
    return Status::ok();
}

}  // namespace

Result<GitMirrorConfig> git_mirror_from_flag(std::string_view value) {
    GitMirrorConfig m;
    auto eq = value.find('=');
    if (eq != std::string_view::npos && mirror::valid_mirror_name(value.substr(0, eq))) {
        m.name = std::string(value.substr(0, eq));
        m.url = std::string(value.substr(eq + 1));
    } else {
        m.url = std::string(value);
    }
    auto url = mirror::parse_mirror_url(m.url);
    if (!url) return Status::invalid_argument("--git-mirror " + url.status().message());
    if (m.name.empty()) m.name = mirror::default_mirror_name(*url);
    if (url->scheme == MirrorUrl::Scheme::ssh || url->scheme == MirrorUrl::Scheme::https)
        return Status::invalid_argument(
            "--git-mirror " + scrub_url(m.url) +
            ": ssh and https mirrors need credentials: give them in --git-mirrors FILE");
    if (Status s = check_mirror(m, "--git-mirror"); !s) return s;
    return m;
}

Result<std::vector<GitMirrorConfig>> parse_git_mirrors(std::string_view json,
                                                       const std::filesystem::path& base_dir) {
    dom::parser parser;
    simdjson::padded_string padded(json);
    dom::element root;
    if (auto err = parser.parse(padded).get(root))
        return Status::invalid_argument(
            fmt::format("not valid JSON: {}", simdjson::error_message(err)));
    dom::object top;
    if (root.get_object().get(top)) return fail("(top)", "wants an object");
    for (auto [key, value] : top)
        if (key != "mirrors") return fail(std::string(key), "unknown key (a typo?)");
    dom::array list;
    if (top["mirrors"].get_array().get(list)) return fail("mirrors", "wants an array");
    if (list.size() > k_max_git_mirrors)
        return fail("mirrors", fmt::format("at most {} mirrors", k_max_git_mirrors));
    std::vector<GitMirrorConfig> out;
    std::set<std::string> names;
    for (dom::element item : list) {
        const std::string path = fmt::format("mirrors[{}]", out.size());
        auto m = parse_entry(item, path, base_dir);
        if (!m) return m.status();
        if (!names.insert(m->name).second)
            return fail(path + ".name", "\"" + m->name + "\" names another mirror too");
        out.push_back(std::move(*m));
    }
    return out;
}

Result<std::vector<GitMirrorConfig>> load_git_mirrors(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return Status::invalid_argument(fmt::format("{}: not a readable file", file.string()));
    if (std::uint64_t(st.st_size) > k_max_git_mirrors_file)
        return Status::invalid_argument(fmt::format("{}: larger than 1 MiB", file.string()));
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Status::invalid_argument(fmt::format("{}: cannot read it", file.string()));
    auto parsed = parse_git_mirrors(text.str(), file.parent_path());
    if (!parsed)
        return Status::invalid_argument(
            fmt::format("{}: {}", file.string(), parsed.status().message()));
    return parsed;
}

Status check_git_mirrors(const std::vector<GitMirrorConfig>& mirrors) {
    std::set<std::string> names;
    if (mirrors.size() > k_max_git_mirrors)
        return Status::invalid_argument(fmt::format("at most {} git mirrors", k_max_git_mirrors));
    for (const auto& m : mirrors) {
        if (!names.insert(m.name).second)
            return Status::invalid_argument(
                fmt::format("two git mirrors are named {}: name one of them (NAME=URL)", m.name));
        const std::pair<const std::string*, std::string_view> files[] = {
            {&m.ssh_key, "ssh_key"},
            {&m.ssh_public_key, "ssh_public_key"},
            {&m.ssh_passphrase_file, "ssh_passphrase_file"},
            {&m.known_hosts, "known_hosts"},
            {&m.token_file, "token_file"}};
        for (const auto& [file, what] : files) {
            if (file->empty()) continue;
            const bool secret = what != "ssh_public_key" && what != "known_hosts";
            if (Status s = check_file(*file, what, m.name, secret); !s) return s;
        }
    }
    return Status::ok();
}

}  // namespace netkeep
