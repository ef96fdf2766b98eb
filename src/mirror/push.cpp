// The libgit2 side of a mirror: credentials (ssh key file, https token file), host key
// checking against known_hosts, the push itself and what its result means. Reaches
// <git2.h> through the git writer's wrapper (gitwriter/git.hpp), like src/repo.

#include "mirror/push.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "gitwriter/git.hpp"
#include "mirror/known_hosts.hpp"
#include "mirror/url.hpp"

namespace netkeep::mirror {

namespace {

using gitwriter::git_handle;
using remote_ptr = git_handle<git_remote, git_remote_free>;

// What the callbacks share. They run on the pushing thread, inside git_remote_push.
struct PushContext {
    PushContext(const PushRequest& r, MirrorUrl u) : request(r), url(std::move(u)) {}
    const PushRequest& request;
    MirrorUrl url;
    std::string known_hosts;  // the file's text (ssh)
    int credential_calls = 0;
    PushError error = PushError::none;  // set by a callback that refused
    std::string message;
    std::string remote_before;
    std::string pushed;   // the local id the remote's main was asked to become
    std::string refused;  // the remote's status for refs/heads/main, when it refused

    bool out_of_time() const {
        return std::chrono::steady_clock::now() >= request.deadline ||
               (request.abort && request.abort->load());
    }
    // A callback's refusal: remembered, and an error libgit2 passes back up.
    int refuse(PushError e, std::string text) {
        if (error == PushError::none) {
            error = e;
            message = std::move(text);
        }
        return GIT_EUSER;
    }
    int check_time() {
        if (!out_of_time()) return 0;
        return refuse(PushError::timeout, timeout_text());
    }
    std::string timeout_text() const {
        if (request.abort && request.abort->load()) return "stopped: netkeepd is shutting down";
        return fmt::format("timed out after {} s", request.mirror->timeout.count() / 1000.0);
    }
};

PushContext& context(void* payload) { return *static_cast<PushContext*>(payload); }

int on_credentials(git_credential** out, const char*, const char* user_from_url,
                   unsigned int allowed, void* payload) {
    PushContext& ctx = context(payload);
    if (int rc = ctx.check_time(); rc != 0) return rc;
    // libgit2 asks again after a refusal, forever (an https 401 loop): two asks are one
    // username round and one real attempt.
    if (++ctx.credential_calls > 2)
        return ctx.refuse(PushError::auth, "authentication failed (credentials refused)");
    const GitMirrorConfig& m = *ctx.request.mirror;
    std::string user = user_from_url && *user_from_url ? user_from_url
                       : m.username.empty()            ? std::string("git")
                                                       : m.username;
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !m.ssh_key.empty()) {
        std::string passphrase;
        if (!m.ssh_passphrase_file.empty()) {
            auto read = read_secret_file(m.ssh_passphrase_file, "ssh_passphrase_file");
            if (!read) return ctx.refuse(PushError::local, read.status().message());
            passphrase = std::move(*read);
        }
        const char* pub = m.ssh_public_key.empty() ? nullptr : m.ssh_public_key.c_str();
        int rc = git_credential_ssh_key_new(out, user.c_str(), pub, m.ssh_key.c_str(),
                                            passphrase.empty() ? nullptr : passphrase.c_str());
        std::fill(passphrase.begin(), passphrase.end(), '\0');
        return rc;
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !m.token_file.empty()) {
        auto token = read_secret_file(m.token_file, "token_file");
        if (!token) return ctx.refuse(PushError::local, token.status().message());
        int rc = git_credential_userpass_plaintext_new(out, user.c_str(), token->c_str());
        std::fill(token->begin(), token->end(), '\0');
        return rc;
    }
    if (allowed & GIT_CREDENTIAL_USERNAME) return git_credential_username_new(out, user.c_str());
    return ctx.refuse(PushError::auth, "the remote asks for credentials this mirror has none of");
}

// libgit2 1.5 accepts any ssh host key unless this says no: known_hosts decides.
int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
    PushContext& ctx = context(payload);
    if (int rc = ctx.check_time(); rc != 0) return rc;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) {
        if (valid) return 0;
        return ctx.refuse(PushError::host_key,
                          fmt::format("the TLS certificate of {} does not verify", host));
    }
    const auto* key = reinterpret_cast<const git_cert_hostkey*>(cert);
    if (!(key->type & GIT_CERT_SSH_RAW))
        return ctx.refuse(PushError::host_key, "libgit2 gave no raw host key to check");
    const std::string_view blob(key->hostkey, key->hostkey_len);
    const std::uint16_t port = ssh_port(ctx.url);
    switch (check_known_hosts(ctx.known_hosts, ctx.url.host, port, blob)) {
        case HostKeyMatch::known:
            return 0;
        case HostKeyMatch::unknown:
            return ctx.refuse(
                PushError::host_key,
                fmt::format("host key of {}:{} ({}) is not in {}: refused", ctx.url.host, port,
                            key_fingerprint(blob), ctx.request.mirror->known_hosts));
        case HostKeyMatch::mismatch:
            return ctx.refuse(PushError::host_key,
                              fmt::format("host key of {}:{} ({}) differs from the one in {}: "
                                          "refused (a changed or spoofed host)",
                                          ctx.url.host, port, key_fingerprint(blob),
                                          ctx.request.mirror->known_hosts));
        case HostKeyMatch::revoked:
            break;
    }
    return ctx.refuse(PushError::host_key,
                      fmt::format("host key of {}:{} ({}) is revoked in {}", ctx.url.host, port,
                                  key_fingerprint(blob), ctx.request.mirror->known_hosts));
}

int on_transfer(unsigned int, unsigned int, size_t, void* payload) {
    return context(payload).check_time();
}
int on_pack(int, std::uint32_t, std::uint32_t, void* payload) {
    return context(payload).check_time();
}
int on_sideband(const char*, int, void* payload) { return context(payload).check_time(); }

int on_negotiation(const git_push_update** updates, size_t count, void* payload) {
    PushContext& ctx = context(payload);
    // git_push_update: src is the remote's old id, dst the new one (libgit2's naming).
    for (size_t i = 0; i < count; ++i) {
        if (!git_oid_is_zero(&updates[i]->src))
            ctx.remote_before = gitwriter::hex_of(updates[i]->src);
        ctx.pushed = gitwriter::hex_of(updates[i]->dst);
    }
    return ctx.check_time();
}

int on_update_reference(const char* refname, const char* status, void* payload) {
    PushContext& ctx = context(payload);
    if (status && std::string_view(refname) == "refs/heads/main") ctx.refused = status;
    return 0;
}

// rc and what the callbacks saw, as one outcome.
PushOutcome classify(int rc, PushContext& ctx) {
    PushOutcome out;
    out.remote_before = ctx.remote_before;
    out.pushed = ctx.pushed.empty() ? ctx.request.commit : ctx.pushed;
    if (ctx.error != PushError::none) {
        out.error = ctx.error;
        out.message = std::move(ctx.message);
        return out;
    }
    if (rc < 0) {
        const std::string why = scrub_url(gitwriter::git_status(rc, "push").message());
        // A blocking call the watchdog interrupted fails with whatever the transport says.
        if (ctx.out_of_time()) {
            out.error = PushError::timeout;
            out.message = ctx.timeout_text() + " (" + why + ")";
        } else if (rc == GIT_ENONFASTFORWARD) {
            out.error = PushError::diverged;
            out.message =
                "the remote main has commits netkeep's main lacks (someone pushed): "
                "not overwritten; set force to overwrite (" +
                why + ")";
        } else {
            out.error = rc == GIT_EAUTH          ? PushError::auth
                        : rc == GIT_ECERTIFICATE ? PushError::host_key
                                                 : PushError::unavailable;
            out.message = why;
        }
        return out;
    }
    if (!ctx.refused.empty()) {
        const bool behind = ctx.refused.find("non-fast-forward") != std::string::npos ||
                            ctx.refused.find("fetch first") != std::string::npos;
        out.error = behind ? PushError::diverged : PushError::rejected;
        out.message = "the remote refused refs/heads/main: " + scrub_url(ctx.refused);
    }
    return out;
}

Result<gitwriter::repository_ptr> open_repo(const std::string& path) {
    git_repository* raw = nullptr;
    if (Status s =
            gitwriter::git_status(git_repository_open_bare(&raw, path.c_str()), "open " + path);
        !s)
        return s;
    return gitwriter::repository_ptr(raw);
}

Result<std::string> read_text(const std::string& path, std::string_view what, std::uintmax_t max) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return Status::unavailable(fmt::format("{} {}: cannot read it", what, path));
    if (size > max)
        return Status::invalid_argument(
            fmt::format("{} {}: larger than {} bytes", what, path, max));
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Status::unavailable(fmt::format("{} {}: cannot read it", what, path));
    return text.str();
}

git_push_options push_options(PushContext& ctx) {
    git_push_options options;
    git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
    options.pb_parallelism = 1;
    options.callbacks.credentials = on_credentials;
    options.callbacks.certificate_check = on_certificate;
    options.callbacks.push_transfer_progress = on_transfer;
    options.callbacks.pack_progress = on_pack;
    options.callbacks.sideband_progress = on_sideband;
    options.callbacks.push_negotiation = on_negotiation;
    options.callbacks.push_update_reference = on_update_reference;
    options.callbacks.payload = &ctx;
    return options;
}

}  // namespace

std::string_view push_error_name(PushError e) {
    switch (e) {
        case PushError::none:
            return "none";
        case PushError::diverged:
            return "diverged";
        case PushError::rejected:
            return "rejected";
        case PushError::auth:
            return "auth";
        case PushError::host_key:
            return "host_key";
        case PushError::timeout:
            return "timeout";
        case PushError::unavailable:
            return "unavailable";
        case PushError::local:
            return "local";
    }
    return "unknown";
}

PushOutcome push_commit(const PushRequest& request) {
    const GitMirrorConfig& m = *request.mirror;
    auto url = parse_mirror_url(m.url);
    if (!url) return local_failure(url.status().message());
    PushContext ctx(request, std::move(*url));
    if (!m.known_hosts.empty()) {
        auto text = read_text(m.known_hosts, "known_hosts", 16 << 20);
        if (!text) return local_failure(text.status().message());
        ctx.known_hosts = std::move(*text);
    }
    auto repo = open_repo(request.repo_path);
    if (!repo) return local_failure(repo.status().message());

    git_remote_create_options create;
    git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    create.repository = repo->get();
    create.name = nullptr;  // in memory: no config written, no remote-tracking refs
    create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    git_remote* raw = nullptr;
    if (Status s = gitwriter::git_status(git_remote_create_with_opts(&raw, m.url.c_str(), &create),
                                         "remote");
        !s)
        return local_failure(scrub_url(s.message()));
    remote_ptr remote(raw);

    // libgit2 1.5 pushes a ref name only, not an id: main may have moved since the caller
    // read it (never backwards), and on_negotiation records what was really pushed.
    std::string spec = std::string(m.force ? "+" : "") + "refs/heads/main:refs/heads/main";
    char* specs[] = {spec.data()};
    git_strarray refspecs{specs, 1};
    git_push_options options = push_options(ctx);
    int rc = git_remote_push(remote.get(), &refspecs, &options);
    return classify(rc, ctx);
}

Result<std::optional<std::string>> read_main(const std::string& repo_path) {
    auto repo = open_repo(repo_path);
    if (!repo) return repo.status();
    git_oid id;
    int rc = git_reference_name_to_id(&id, repo->get(), "refs/heads/main");
    if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
    if (Status s = gitwriter::git_status(rc, "read refs/heads/main"); !s) return s;
    return std::optional<std::string>(gitwriter::hex_of(id));
}

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
    auto text = read_text(path, what, 4096);
    if (!text) return text.status();
    std::string value = std::move(*text);
    if (value.ends_with('\n')) value.pop_back();
    if (value.ends_with('\r')) value.pop_back();
    if (value.empty()) return Status::invalid_argument(fmt::format("{} {}: empty", what, path));
    for (char c : value)
        if (c == '\n' || c == '\r' || c == '\0')
            return Status::invalid_argument(fmt::format("{} {}: more than one line", what, path));
    return value;
}

}  // namespace netkeep::mirror
