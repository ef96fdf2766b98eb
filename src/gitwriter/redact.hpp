#pragma once
// A job's `redact` rules, compiled once per InventoryApplied and applied line by line to
// a completion before it is written to git (docs/jobs.md#redact).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/regex.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

class Redactor {
public:
    // The longest line the rules look at, without its ending. A longer line is written
    // to git unchanged (not redacted) and counted, so that the operator sees it
    // (docs/jobs.md#redact): configs have short lines, and the bound keeps the work and
    // memory per line small whatever a device sends. RE2 is linear in the line, so the
    // whole content is redacted in time linear in its size.
    static constexpr std::size_t k_max_line = 64 * 1024;

    // Compiles every rule (RE2, include/netkeep/regex.hpp, as the inventory loader checked
    // them). The replacement's $-syntax is parsed here, once.
    static Result<Redactor> compile(const std::vector<Redaction>& rules);

    bool empty() const { return rules_.empty(); }

    // One line, with its ending if it has one ("\n" or "\r\n"), appended to `out`. The
    // rules see the line without its ending, so `^` and `$` match at the line's start and
    // end as docs/jobs.md promises; the ending is put back unchanged. Rules apply in
    // order, each replacing every match. False when the line is longer than k_max_line:
    // it is then appended unchanged.
    bool redact_line(std::string_view line, std::string& out) const;

    // A whole text split after each '\n', each piece through redact_line (tests, small
    // content). `skipped` (may be null) receives the number of lines left unredacted.
    std::string redact_text(std::string_view text, std::uint64_t* skipped = nullptr) const;

private:
    // A replacement: literal text and capture-group references, in order.
    struct Piece {
        enum class Kind { literal, group, prefix, suffix };
        Kind kind = Kind::literal;
        std::string text;  // literal
        int group = 0;     // group: 0 is the whole match
    };
    struct Rule {
        Regex regex;
        std::vector<Piece> replace;
        // 1 + the highest group the replacement uses: RE2 finds fewer groups faster.
        std::size_t groups = 1;
    };
    std::string apply(const Rule& rule, std::string_view text) const;
    std::vector<Rule> rules_;
};

// Redacts content of any size as it streams: feed() pieces of any size, then finish();
// the redacted bytes go to `sink` in order. Memory is bounded by about k_max_line whatever
// the input: a line longer than that is passed through in pieces as it arrives.
class RedactStream {
public:
    using Sink = std::function<Status(std::string_view)>;
    RedactStream(const Redactor& rules, Sink sink) : rules_(rules), sink_(std::move(sink)) {}

    // The first error from the sink is returned, by this call and every later one.
    Status feed(std::string_view bytes);
    Status finish();

    std::uint64_t lines_skipped() const { return skipped_; }
    std::uint64_t bytes_out() const { return bytes_out_; }

private:
    Status emit(std::string_view bytes);
    Status end_line();

    const Redactor& rules_;
    Sink sink_;
    Status error_ = Status::ok();
    std::string line_;      // the current line, up to k_max_line + 2 bytes
    bool passing_ = false;  // the current line is too long: bytes go straight out
    std::string out_;       // reused for each redacted line
    std::uint64_t skipped_ = 0;
    std::uint64_t bytes_out_ = 0;
};

// What redact_file() did.
struct RedactedFile {
    std::uint64_t bytes_out = 0;      // the redacted size
    std::uint64_t lines_skipped = 0;  // lines longer than Redactor::k_max_line, kept as they were
};

// Writes the redacted content of `in_path` (which must hold exactly `size` bytes) to
// `out_path`, calling `on_input` with every piece of the original (the writer hashes it).
// Memory is bounded (RedactStream), whatever the lines. not_found when `in_path` is
// missing, corruption when its size differs, io_error otherwise; unavailable when
// `out_path` cannot be created or written (the destination's disk, not the content, which
// the git writer must not hold against the event: docs/git.md#quarantine).
Result<RedactedFile> redact_file(const Redactor& rules, const std::string& in_path,
                                 std::uint64_t size, const std::string& out_path,
                                 const std::function<void(std::string_view)>& on_input);

// What the writer needs from the inventory in force at a point in the log: each job's
// redaction rules and each device's group. Built from InventoryApplied events alone
// (structural load: no secrets resolved, no environment).
//
// A job or device that leaves the inventory keeps its last rules and group: a completion
// recorded just before the change is still redacted as its job said (never committed in
// the clear) and lands where the device's earlier files are.
class InventoryRules {
public:
    Status apply(std::uint64_t seq, const InventoryApplied& inventory);
    // nullptr: the job has no rules (the content goes to git unchanged).
    const Redactor* find(const std::string& job) const;
    // Empty when the device has no group.
    const std::string& group_of(const std::string& device) const;

private:
    std::unordered_map<std::string, std::shared_ptr<const Redactor>> jobs_;
    std::unordered_map<std::string, std::string> groups_;  // only devices that have one
};

}  // namespace netkeep::gitwriter
