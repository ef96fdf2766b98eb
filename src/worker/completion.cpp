#include "worker/completion.hpp"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "netkeep/logger.hpp"

namespace netkeep::worker {

namespace {

using clock = std::chrono::steady_clock;

std::string one_line(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c == '\r' || c == '\n') c = ' ';
    return out;
}

std::string field(std::string_view boundary, std::string_view name, std::string_view value) {
    return fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                       boundary, name, value);
}

std::string random_boundary() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("netkeep-worker-{:016x}{:016x}", rng(), rng());
}

}  // namespace

Result<ServerUrl> parse_server_url(std::string_view url) {
    ServerUrl out;
    std::string_view rest;
    if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else if (url.starts_with("https://")) {
        rest = url.substr(8);
        out.https = true;
        out.port = 443;
    } else {
        return Status::invalid_argument(
            fmt::format("--server {}: must start with http:// or https://", url));
    }
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        out.prefix = std::string(rest.substr(slash));
        while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
    }
    std::string_view port;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return Status::invalid_argument(fmt::format("--server {}: unclosed '['", url));
        out.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':')
                return Status::invalid_argument(fmt::format("--server {}: bad host", url));
            port = after.substr(1);
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (out.host.empty()) return Status::invalid_argument(fmt::format("--server {}: no host", url));
    if (!port.empty() || authority.ends_with(':')) {
        unsigned value = 0;
        if (port.empty() || port.size() > 5)
            return Status::invalid_argument(fmt::format("--server {}: bad port", url));
        for (char c : port) {
            if (c < '0' || c > '9')
                return Status::invalid_argument(fmt::format("--server {}: bad port", url));
            value = value * 10 + unsigned(c - '0');
        }
        if (value < 1 || value > 65535)
            return Status::invalid_argument(fmt::format("--server {}: bad port", url));
        out.port = std::uint16_t(value);
    }
    return out;
}

Result<http::Client> connect_server(const ServerUrl& server, const ServerAccess& access) {
    http::ClientOptions options;
    if (server.https) {
        if (!access.tls) return Status::invalid_argument("an https server needs a TLS context");
        options.tls = access.tls;
    }
    return http::Client::connect(server.host, server.port, options);
}

void add_auth(http::Headers& headers, const ServerAccess& access) {
    if (!access.token.empty()) headers.add("Authorization", "Bearer " + access.token);
}

MultipartFrame multipart_frame(const Completion& c, std::string_view boundary) {
    MultipartFrame f;
    f.head = field(boundary, "device", c.device) +
             field(boundary, "job_timestamp", std::to_string(c.job_timestamp)) +
             field(boundary, "start_timestamp", std::to_string(c.start_timestamp)) +
             field(boundary, "end_timestamp", std::to_string(c.end_timestamp));
    if (c.failure) f.head += field(boundary, "failure", one_line(*c.failure));
    f.head += fmt::format(
        "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n",
        boundary, c.job);
    f.tail = fmt::format("\r\n--{}--\r\n", boundary);
    f.content_type = fmt::format("multipart/form-data; boundary={}", boundary);
    return f;
}

ConnectionPool::ConnectionPool(ServerUrl server, ServerAccess access, int size)
    : server_(std::move(server)), access_(std::move(access)), size_(std::max(size, 1)) {}

ConnectionPool::Slot::Slot(ConnectionPool* pool, std::optional<http::Client> client)
    : pool_(pool), client_(std::move(client)) {}

ConnectionPool::Slot::Slot(Slot&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), client_(std::move(other.client_)) {
    other.client_.reset();
}

ConnectionPool::Slot::~Slot() {
    if (pool_) pool_->give_back(std::move(client_));
}

Result<http::Client*> ConnectionPool::Slot::client() {
    if (client_ && client_->is_open()) return &*client_;
    client_.reset();
    auto client = connect_server(pool_->server_, pool_->access_);
    if (!client) return client.status();
    client_.emplace(std::move(client.value()));
    pool_->count_opened();
    return &*client_;
}

void ConnectionPool::Slot::discard() { client_.reset(); }

Result<ConnectionPool::Slot> ConnectionPool::acquire(clock::time_point until) {
    MutexLock lock(mutex_);
    std::optional<clock::time_point> waited_since;
    while (idle_.empty() && lent_ + int(idle_.size()) >= size_) {
        if (!waited_since) {
            waited_since = clock::now();
            ++waits_;
        }
        if (!returned_.wait_until(mutex_, until) && clock::now() >= until) {
            wait_time_ += clock::now() - *waited_since;
            return Status::unavailable(fmt::format(
                "all {} connections to the server stayed busy until the give-up time", size_));
        }
    }
    if (waited_since) wait_time_ += clock::now() - *waited_since;
    ++lent_;
    std::optional<http::Client> client;
    if (!idle_.empty()) {
        // The most recently used: the least likely to have met the server's idle timeout.
        client.emplace(std::move(idle_.back()));
        idle_.pop_back();
    }
    return Slot(this, std::move(client));
}

void ConnectionPool::give_back(std::optional<http::Client> client) {
    {
        MutexLock lock(mutex_);
        --lent_;
        if (client && client->is_open()) idle_.push_back(std::move(*client));
    }
    // Outside the lock: a connection closed here costs a system call nobody waits on.
    client.reset();
    returned_.notify_one();
}

void ConnectionPool::count_opened() {
    MutexLock lock(mutex_);
    ++opened_;
}

ConnectionPool::Stats ConnectionPool::stats() const {
    MutexLock lock(mutex_);
    Stats out;
    out.size = size_;
    out.idle = int(idle_.size());
    out.lent = lent_;
    out.opened = opened_;
    out.waits = waits_;
    out.wait_time = std::chrono::duration_cast<std::chrono::milliseconds>(wait_time_);
    return out;
}

Poster::Poster(ServerUrl server, std::string worker_name, PostPolicy policy, ServerAccess access,
               int connections)
    : server_(server),
      access_(access),
      worker_name_(std::move(worker_name)),
      policy_(policy),
      pool_(std::move(server), std::move(access), connections) {}

Result<http::ClientResponse> Poster::attempt(ConnectionPool::Slot& slot, const Completion& c,
                                             const OutputBuffer* output) {
    auto connected = slot.client();
    if (!connected) return connected.status();
    http::Client& client = **connected;
    const MultipartFrame frame = multipart_frame(c, random_boundary());
    const std::uint64_t size = output ? output->size() : 0;
    http::Headers headers;
    headers.add("Content-Type", frame.content_type);
    headers.add("Content-Length", std::to_string(frame.head.size() + size + frame.tail.size()));
    headers.add("X-Netkeep-Worker", worker_name_);
    add_auth(headers, access_);
    auto failed = [&slot](Status s) -> Result<http::ClientResponse> {
        slot.discard();  // the connection is in an unknown state: never back into the pool
        return s;
    };
    if (auto s = client.send_request("POST", server_.prefix + "/worker/complete", {}, headers); !s)
        return failed(s);
    if (auto s = client.send_raw(frame.head); !s) return failed(s);
    if (output) {
        auto s =
            output->read_all([&client](std::string_view piece) { return client.send_raw(piece); });
        if (!s) return failed(s);
    }
    if (auto s = client.send_raw(frame.tail); !s) return failed(s);
    auto response = client.read_response();
    if (!response) return failed(response.status());
    if (!response->keep_alive) slot.discard();
    return response;
}

Poster::Outcome Poster::post(const Completion& c, const OutputBuffer* output,
                             clock::time_point give_up) {
    auto backoff = policy_.first_backoff;
    for (int attempt_no = 1;; ++attempt_no) {
        Result<http::ClientResponse> r = Status::unavailable("not tried");
        {
            auto slot = pool_.acquire(give_up);
            if (!slot) {
                r = slot.status();
            } else {
                const bool reused = slot->has_connection();
                r = attempt(*slot, c, output);
                // A kept-alive connection may have been closed by the server's idle timeout
                // while it waited in the pool: one more try on a new connection, at once and
                // quietly, in the same place.
                if (!r && reused) r = attempt(*slot, c, output);
            }
        }  // the place goes back before the backoff, for the other threads to post
        std::string error;
        if (r && r->status == 200) {
            log_line(LogLevel::info, "completion.posted",
                     {{"device", c.device}, {"job", c.job}, {"body", r->body}});
            return Outcome::recorded;
        }
        if (r && r->status >= 400 && r->status < 500) {
            log_line(LogLevel::error, "completion.rejected",
                     {{"device", c.device},
                      {"job", c.job},
                      {"status", std::to_string(r->status)},
                      {"body", r->body}});
            return Outcome::rejected;
        }
        error = r ? fmt::format("HTTP {}: {}", r->status, r->body) : r.status().to_string();
        if (clock::now() + backoff > give_up) {
            log_line(LogLevel::error, "completion.gave_up",
                     {{"device", c.device},
                      {"job", c.job},
                      {"attempts", std::to_string(attempt_no)},
                      {"error", error}});
            return Outcome::gave_up;
        }
        log_line(LogLevel::warn, "completion.retry",
                 {{"device", c.device},
                  {"job", c.job},
                  {"attempt", std::to_string(attempt_no)},
                  {"in_ms", std::to_string(backoff.count())},
                  {"error", error}});
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, policy_.max_backoff);
    }
}

}  // namespace netkeep::worker
