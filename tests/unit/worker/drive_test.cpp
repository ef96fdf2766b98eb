// The session loop with its clocks, over a scripted transport (no sockets): the quiet
// period confirms prompts, the idle and total timeouts fail with their texts.
#include <doctest/doctest.h>

#include <cstring>
#include <deque>
#include <thread>

#include "worker/transport.hpp"

using namespace netkeep;
using namespace netkeep::worker;
using namespace std::chrono_literals;

namespace {

// Each step: after the worker sent `after_send` (accumulated), the device waits `delay`
// then says `bytes`; `close` ends the stream after the last step.
struct Step {
    std::string after_send;
    std::chrono::milliseconds delay;
    std::string bytes;
};

class Scripted final : public Transport {
public:
    Scripted(std::deque<Step> steps, bool close) : steps_(std::move(steps)), close_(close) {}

    Result<ReadResult> read(char* buffer, std::size_t size,
                            std::chrono::milliseconds timeout) override {
        if (steps_.empty() || !sent_.ends_with(steps_.front().after_send)) {
            if (steps_.empty() && close_) return ReadResult{0, true};
            std::this_thread::sleep_for(timeout);
            return ReadResult{};
        }
        Step& s = steps_.front();
        if (!ready_) {
            ready_at_ = std::chrono::steady_clock::now() + s.delay;
            ready_ = true;
        }
        auto now = std::chrono::steady_clock::now();
        if (now < ready_at_) {
            std::this_thread::sleep_for(
                std::min<std::chrono::nanoseconds>(timeout, ready_at_ - now));
            if (std::chrono::steady_clock::now() < ready_at_) return ReadResult{};
        }
        const std::size_t n = std::min(size, s.bytes.size());
        std::memcpy(buffer, s.bytes.data(), n);
        s.bytes.erase(0, n);
        if (s.bytes.empty()) {
            steps_.pop_front();
            ready_ = false;
        }
        return ReadResult{n, false};
    }
    Status write(std::string_view bytes) override {
        sent_.append(bytes);
        return Status::ok();
    }
    std::string sent_;

private:
    std::deque<Step> steps_;
    bool close_;
    bool ready_ = false;
    std::chrono::steady_clock::time_point ready_at_;
};

// Without probes: the quiet period alone confirms prompts (the fallback).
SessionOptions opts(bool probe = false) {
    SessionOptions o{{"show run"},
                     Pattern::compile({PatternSpec::Kind::ends_with, "#"}).value(),
                     Pattern::compile(default_pager()).value(),
                     "\n",
                     {}};
    o.probe = probe;
    return o;
}

Clocks clocks(std::chrono::milliseconds total, std::chrono::milliseconds idle) {
    return Clocks{std::chrono::steady_clock::now() + total,
                  std::chrono::duration_cast<std::chrono::seconds>(total).count(), idle, 50ms};
}

}  // namespace

TEST_CASE("a prompt-like line followed within the quiet period is output; the final prompt ends") {
    Scripted t({{"", 0ms, "r1#"},
                {"show run\n", 0ms, "show run\r\nA\r\nr1#"},
                {"show run\n", 20ms, "\r\nB\r\nr1#"}},
               false);
    std::string out;
    CliSession s(opts(), [&](std::string_view b) {
        out.append(b);
        return Status::ok();
    });
    drive(t, s, clocks(5s, 2s));
    CHECK(s.phase() == CliSession::Phase::done);
    CHECK(out == "A\nr1#\nB\n");
    CHECK(t.sent_ == "show run\n");
}

TEST_CASE("no prompt: prompt not seen, with the last line") {
    Scripted t({{"", 0ms, "Press RETURN to get started"}}, false);
    CliSession s(opts(), [](std::string_view) { return Status::ok(); });
    drive(t, s, clocks(300ms, 2s));
    CHECK(s.phase() == CliSession::Phase::failed);
    CHECK(s.failure() ==
          "prompt not seen: the job's timeout of 0 s passed without a prompt matching "
          "{\"ends_with\": \"#\"}; last line: \"Press RETURN to get started\"");
}

TEST_CASE("silence during a command: timed out (idle), then the job's timeout") {
    Scripted t({{"", 0ms, "r1#"}, {"show run\n", 0ms, "show run\r\nhostname r1\r\n"}}, false);
    CliSession s(opts(), [](std::string_view) { return Status::ok(); });
    drive(t, s, clocks(5s, 1s));
    CHECK(s.failure() ==
          "timed out: no output for 1 s while running \"show run\" after 12 bytes of output");

    Scripted t2({{"", 0ms, "r1#"}, {"show run\n", 0ms, "show run\r\n"}}, false);
    CliSession s2(opts(), [](std::string_view) { return Status::ok(); });
    drive(t2, s2, Clocks{std::chrono::steady_clock::now() + 1s, 1, 10s, 50ms});
    CHECK(s2.failure() ==
          "timed out: the job's timeout of 1 s passed while running \"show run\" after 0 bytes of "
          "output");
}

TEST_CASE("the device closes mid-output") {
    Scripted t({{"", 0ms, "r1#"}, {"show run\n", 0ms, "show run\r\nhalf\r\n"}}, true);
    CliSession s(opts(), [](std::string_view) { return Status::ok(); });
    drive(t, s, clocks(5s, 2s));
    CHECK(s.failure() ==
          "disconnected mid-output: the device closed the connection while running \"show run\" "
          "after 5 bytes of output");
}

TEST_CASE("probes answered at once: no quiet period is waited for") {
    Scripted t({{"", 0ms, "r1#"},
                {"\n", 0ms, "\r\nr1#"},
                {"show run\n", 0ms, "show run\r\nA\r\nr1#"},
                {"show run\n\n", 0ms, "\r\nr1#"}},
               false);
    std::string out;
    CliSession s(opts(true), [&](std::string_view b) {
        out.append(b);
        return Status::ok();
    });
    const auto start = std::chrono::steady_clock::now();
    // A quiet period of 2 s: the run must not wait for it.
    drive(t, s, Clocks{start + 10s, 10, 5s, 2s});
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(s.phase() == CliSession::Phase::done);
    CHECK(out == "A\n");
    CHECK(t.sent_ == "\nshow run\n\n");
    CHECK(s.probing());
}

TEST_CASE("a device that ignores the probe: the quiet period ends the command, as before") {
    Scripted t({{"", 0ms, "r1#"}, {"show run\n", 0ms, "show run\r\nA\r\nr1#"}}, false);
    std::string out;
    CliSession s(opts(true), [&](std::string_view b) {
        out.append(b);
        return Status::ok();
    });
    drive(t, s, clocks(5s, 2s));
    CHECK(s.phase() == CliSession::Phase::done);
    CHECK(out == "A\n");
    // One probe at login, unanswered; none after.
    CHECK(t.sent_ == "\nshow run\n");
    CHECK_FALSE(s.probing());
}
