// Fuzz target: the worker's CLI session state machine (src/worker/session), driven the
// way drive() and the unit tests drive it: device output fed in chunks, quiet() when the
// device goes silent, no network and no clock. Each input runs without probes (the quiet
// period alone, with every check below) and with them (the invariants).
//
// Input: [flags] [split seed] transcript...
//   flags bits 0-1: prompt: ends_with "#", the default regex, regex "^\S+[#>]$", ends_with ">"
//   flags bit 2:    telnet login (user "u", password "p")
//   flags bits 3-4: 1 to 4 commands, "c0" to "c3"
//   flags bit 5:    the device closes the connection at the end
//   flags bit 6:    pager: the default (ends_with " --More-- ") or a regex one
//   flags bit 7:    newline "\r\n" instead of "\n"
//   In the transcript, byte 0x01 marks where the device goes quiet (it is not sent).
//
// Checks (session.hpp): the sink gets non-empty pieces adding up to output_bytes(); what
// the session sends is the login answers, pager spaces and the commands in order, each
// once; done means every command ran; a failure has a text; a finished session ignores
// further input; the kept line stays bounded. Without login and pager prompts, how the
// output was cut into reads must not change the result (pager and login prompts are
// recognised at the end of what was received, so there the cut legitimately matters).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "worker/session.hpp"

using netkeep::Status;
using netkeep::fuzz::Chunker;
using netkeep::worker::CliSession;
using netkeep::worker::Pattern;
using netkeep::worker::PatternSpec;
using netkeep::worker::SessionOptions;

namespace {

constexpr char k_quiet_mark = '\x01';

Pattern compile(PatternSpec spec) {
    auto p = Pattern::compile(spec);
    FUZZ_CHECK(p.is_ok());
    return p.value();
}

Pattern prompt_for(std::uint8_t flags) {
    switch (flags & 3) {
        case 0:
            return compile({PatternSpec::Kind::ends_with, "#"});
        case 1:
            return compile(netkeep::worker::default_prompt());
        case 2:
            return compile({PatternSpec::Kind::regex, R"(^\S+[#>]$)"});
        default:
            return compile({PatternSpec::Kind::ends_with, ">"});
    }
}

// probe: the probing session (issue 13); its sends include bare newlines, and where reads
// end may change its result (docs/worker.md#prompts), so only the invariants are checked.
SessionOptions make_options(std::uint8_t flags, bool probe) {
    std::vector<std::string> commands;
    for (int i = 0; i < 1 + ((flags >> 3) & 3); ++i) commands.push_back("c" + std::to_string(i));
    std::optional<netkeep::worker::Login> login;
    if (flags & 4) login = netkeep::worker::Login{"u", "p"};
    // Designated: fields added to SessionOptions later keep their defaults.
    return SessionOptions{
        .commands = std::move(commands),
        .prompt = prompt_for(flags),
        .pager = (flags & 64) ? compile({PatternSpec::Kind::regex, R"(-- ?More ?--\s*)"})
                              : compile(netkeep::worker::default_pager()),
        .newline = (flags & 128) ? "\r\n" : "\n",
        .login = std::move(login),
        .probe = probe,
    };
}

struct Outcome {
    std::string output;
    std::string sent;
    CliSession::Phase phase = CliSession::Phase::before_prompt;
    std::string failure;
    bool operator==(const Outcome&) const = default;
};

// Checks what the session sent: login answers, spaces for pagers, commands in order.
// Returns how many commands were sent.
std::size_t check_sent(const std::string& sent, const SessionOptions& o) {
    std::size_t pos = 0, commands = 0;
    auto take = [&](const std::string& word) {
        const std::string token = word + o.newline;
        if (sent.compare(pos, token.size(), token) != 0) return false;
        pos += token.size();
        return true;
    };
    while (pos < sent.size()) {
        if (sent[pos] == ' ') {
            ++pos;
        } else if (o.probe && take("")) {
            // a probe
        } else if (o.login && (take(o.login->user) || take(o.login->pass))) {
            FUZZ_CHECK(commands == 0);  // logging in happens before the first command
        } else {
            FUZZ_CHECK(commands < o.commands.size());
            FUZZ_CHECK(take(o.commands[commands]));
            ++commands;
        }
    }
    return commands;
}

Outcome run(const SessionOptions& options, std::string_view transcript, bool eof_at_end,
            std::optional<std::uint8_t> seed) {
    Outcome out;
    std::uint64_t sink_bytes = 0;
    CliSession s(options, [&](std::string_view piece) {
        FUZZ_CHECK(!piece.empty());
        sink_bytes += piece.size();
        out.output.append(piece);
        return Status::ok();
    });
    auto feed = [&](std::string_view bytes) {
        s.feed(bytes);
        out.sent += s.take_send();
        // The current line is capped (64 KiB, keeping its last 4 KiB when cut).
        FUZZ_CHECK(s.last_line().size() <= 64 * 1024 + 1);
    };

    std::string_view rest = transcript;
    while (!rest.empty()) {
        const auto mark = rest.find(k_quiet_mark);
        const std::string_view segment = rest.substr(0, mark);
        rest = mark == std::string_view::npos ? std::string_view{} : rest.substr(mark + 1);
        if (!seed) {
            feed(segment);
        } else {
            Chunker chunker(segment, *seed);
            while (!chunker.done()) feed(chunker.next());
        }
        if (mark == std::string_view::npos) break;
        if (s.wants_quiet()) s.quiet();
        out.sent += s.take_send();
    }
    if (eof_at_end) s.eof();
    out.sent += s.take_send();

    out.phase = s.phase();
    out.failure = s.failure();
    FUZZ_CHECK(s.output_bytes() == sink_bytes);
    FUZZ_CHECK((out.phase == CliSession::Phase::failed) == !out.failure.empty());

    const std::size_t sent_commands = check_sent(out.sent, options);
    switch (out.phase) {
        case CliSession::Phase::done:
            FUZZ_CHECK(sent_commands == options.commands.size());
            break;
        case CliSession::Phase::echo:
        case CliSession::Phase::output:
            FUZZ_CHECK(sent_commands > 0);
            FUZZ_CHECK(s.current_command() == options.commands[sent_commands - 1]);
            break;
        case CliSession::Phase::before_prompt:
        case CliSession::Phase::enable:
            FUZZ_CHECK(sent_commands == 0);
            break;
        case CliSession::Phase::failed:
            break;
    }

    // A finished session ignores whatever comes after.
    if (s.finished()) {
        s.feed("more output\r\nr1#");
        if (s.wants_quiet()) s.quiet();
        s.eof();
        s.fail("late failure");
        FUZZ_CHECK(s.phase() == out.phase);
        FUZZ_CHECK(s.failure() == out.failure);
        FUZZ_CHECK(s.take_send().empty());
        FUZZ_CHECK(s.output_bytes() == sink_bytes);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = data[0];
    const std::uint8_t seed = data[1];
    const std::string_view transcript = netkeep::fuzz::as_text(data + 2, size - 2);
    const SessionOptions options = make_options(flags, false);
    const bool eof_at_end = (flags & 32) != 0;
    const SessionOptions probing = make_options(flags, true);
    (void)run(probing, transcript, eof_at_end, std::nullopt);
    (void)run(probing, transcript, eof_at_end, seed);

    const Outcome whole = run(options, transcript, eof_at_end, std::nullopt);
    const Outcome chunked = run(options, transcript, eof_at_end, seed);
    // What the device sends, without the quiet marks: a pager prompt split by one still
    // reaches the session whole ("--Mor", quiet, "e--").
    std::string received(transcript);
    std::erase(received, k_quiet_mark);
    if (!options.login && received.find("More") == std::string::npos) FUZZ_CHECK(whole == chunked);
    return 0;
}
