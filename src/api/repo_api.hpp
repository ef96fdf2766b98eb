#pragma once
// The read API's git-backed routes (docs/api.md): a task's versions, its config at a
// version, the diff of two versions, and the search over the newest config of every task.
// The versions come from the history index (no walk of git history); the bytes from the
// repository through netkeep/repo_reader.hpp. `at`, `from` and `to` must be commits in the
// task's own history, so no other object of the repository can be read through them.
//
// Threads: the io thread. Every libgit2 call (through the reader) runs on the blocking
// pool; the history index and the projection are read on the io thread before that.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "api/gate.hpp"
#include "api/history.hpp"
#include "engine/engine.hpp"
#include "http/router.hpp"
#include "netkeep/repo_reader.hpp"

namespace netkeep::api {

class RepoApi {
public:
    // Searches running at once; more are answered 503 (each takes two threads and reads
    // every newest config).
    static constexpr std::size_t k_max_searches = 2;

    RepoApi(engine::Engine& engine, Gate& gate, const HistoryIndex& history,
            asio::thread_pool& blocking)
        : engine_(engine), gate_(gate), history_(history), blocking_(blocking) {}

    // The repository to read, once the git writer has started (the routes are registered
    // before). It is opened on first use, off the io thread; one that does not open is
    // tried again at most every k_reopen_after. Without one the routes answer 503.
    void set_repo(std::string path);
    // For tests and tools that have a reader already.
    void set_reader(std::shared_ptr<const RepoReader> reader) { reader_ = std::move(reader); }

    Status add_routes(http::Router& router);

private:
    asio::awaitable<http::Response> versions(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> config(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> diff(http::Request& request, const Caller& caller);
    asio::awaitable<http::Response> search(http::Request& request, const Caller& caller);
    // Whether there is a reader, opening it if it is time to try.
    asio::awaitable<bool> ensure_reader();
    // The 503 answer while there is no reader.
    http::Response unavailable() const;

    engine::Engine& engine_;
    Gate& gate_;
    const HistoryIndex& history_;
    asio::thread_pool& blocking_;
    static constexpr std::chrono::seconds k_reopen_after{10};

    std::shared_ptr<const RepoReader> reader_;
    std::string repo_path_;  // empty: no git writer, nothing to read
    std::string why_not_ =
        "netkeepd runs without the git writer (--no-git-writer): no repository to read";
    std::chrono::steady_clock::time_point last_open_{};
    bool opening_ = false;
    std::size_t searches_ = 0;
};

}  // namespace netkeep::api
