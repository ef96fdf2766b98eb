#include "gitwriter/redact.hpp"

#include <fmt/format.h>

namespace netkeep::gitwriter {

Result<Redactor> Redactor::compile(const std::vector<Redaction>& rules) {
    Redactor out;
    for (const auto& rule : rules) {
        try {
            out.rules_.push_back({std::regex(rule.regex, std::regex::ECMAScript), rule.replace});
        } catch (const std::regex_error& e) {
            return Status::invalid_argument(
                fmt::format("redact regex '{}' does not compile: {}", rule.regex, e.what()));
        }
    }
    return out;
}

Result<std::string> Redactor::redact_line(std::string_view line) const {
    std::string_view ending;
    if (line.ends_with("\r\n"))
        ending = line.substr(line.size() - 2);
    else if (line.ends_with('\n'))
        ending = line.substr(line.size() - 1);
    std::string text(line.substr(0, line.size() - ending.size()));
    try {
        for (const auto& rule : rules_) text = std::regex_replace(text, rule.regex, rule.replace);
    } catch (const std::regex_error& e) {
        return Status::invalid_argument(
            fmt::format("redaction failed on a line of {} bytes: {}", line.size(), e.what()));
    }
    text.append(ending);
    return text;
}

Result<std::string> Redactor::redact_text(std::string_view text) const {
    std::string out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::size_t len = nl == std::string_view::npos ? text.size() : nl + 1;
        auto line = redact_line(text.substr(0, len));
        if (!line) return line.status();
        out += *line;
        text.remove_prefix(len);
    }
    return out;
}

Status InventoryRules::apply(std::uint64_t seq, const InventoryApplied& inventory) {
    auto parsed =
        parse_inventory(InventoryFiles{inventory.devices_json, inventory.jobs_json},
                        InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
    if (!parsed) {
        return Status::corruption(fmt::format("seq {}: InventoryApplied does not load: {}", seq,
                                              parsed.status().to_string()));
    }
    // Compile everything before changing anything: all of this inventory or none of it.
    std::unordered_map<std::string, std::shared_ptr<const Redactor>> next = jobs_;
    for (const auto& job : parsed->jobs) {
        auto redactor = Redactor::compile(job.redact);
        if (!redactor)
            return Status::corruption(
                fmt::format("seq {}: job '{}': {}", seq, job.name, redactor.status().message()));
        next[job.name] =
            redactor->empty() ? nullptr : std::make_shared<const Redactor>(std::move(*redactor));
    }
    jobs_ = std::move(next);
    for (const auto& device : parsed->devices) {
        if (!device.group.empty())
            groups_[device.name] = device.group;
        else if (auto it = groups_.find(device.name); it != groups_.end())
            groups_.erase(it);  // present and ungrouped now: no longer in its old group
    }
    return Status::ok();
}

const Redactor* InventoryRules::find(const std::string& job) const {
    auto it = jobs_.find(job);
    return it == jobs_.end() ? nullptr : it->second.get();
}

const std::string& InventoryRules::group_of(const std::string& device) const {
    static const std::string none;
    auto it = groups_.find(device);
    return it == groups_.end() ? none : it->second;
}

}  // namespace netkeep::gitwriter
