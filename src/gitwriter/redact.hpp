#pragma once
// A job's `redact` rules, compiled once per InventoryApplied and applied line by line to
// a completion before it is written to git (docs/jobs.md#redact).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/regex.hpp"
#include "netkeep/sha256.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

class Redactor {
public:
    // The longest line the rules look at, without its ending. A longer line is written
    // to git unchanged (not redacted) and counted, so that the operator sees it
    // (docs/jobs.md#redact): configs have short lines, and the bound keeps the work and
    // memory per line small whatever a device sends. RE2 is linear in the line, so the
    // whole content is redacted in time linear in its size. Inside a block a longer line
    // is removed like any other (it cannot end the block).
    static constexpr std::size_t k_max_line = 64 * 1024;

    // Compiles every rule (RE2, include/netkeep/regex.hpp, as the inventory loader checked
    // them): the redact rules, then the noise rules that run on their output. The
    // replacement's $-syntax is parsed here, once.
    static Result<Redactor> compile(const std::vector<Redaction>& rules,
                                    const std::vector<NoiseRule>& noise = {});

    // No rule at all: the content goes to git as the worker sent it.
    bool empty() const { return rules_.empty() && noise_.empty(); }
    // Some noise rule is "ignore": the writer compares masked hashes before committing.
    bool has_ignore() const { return has_ignore_; }

    // One line outside any block, with its ending if it has one ("\n" or "\r\n"),
    // appended to `out` unless a delete_line or drop rule removes it. The rules see the
    // line without its ending, so `^` and `$` match at the line's start and end as
    // docs/jobs.md promises; the ending is put back unchanged. A block's begin is not
    // followed here (RedactStream does that). False when the line is longer than
    // k_max_line: it is then appended unchanged.
    bool redact_line(std::string_view line, std::string& out) const;

    // A whole text split after each '\n', through RedactStream (tests, small content).
    // `skipped` (may be null) receives the number of lines left unredacted.
    std::string redact_text(std::string_view text, std::uint64_t* skipped = nullptr) const;

    // Whether a stored line (without its ending) matches an "ignore" noise rule.
    bool ignored(std::string_view content) const;

private:
    friend class RedactStream;
    // A replacement: literal text and capture-group references, in order.
    struct Piece {
        enum class Kind { literal, group, prefix, suffix };
        Kind kind = Kind::literal;
        std::string text;  // literal
        int group = 0;     // group: 0 is the whole match
    };
    struct Rule {
        Redaction::Kind kind = Redaction::Kind::replace;
        Regex regex;  // replace, delete_line: the line; block: its begin line
        std::vector<Piece> replace;
        // 1 + the highest group the replacement uses: RE2 finds fewer groups faster.
        std::size_t groups = 1;
        std::optional<Regex> end;  // block: the line that closes it
        std::string stand_in;      // block: the line that stands in for it ("": none)
    };
    struct Noise {
        Regex regex;
        NoiseRule::Action action = NoiseRule::Action::drop;
    };
    // What the rules make of one line outside a block (content without its ending).
    struct Outcome {
        bool kept = true;                  // false: delete_line or drop removed it
        std::optional<std::size_t> block;  // a block opens after it (the rule's index)
    };
    static Result<Rule> compile_rule(const Redaction& rule);
    std::string apply(const Rule& rule, std::string_view text) const;
    // `text` receives the line as rewritten (valid when kept).
    Outcome process(std::string_view content, std::string& text) const;
    std::vector<Rule> rules_;
    std::vector<Noise> noise_;
    bool has_ignore_ = false;
};

// Redacts content of any size as it streams: feed() pieces of any size, then finish();
// the redacted bytes go to `sink` in order. Memory is bounded by about k_max_line whatever
// the input: a line longer than that is passed through in pieces as it arrives (or, inside
// a block, dropped as it arrives). A block's lines are never held: they are dropped one by
// one, and output that ends inside a block loses the rest (fail closed).
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
    // A line inside the open block: removed; the first one brings the stand-in line.
    Status remove_in_block(std::string_view ending);

    const Redactor& rules_;
    Sink sink_;
    Status error_ = Status::ok();
    std::string line_;                  // the current line, up to k_max_line + 2 bytes
    bool passing_ = false;              // the current line is too long: bytes go straight out
    bool dropping_ = false;             // the current line is too long and inside a block: dropped
    std::optional<std::size_t> block_;  // the open block's rule
    bool stood_in_ = false;             // the open block's stand-in line is out
    std::string out_;                   // reused for each redacted line
    std::string text_;                  // reused: the line as the rules rewrite it
    std::uint64_t skipped_ = 0;
    std::uint64_t bytes_out_ = 0;
};

// The SHA-256 of stored content with the text of each line that matches an "ignore" rule
// replaced by a fixed marker (docs/jobs.md#noise): two contents that differ only in the
// values of ignored lines hash the same; adding, removing or moving one does not.
// Lines are split as RedactStream splits them; a line longer than k_max_line is never
// ignored. Memory is bounded by about k_max_line.
class MaskedHash {
public:
    explicit MaskedHash(const Redactor& rules) : rules_(rules) {}
    void feed(std::string_view bytes);
    // 32 raw bytes; the object is done afterwards.
    std::string finish();

private:
    void end_line();
    const Redactor& rules_;
    Sha256 hash_;
    std::string line_;
    bool passing_ = false;
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
                                 const std::function<void(std::string_view)>& on_input,
                                 const std::function<void(std::string_view)>& on_output = {});

// What the writer needs from the inventory in force at a point in the log: each task's
// content rules (content_rules(): the job's own, else its device's platform's) and each
// device's group. Built from InventoryApplied events alone (structural load: no secrets
// resolved, no environment).
//
// Each distinct rule list is compiled once per inventory: tasks whose rules come from the
// same place (one job's own, one platform's) share one Redactor, so 10,000 devices of one
// platform cost one compile, and a map entry each.
//
// A job or device that leaves the inventory keeps its last rules and group: a completion
// recorded just before the change is still redacted as its task said (never committed in
// the clear) and lands where the device's earlier files are.
class InventoryRules {
public:
    Status apply(std::uint64_t seq, const InventoryApplied& inventory);
    // The same from a loaded inventory (tests build one by hand, with platforms).
    Status apply(std::uint64_t seq, const Inventory& inventory);
    // nullptr: the task has no rules (the content goes to git unchanged). A pair that was
    // never a task falls back to its job's own rules.
    const Redactor* find(const std::string& device, const std::string& job) const;
    // Empty when the device has no group.
    const std::string& group_of(const std::string& device) const;

private:
    using Compiled = std::shared_ptr<const Redactor>;
    std::unordered_map<std::string, Compiled> tasks_;      // task_key(device, job)
    std::unordered_map<std::string, Compiled> jobs_;       // the job's own rules
    std::unordered_map<std::string, std::string> groups_;  // only devices that have one
};

}  // namespace netkeep::gitwriter
