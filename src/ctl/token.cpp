// netkeepctl token add | list | revoke: the token file of `netkeepd --auth FILE`.
//
// A token is printed once, by `add`, and never stored: the file keeps its SHA-256. The
// file is rewritten atomically (temp file, fsync, rename, fsync of the directory), so
// netkeepd reloading it meanwhile reads the old file or the new one. netkeepd uses the
// change at its next reload (SIGHUP or POST /admin/reload).

#include <algorithm>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "netkeep/auth.hpp"
#include "netkeep/json.hpp"

namespace netkeep::ctl {

namespace {

std::string tags_text(const TokenEntry& t) {
    std::string out;
    for (const std::string& tag : t.tags) out += (out.empty() ? "" : ",") + tag;
    return out;
}

int token_add(const Options& o, Io io, AuthFile file) {
    for (const TokenEntry& t : file.tokens)
        if (t.name == o.token_name)
            return fail(o, io,
                        fmt::format("{}: a token named '{}' exists; revoke it first", o.auth_file,
                                    o.token_name));
    auto role = role_from_name(o.token_role);
    if (!role)
        return fail(o, io,
                    fmt::format("--role: '{}' is not a role (worker, read, admin)", o.token_role),
                    2);
    auto token = generate_token();
    if (!token) return fail(o, io, token.status().message());
    file.tokens.push_back(TokenEntry{o.token_name, *role, o.token_tags, token_sha256(*token)});
    // The same validation netkeepd applies, so a token that is added is a token that loads.
    if (auto check = parse_auth_file(format_auth_file(file), o.auth_file); !check)
        return fail(o, io, check.status().message(), 2);
    if (Status s = write_auth_file(o.auth_file, file); !s) return fail(o, io, s.message());
    if (o.json)
        fmt::print(io.out, "{{\"name\":{},\"role\":\"{}\",\"token\":\"{}\"}}\n",
                   json_quote(o.token_name), role_name(*role), *token);
    else
        fmt::print(io.out, "{}\n", *token);
    fmt::print(io.err,
               "netkeepctl: token '{}' ({}) added to {}. It is shown only this once: store it now. "
               "netkeepd uses it after its next reload (SIGHUP or POST /admin/reload).\n",
               o.token_name, role_name(*role), o.auth_file);
    return 0;
}

int token_list(const Options& o, Io io, const AuthFile& file) {
    if (o.json) {
        std::string out = "[";
        for (const TokenEntry& t : file.tokens) {
            if (out.size() > 1) out += ',';
            out += fmt::format(R"({{"name":{},"role":"{}","tags":[)", json_quote(t.name),
                               role_name(t.role));
            for (std::size_t i = 0; i < t.tags.size(); ++i)
                out += (i ? "," : "") + json_quote(t.tags[i]);
            out += "]}";
        }
        fmt::print(io.out, "{}]\n", out);
        return 0;
    }
    fmt::print(io.out, "{:<24} {:<7} {}\n", "NAME", "ROLE", "TAGS");
    for (const TokenEntry& t : file.tokens)
        fmt::print(io.out, "{:<24} {:<7} {}\n", t.name, role_name(t.role),
                   t.role == Role::worker ? tags_text(t) : "-");
    return 0;
}

int token_revoke(const Options& o, Io io, AuthFile file) {
    auto it = std::find_if(file.tokens.begin(), file.tokens.end(),
                           [&](const TokenEntry& t) { return t.name == o.token_name; });
    if (it == file.tokens.end())
        return fail(o, io, fmt::format("{}: no token named '{}'", o.auth_file, o.token_name));
    file.tokens.erase(it);
    if (Status s = write_auth_file(o.auth_file, file); !s) return fail(o, io, s.message());
    fmt::print(io.err,
               "netkeepctl: token '{}' removed from {}; netkeepd refuses it after its next reload "
               "(SIGHUP or "
               "POST /admin/reload).\n",
               o.token_name, o.auth_file);
    if (o.json) fmt::print(io.out, "{{\"revoked\":{}}}\n", json_quote(o.token_name));
    return 0;
}

}  // namespace

int run_token(const Options& o, Io io) {
    auto file = load_auth_file(o.auth_file);
    if (!file &&
        !(o.command == Command::token_add && file.status().code() == Status::Code::not_found))
        return fail(o, io, file.status().message());
    AuthFile current = file ? std::move(*file) : AuthFile{};
    switch (o.command) {
        case Command::token_add:
            return token_add(o, io, std::move(current));
        case Command::token_list:
            return token_list(o, io, current);
        case Command::token_revoke:
            return token_revoke(o, io, std::move(current));
        default:
            return 2;
    }
}

}  // namespace netkeep::ctl
