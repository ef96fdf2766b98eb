#pragma once
// The output of an exec-channel command (contract §4, docs/worker.md#platforms), as pure
// functions of the bytes: stdout goes to the sink with "\r\n" folded to "\n" (as in a
// shell session) and, when asked, ANSI escape sequences removed; the total is capped by
// --max-output. stderr is discarded but its first line is kept (bounded) for the failure
// text. Tests feed it split at every position.
//
// Threads: one per command, used by one thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "netkeep/status.hpp"
#include "worker/session.hpp"

namespace netkeep::worker {

class ExecOutput {
public:
    // `total` counts the bytes already sent to the sink by earlier commands of the job;
    // `discard`: a setup command, nothing reaches the sink.
    ExecOutput(const CliSession::Sink& sink, bool strip_ansi, std::uint64_t max_output,
               std::uint64_t& total, bool discard)
        : sink_(sink),
          strip_ansi_(strip_ansi),
          max_output_(max_output),
          total_(total),
          discard_(discard) {}

    // stdout bytes; an error is the failure text's cause ("too large: ...", "output error").
    Status feed(std::string_view bytes);
    // The end of stdout: a last lone '\r' is passed on.
    Status finish();

private:
    Status emit(std::string_view bytes);

    const CliSession::Sink& sink_;
    bool strip_ansi_;
    std::uint64_t max_output_;
    std::uint64_t& total_;
    bool discard_;
    AnsiFilter ansi_;
    std::string filtered_, folded_;
    bool cr_pending_ = false;
};

// The first line of a stream (stderr), at most k_max bytes of it, without "\r".
class FirstLine {
public:
    static constexpr std::size_t k_max = 200;
    void feed(std::string_view bytes);
    const std::string& text() const { return text_; }

private:
    std::string text_;
    bool done_ = false;
};

}  // namespace netkeep::worker
