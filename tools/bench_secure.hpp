#pragma once
// Tokens and TLS for the benchmarks, so that each can measure the secure path beside the
// plaintext one in the same run: a throwaway CA made by tools/dev-ca, a token file with
// one worker token for every tag, and the client side to match. Header-only.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "http/client.hpp"
#include "http/headers.hpp"
#include "http/tls.hpp"
#include "netkeep/auth.hpp"
#include "support/process.hpp"

namespace netkeep::bench {

struct SecureSetup {
    std::vector<std::string> server_args;  // --auth FILE --tls-cert FILE --tls-key FILE
    http::ClientOptions client;            // HTTPS, trusting the throwaway CA
    std::string authorization;             // "Bearer nk_..."

    void add_to(http::Headers& headers) const { headers.add("Authorization", authorization); }
};

// Makes the CA in dir/tls and the token file dir/tokens.json. `dev_ca` is tools/dev-ca.
inline Result<SecureSetup> make_secure_setup(const std::filesystem::path& dir,
                                             const std::string& dev_ca) {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    auto ca = testing::Process::spawn({"/bin/bash", dev_ca, (dir / "tls").string()});
    if (!ca) return ca.status();
    auto status = ca->wait(std::chrono::seconds(60));
    if (!status) return status.status();
    if (!status->exited() || status->code != 0)
        return Status::unavailable("tools/dev-ca failed: " + ca->stderr_text());
    auto token = generate_token();
    if (!token) return token.status();
    AuthFile file;
    file.tokens.push_back(TokenEntry{"bench-worker", Role::worker, {"*"}, token_sha256(*token)});
    const std::string auth = (dir / "tokens.json").string();
    if (Status s = write_auth_file(auth, file); !s) return s;
    auto context = http::make_client_context(
        {.ca_file = (dir / "tls" / "ca.crt").string(), .cert = {}, .key = {}});
    if (!context) return context.status();
    SecureSetup setup;
    setup.server_args = {"--auth",     auth,
                         "--tls-cert", (dir / "tls" / "server.crt").string(),
                         "--tls-key",  (dir / "tls" / "server.key").string()};
    setup.client.tls = std::move(*context);
    setup.authorization = "Bearer " + *token;
    return setup;
}

}  // namespace netkeep::bench
