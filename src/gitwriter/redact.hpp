#pragma once
// A job's `redact` rules, compiled once per InventoryApplied and applied line by line to
// a completion before it is written to git (docs/jobs.md#redact).

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netkeep/events.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

class Redactor {
public:
    // Compiles every rule (ECMAScript, as the inventory loader checked them).
    static Result<Redactor> compile(const std::vector<Redaction>& rules);

    bool empty() const { return rules_.empty(); }

    // One line, with its ending if it has one ("\n" or "\r\n"). The rules see the line
    // without its ending, so `^` and `$` match at the line's start and end as docs/jobs.md
    // promises; the ending is put back unchanged. Rules apply in order, each replacing
    // every match. Fails only if std::regex gives up on the line (error_complexity,
    // error_stack): the content is then not written unredacted.
    Result<std::string> redact_line(std::string_view line) const;

    // A whole text split on '\n', each piece through redact_line (tests, small content).
    Result<std::string> redact_text(std::string_view text) const;

private:
    struct Rule {
        std::regex regex;
        std::string replace;
    };
    std::vector<Rule> rules_;
};

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
