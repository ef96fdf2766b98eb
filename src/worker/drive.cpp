#include "worker/transport.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "netkeep/json.hpp"

namespace netkeep::worker {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void time_out(CliSession& session, const Clocks& clocks, bool idle) {
    const std::string why =
        idle ? fmt::format("no output for {} s",
                           std::chrono::duration_cast<std::chrono::seconds>(clocks.idle).count())
             : fmt::format("the job's timeout of {} s passed", clocks.timeout_seconds);
    if (session.phase() == CliSession::Phase::enable) {
        session.fail(fmt::format("enable failed: {} waiting for the prompt after {}; last line: {}",
                                 why, json_quote(session.current_command()),
                                 session.shown_last_line()));
    } else if (session.phase() == CliSession::Phase::before_prompt) {
        session.fail(fmt::format("prompt not seen: {} without a prompt matching {}; last line: {}",
                                 why, session.prompt().describe(), session.shown_last_line()));
    } else {
        session.fail(fmt::format("timed out: {} while running {} after {} bytes of output", why,
                                 json_quote(session.current_command()), session.output_bytes()));
    }
}

}  // namespace

void drive(Transport& transport, CliSession& session, const Clocks& clocks) {
    std::string buffer(64 * 1024, '\0');
    auto last_byte = clock::now();
    while (!session.finished()) {
        if (auto send = session.take_send(); !send.empty()) {
            if (auto s = transport.write(send); !s) {
                session.eof(s.message());
                return;
            }
        }
        const auto now = clock::now();
        if (now >= clocks.deadline) {
            time_out(session, clocks, false);
            return;
        }
        auto until = clocks.deadline;
        const bool quiet = session.wants_quiet();
        if (quiet) {
            const auto confirm = last_byte + clocks.quiet;
            if (now >= confirm) {
                session.quiet();
                continue;
            }
            until = std::min(until, confirm);
        } else {
            const auto idle_end = last_byte + clocks.idle;
            if (now >= idle_end) {
                time_out(session, clocks, true);
                return;
            }
            until = std::min(until, idle_end);
        }
        const auto wait = std::max(milliseconds(1), std::chrono::ceil<milliseconds>(until - now));
        auto r = transport.read(buffer.data(), buffer.size(), wait);
        if (!r) {
            session.eof(r.status().message());
            return;
        }
        if (r->n > 0) {
            last_byte = clock::now();
            session.feed(std::string_view(buffer.data(), r->n));
        }
        if (r->eof) {
            session.eof();
            return;
        }
    }
}

}  // namespace netkeep::worker
