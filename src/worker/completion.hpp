#pragma once
// POST /worker/complete (docs/api.md#post-workercomplete): the multipart body, streamed
// from the job's OutputBuffer, over a bounded pool of kept-alive connections that every
// runner thread shares, and the retry policy: network errors and 5xx are retried
// with exponential backoff (the server records a repeated completion once), a 4xx is
// logged and dropped (it would not change on retry).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.hpp"
#include "netkeep/mutex.hpp"
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

// A bounded set of kept-alive connections to netkeepd, shared by the threads that post.
// At most `size` connections exist at once, idle or lent out: netkeepd refuses a client
// past --max-connections-per-client (64 by default), so one connection per runner thread
// would not scale. A thread that finds no connection idle and the bound reached waits for
// one to come back. A connection comes back only after a whole response that keeps it
// alive; after any error it is in an unknown state (half a request sent, an answer
// unread) and is closed instead, which frees its place for a new one.
// Threads: every member may be called from any thread.
class ConnectionPool {
public:
    ConnectionPool(ServerUrl server, ServerAccess access, int size);
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // One place in the pool, lent to one thread until it is destroyed, which gives the
    // connection back (or, without one, just the place). Must not outlive its pool.
    class Slot {
    public:
        Slot(Slot&& other) noexcept;
        Slot& operator=(Slot&&) = delete;
        ~Slot();
        // Whether it holds a connection already (one that served an earlier request and
        // that the server may have closed since).
        bool has_connection() const { return client_.has_value(); }
        // The connection, opened first when there is none.
        Result<http::Client*> client();
        // Closes the connection (its state is unknown); the place stays lent.
        void discard();

    private:
        friend class ConnectionPool;
        Slot(ConnectionPool* pool, std::optional<http::Client> client);
        ConnectionPool* pool_;
        std::optional<http::Client> client_;
    };

    // A place, at once when one is free, else when another thread gives one back;
    // unavailable when `until` passes first.
    Result<Slot> acquire(std::chrono::steady_clock::time_point until);

    struct Stats {
        int size = 0;
        int idle = 0;                            // open connections waiting for a thread
        int lent = 0;                            // places held by threads
        int opened = 0;                          // connections opened in total
        int waits = 0;                           // acquire() calls that found every place taken
        std::chrono::milliseconds wait_time{0};  // what those calls waited, in total
    };
    Stats stats() const;

private:
    void give_back(std::optional<http::Client> client);
    void count_opened();

    const ServerUrl server_;
    const ServerAccess access_;
    const int size_;
    mutable Mutex mutex_;
    CondVar returned_;
    std::vector<http::Client> idle_ GUARDED_BY(mutex_);  // the most recently used last
    int lent_ GUARDED_BY(mutex_) = 0;
    int opened_ GUARDED_BY(mutex_) = 0;
    int waits_ GUARDED_BY(mutex_) = 0;
    std::chrono::steady_clock::duration wait_time_ GUARDED_BY(mutex_){};
};

// Posts completions over a ConnectionPool of `connections` kept-alive connections.
// Threads: post() may be called from any number of threads at once.
class Poster {
public:
    Poster(ServerUrl server, std::string worker_name, PostPolicy policy = {},
           ServerAccess access = {}, int connections = 1);

    enum class Outcome { recorded, rejected, gave_up };
    // Posts `c` with `output` as the file (nullptr: empty file) until the server answers
    // 200 or 4xx, or `give_up` passes (waiting for a free connection included). The
    // connection is held for one attempt only, never during the backoff between tries.
    Outcome post(const Completion& c, const OutputBuffer* output,
                 std::chrono::steady_clock::time_point give_up);

    ConnectionPool::Stats pool_stats() const { return pool_.stats(); }

private:
    // One attempt on `slot`'s connection: the response, or the network error (the
    // connection then discarded).
    Result<http::ClientResponse> attempt(ConnectionPool::Slot& slot, const Completion& c,
                                         const OutputBuffer* output);

    ServerUrl server_;
    ServerAccess access_;
    std::string worker_name_;
    PostPolicy policy_;
    ConnectionPool pool_;
};

}  // namespace netkeep::worker
