#pragma once
// POST /worker/complete (docs/api.md#post-workercomplete): the multipart body, streamed
// from the job's OutputBuffer, and the retry policy: network errors and 5xx are retried
// with exponential backoff (the server records a repeated completion once), a 4xx is
// logged and dropped (it would not change on retry).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/client.hpp"
#include "worker/output.hpp"

namespace netkeep::worker {

struct ServerUrl {
    std::string host;
    std::uint16_t port = 80;
    std::string prefix;  // path before /worker/..., without a trailing '/'
    bool https = false;
};

// "http[s]://HOST[:PORT][/PREFIX]"; HOST may be "[v6]"; the port defaults to 80 / 443.
Result<ServerUrl> parse_server_url(std::string_view url);

// What the worker needs besides the URL to reach netkeepd and prove who it is.
struct ServerAccess {
    // The client TLS context (http/tls.hpp make_client_context); set exactly for https.
    std::shared_ptr<asio::ssl::context> tls;
    // Sent as "Authorization: Bearer <token>" on every request; empty: not sent. A secret:
    // never in a log line, an error message or argv.
    std::string token;
};

// A connection to `server`, over TLS when it is https.
Result<http::Client> connect_server(const ServerUrl& server, const ServerAccess& access);
// Adds the Authorization header when there is a token.
void add_auth(http::Headers& headers, const ServerAccess& access);

struct Completion {
    std::string device;
    std::string job;  // the file part's filename
    std::int64_t job_timestamp = 0;
    std::int64_t start_timestamp = 0;
    std::int64_t end_timestamp = 0;
    std::optional<std::string> failure;
};

// The body around the file's content: `head` holds every field and the file part's
// header, `tail` closes the form. A failure text is made one line (CR/LF become spaces).
struct MultipartFrame {
    std::string head;
    std::string tail;
    std::string content_type;
};
MultipartFrame multipart_frame(const Completion& c, std::string_view boundary);

struct PostPolicy {
    std::chrono::milliseconds first_backoff{500};
    std::chrono::milliseconds max_backoff{30000};
};

// Posts completions on one kept-alive connection. Threads: one Poster per thread.
class Poster {
public:
    Poster(ServerUrl server, std::string worker_name, PostPolicy policy = {},
           ServerAccess access = {});

    enum class Outcome { recorded, rejected, gave_up };
    // Posts `c` with `output` as the file (nullptr: empty file) until the server answers
    // 200 or 4xx, or `give_up` passes.
    Outcome post(const Completion& c, const OutputBuffer* output,
                 std::chrono::steady_clock::time_point give_up);

private:
    // One attempt: the response, or the network error.
    Result<http::ClientResponse> attempt(const Completion& c, const OutputBuffer* output);

    ServerUrl server_;
    ServerAccess access_;
    std::string worker_name_;
    PostPolicy policy_;
    std::optional<http::Client> client_;
};

}  // namespace netkeep::worker
