#include "gitwriter/redact.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/posix.hpp"

namespace netkeep::gitwriter {

namespace {

constexpr std::size_t k_chunk = 64 * 1024;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<Redactor::Rule> Redactor::compile_rule(const Redaction& rule) {
    auto compiled = [](const std::string& re) -> Result<Regex> {
        auto regex = Regex::compile(re);
        if (!regex)
            return Status::invalid_argument(fmt::format("redact regex '{}' does not compile: {}",
                                                        re, regex.status().message()));
        return regex;
    };
    auto regex = compiled(rule.regex);
    if (!regex) return regex.status();
    Rule out{rule.kind, std::move(*regex), {}, 1, std::nullopt, {}};
    if (rule.kind == Redaction::Kind::delete_line) return out;
    if (rule.kind == Redaction::Kind::block) {
        auto end = compiled(rule.end);
        if (!end) return end.status();
        out.end = std::move(*end);
        // One line: a line break in it would make lines of its own, seen by no rule.
        out.stand_in = rule.replace;
        std::replace_if(
            out.stand_in.begin(), out.stand_in.end(), [](char c) { return c == '\n' || c == '\r'; },
            ' ');
        return out;
    }
    // The replacement syntax of the ECMAScript rules netkeep used before RE2 (as
    // libstdc++'s regex_replace reads it), kept so that existing inventories mean the
    // same: $1..$99 (two digits when there are two; a group the rule does not have
    // inserts nothing), $& the match, $` and $' the text before and after it, $$ a '$';
    // any other '$' is literal.
    std::vector<Piece>& pieces = out.replace;
    auto literal = [&](std::string_view text) {
        if (pieces.empty() || pieces.back().kind != Piece::Kind::literal)
            pieces.push_back(Piece{Piece::Kind::literal, {}, 0});
        pieces.back().text.append(text);
    };
    const std::string& r = rule.replace;
    for (std::size_t i = 0; i < r.size(); ++i) {
        if (r[i] != '$' || i + 1 == r.size()) {
            literal(std::string_view(&r[i], 1));
            continue;
        }
        const char next = r[i + 1];
        if (next == '$') {
            literal("$");
            ++i;
        } else if (next == '&') {
            pieces.push_back(Piece{Piece::Kind::group, {}, 0});
            ++i;
        } else if (next == '`') {
            pieces.push_back(Piece{Piece::Kind::prefix, {}, 0});
            ++i;
        } else if (next == '\'') {
            pieces.push_back(Piece{Piece::Kind::suffix, {}, 0});
            ++i;
        } else if (is_digit(next)) {
            int n = next - '0';
            ++i;
            if (i + 1 < r.size() && is_digit(r[i + 1])) n = n * 10 + (r[++i] - '0');
            if (n <= out.regex.group_count()) pieces.push_back(Piece{Piece::Kind::group, {}, n});
        } else {
            literal("$");
        }
    }
    for (const Piece& piece : pieces)
        if (piece.kind == Piece::Kind::group)
            out.groups = std::max(out.groups, std::size_t(piece.group) + 1);
    return out;
}

Result<Redactor> Redactor::compile(const std::vector<Redaction>& rules,
                                   const std::vector<NoiseRule>& noise) {
    Redactor out;
    for (const auto& rule : rules) {
        auto compiled = compile_rule(rule);
        if (!compiled) return compiled.status();
        out.rules_.push_back(std::move(*compiled));
    }
    for (const auto& rule : noise) {
        auto regex = Regex::compile(rule.regex);
        if (!regex)
            return Status::invalid_argument(fmt::format("noise regex '{}' does not compile: {}",
                                                        rule.regex, regex.status().message()));
        out.noise_.push_back(Noise{std::move(*regex), rule.action});
        if (rule.action == NoiseRule::Action::ignore) out.has_ignore_ = true;
    }
    return out;
}

std::string Redactor::apply(const Rule& rule, std::string_view text) const {
    // Empty views from the caller may have no data pointer; matches are located by pointer.
    if (text.data() == nullptr) text = std::string_view("", 0);
    const std::size_t n_groups = rule.groups;
    std::string_view stack[10];
    std::vector<std::string_view> heap;
    std::span<std::string_view> groups(stack, std::min(n_groups, std::size_t(10)));
    if (n_groups > 10) {
        heap.resize(n_groups);
        groups = heap;
    }
    std::string out;
    std::size_t pos = 0;       // where the next search starts
    std::size_t previous = 0;  // where the previous match ended ($` starts there)
    // Each search starts where the previous match ended, so the line is scanned once.
    // As std::regex_replace did: an empty match is replaced and the byte after it copied,
    // so the next search starts one byte further (an empty match may follow a non-empty
    // one: "x*" on "xxa" gives "--a-").
    while (pos <= text.size()) {
        if (!rule.regex.search(text, pos, groups)) break;
        const std::string_view match = groups[0];
        const std::size_t begin = std::size_t(match.data() - text.data());
        out.append(text.substr(pos, begin - pos));
        for (const Piece& piece : rule.replace) {
            switch (piece.kind) {
                case Piece::Kind::literal:
                    out += piece.text;
                    break;
                case Piece::Kind::group:
                    out.append(groups[std::size_t(piece.group)]);
                    break;
                case Piece::Kind::prefix:
                    out.append(text.substr(previous, begin - previous));
                    break;
                case Piece::Kind::suffix:
                    out.append(text.substr(begin + match.size()));
                    break;
            }
        }
        pos = previous = begin + match.size();
        if (match.empty()) {
            if (pos == text.size()) return out;
            out += text[pos++];
        }
    }
    if (pos < text.size()) out.append(text.substr(pos));
    return out;
}

Redactor::Outcome Redactor::process(std::string_view content, std::string& text) const {
    Outcome outcome;
    text.assign(content);
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        const Rule& rule = rules_[i];
        switch (rule.kind) {
            case Redaction::Kind::replace:
                text = apply(rule, text);
                break;
            case Redaction::Kind::delete_line:
                // Later rules are not run; a block this line opened stays open (fail closed).
                if (rule.regex.search(text)) {
                    outcome.kept = false;
                    return outcome;
                }
                break;
            case Redaction::Kind::block:
                if (!outcome.block && rule.regex.search(text)) outcome.block = i;
                break;
        }
    }
    for (const Noise& noise : noise_) {
        if (noise.action == NoiseRule::Action::drop && noise.regex.search(text)) {
            outcome.kept = false;
            break;
        }
    }
    return outcome;
}

namespace {

std::string_view ending_of(std::string_view line) {
    if (line.ends_with("\r\n")) return line.substr(line.size() - 2);
    if (line.ends_with('\n')) return line.substr(line.size() - 1);
    return {};
}

}  // namespace

bool Redactor::redact_line(std::string_view line, std::string& out) const {
    const std::string_view ending = ending_of(line);
    std::string_view content = line.substr(0, line.size() - ending.size());
    if (content.size() > k_max_line) {
        out.append(line);
        return false;
    }
    if (empty()) {
        out.append(line);
        return true;
    }
    std::string text;
    if (process(content, text).kept) {
        out += text;
        out.append(ending);
    }
    return true;
}

bool Redactor::ignored(std::string_view content) const {
    for (const Noise& noise : noise_)
        if (noise.action == NoiseRule::Action::ignore && noise.regex.search(content)) return true;
    return false;
}

std::string Redactor::redact_text(std::string_view text, std::uint64_t* skipped) const {
    std::string out;
    RedactStream stream(*this, [&](std::string_view bytes) {
        out.append(bytes);
        return Status::ok();
    });
    (void)stream.feed(text);  // the sink never fails
    (void)stream.finish();
    if (skipped) *skipped = stream.lines_skipped();
    return out;
}

Status RedactStream::emit(std::string_view bytes) {
    if (!error_ || bytes.empty()) return error_;
    bytes_out_ += bytes.size();
    error_ = sink_(bytes);
    return error_;
}

Status RedactStream::remove_in_block(std::string_view ending) {
    if (stood_in_) return error_;
    stood_in_ = true;
    const std::string& stand_in = rules_.rules_[*block_].stand_in;
    if (stand_in.empty()) return error_;
    out_.assign(stand_in).append(ending);
    return emit(out_);
}

Status RedactStream::end_line() {
    const std::string_view ending = ending_of(line_);
    const std::string_view content =
        std::string_view(line_).substr(0, line_.size() - ending.size());
    if (block_) {
        // Inside a block only its end is looked for, on the line as the device sent it.
        if (content.size() > Redactor::k_max_line || !rules_.rules_[*block_].end->search(content)) {
            Status s = remove_in_block(ending);
            line_.clear();
            return s;
        }
        block_.reset();  // the end line stays, and goes through the rules like any other
    }
    out_.clear();
    if (content.size() > Redactor::k_max_line) {
        ++skipped_;
        out_.assign(line_);
    } else {
        Redactor::Outcome outcome = rules_.process(content, text_);
        if (outcome.kept) out_.assign(text_).append(ending);
        if (outcome.block) {
            block_ = outcome.block;
            stood_in_ = false;
        }
    }
    line_.clear();
    return emit(out_);
}

Status RedactStream::feed(std::string_view bytes) {
    // line_ holds at most k_max_line + 1 bytes without a '\n' (a line at the limit, and
    // maybe the '\r' of its "\r\n"), and a complete line of at most k_max_line + 2; one
    // more byte and the line is certainly too long: what there is goes out unchanged,
    // and so does the rest of the line as it arrives (inside a block: all of it is
    // dropped, and the line cannot end the block).
    constexpr std::size_t k_hold = Redactor::k_max_line + 1;
    while (!bytes.empty() && error_) {
        const std::size_t nl = bytes.find('\n');
        const std::size_t len = nl == std::string_view::npos ? bytes.size() : nl + 1;
        if (passing_ || dropping_) {
            if (passing_)
                if (Status s = emit(bytes.substr(0, len)); !s) return s;
            if (nl != std::string_view::npos) passing_ = dropping_ = false;
        } else if (nl != std::string_view::npos && line_.size() + len <= k_hold + 1) {
            line_.append(bytes.substr(0, len));
            if (Status s = end_line(); !s) return s;
        } else if (nl == std::string_view::npos && line_.size() + len <= k_hold) {
            line_.append(bytes);
        } else if (block_) {
            dropping_ = true;
            line_.clear();
            if (Status s = remove_in_block("\n"); !s) return s;
            continue;  // the rest of the line, dropped
        } else {
            ++skipped_;
            passing_ = true;
            if (Status s = emit(line_); !s) return s;
            line_.clear();
            continue;  // the rest of the line, passed through
        }
        bytes.remove_prefix(len);
    }
    return error_;
}

Status RedactStream::finish() {
    if (error_ && !passing_ && !dropping_ && !line_.empty()) return end_line();
    return error_;
}

void MaskedHash::end_line() {
    const std::string_view ending = ending_of(line_);
    const std::string_view content =
        std::string_view(line_).substr(0, line_.size() - ending.size());
    if (content.size() > Redactor::k_max_line || !rules_.ignored(content)) {
        hash_.update(line_);
    } else {
        // An ignored line still counts where it is: its value is left out, its place is not,
        // so moving or adding one (a FortiOS ENC password to another user) is a change.
        static constexpr std::string_view k_marker("\0ignored\0", 9);
        hash_.update(k_marker);
        hash_.update(ending);
    }
    line_.clear();
}

void MaskedHash::feed(std::string_view bytes) {
    constexpr std::size_t k_hold = Redactor::k_max_line + 1;  // as RedactStream::feed
    while (!bytes.empty()) {
        const std::size_t nl = bytes.find('\n');
        const std::size_t len = nl == std::string_view::npos ? bytes.size() : nl + 1;
        if (passing_) {
            hash_.update(bytes.substr(0, len));
            if (nl != std::string_view::npos) passing_ = false;
        } else if (nl != std::string_view::npos && line_.size() + len <= k_hold + 1) {
            line_.append(bytes.substr(0, len));
            end_line();
        } else if (nl == std::string_view::npos && line_.size() + len <= k_hold) {
            line_.append(bytes);
        } else {
            passing_ = true;  // too long to be ignored: hashed as it comes
            hash_.update(line_);
            line_.clear();
            continue;
        }
        bytes.remove_prefix(len);
    }
}

std::string MaskedHash::finish() {
    if (!passing_ && !line_.empty()) end_line();
    auto digest = hash_.finish();
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

Result<RedactedFile> redact_file(const Redactor& rules, const std::string& in_path,
                                 std::uint64_t size, const std::string& out_path,
                                 const std::function<void(std::string_view)>& on_input,
                                 const std::function<void(std::string_view)>& on_output) {
    UniqueFd in{::open(in_path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.get() < 0) return errno_status(errno, "opening", in_path);
    UniqueFd out{::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    // The destination's errors are its disk's fault, not the content's: unavailable.
    auto destination_fault = [&](std::string_view what) {
        return Status::unavailable(errno_status(errno, what, out_path).message());
    };
    if (out.get() < 0) return destination_fault("creating");
    RedactStream stream(rules, [&](std::string_view bytes) -> Status {
        if (on_output) on_output(bytes);
        while (!bytes.empty()) {
            ssize_t n = ::write(out.get(), bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return destination_fault("writing");
            bytes.remove_prefix(std::size_t(n));
        }
        return Status::ok();
    });
    std::uint64_t read = 0;
    std::string buf(k_chunk, '\0');
    for (;;) {
        ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_status(errno, "reading", in_path);
        if (n == 0) break;
        std::string_view chunk(buf.data(), std::size_t(n));
        read += chunk.size();
        on_input(chunk);
        if (Status s = stream.feed(chunk); !s) return s;
    }
    if (Status s = stream.finish(); !s) return s;
    if (read != size)
        return Status::corruption(fmt::format("{} has {} bytes, expected {}", in_path, read, size));
    return RedactedFile{stream.bytes_out(), stream.lines_skipped()};
}

Status InventoryRules::apply(std::uint64_t seq, const InventoryApplied& inventory) {
    auto parsed =
        parse_inventory(InventoryFiles{inventory.devices_json, inventory.jobs_json},
                        InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
    if (!parsed) {
        return Status::corruption(fmt::format("seq {}: InventoryApplied does not load: {}", seq,
                                              parsed.status().to_string()));
    }
    return apply(seq, *parsed);
}

Status InventoryRules::apply(std::uint64_t seq, const Inventory& inventory) {
    // Compile everything before changing anything: all of this inventory or none of it.
    // Where a task's redact and noise rules come from ("j:" a job's own, "p:" its device's
    // platform's, "" none): tasks with the same sources share one compiled Redactor.
    std::unordered_map<std::string, Compiled> compiled;
    // `rules` is called only for a key not compiled yet: most tasks share their rules.
    auto compile = [&](const std::string& key, auto rules,
                       std::string_view whose) -> Result<Compiled> {
        if (auto it = compiled.find(key); it != compiled.end()) return it->second;
        const ContentRules content = rules();
        auto redactor = Redactor::compile(content.redact, content.noise);
        if (!redactor)
            return Status::corruption(
                fmt::format("seq {}: job '{}': {}", seq, whose, redactor.status().message()));
        Compiled out =
            redactor->empty() ? nullptr : std::make_shared<const Redactor>(std::move(*redactor));
        compiled.emplace(key, out);
        return out;
    };
    auto next_jobs = jobs_;
    for (const JobSpec& job : inventory.jobs) {
        auto own = [&] {
            return ContentRules{job.redact.value_or(std::vector<Redaction>{}),
                                job.noise.value_or(std::vector<NoiseRule>{})};
        };
        auto c = compile("j:" + job.name + "\n" + "j:" + job.name, own, job.name);
        if (!c) return c.status();
        next_jobs[job.name] = *c;
    }
    auto next_tasks = tasks_;
    for (const TaskSpec& task : inventory.tasks) {
        const JobSpec& job = inventory.jobs.at(task.job);
        const DeviceSpec& device = inventory.devices.at(task.device);
        const std::string platform = device.platform.empty() ? "" : "p:" + device.platform;
        std::string key = (job.redact ? "j:" + job.name : platform) + "\n" +
                          (job.noise ? "j:" + job.name : platform);
        auto c = compile(
            key, [&] { return content_rules(inventory, task); }, job.name);
        if (!c) return c.status();
        next_tasks[task_key(device.name, job.name)] = *c;
    }
    jobs_ = std::move(next_jobs);
    tasks_ = std::move(next_tasks);
    for (const auto& device : inventory.devices) {
        if (!device.group.empty())
            groups_[device.name] = device.group;
        else if (auto it = groups_.find(device.name); it != groups_.end())
            groups_.erase(it);  // present and ungrouped now: no longer in its old group
    }
    return Status::ok();
}

const Redactor* InventoryRules::find(const std::string& device, const std::string& job) const {
    if (auto it = tasks_.find(task_key(device, job)); it != tasks_.end()) return it->second.get();
    auto it = jobs_.find(job);
    return it == jobs_.end() ? nullptr : it->second.get();
}

const std::string& InventoryRules::group_of(const std::string& device) const {
    static const std::string none;
    auto it = groups_.find(device);
    return it == groups_.end() ? none : it->second;
}

}  // namespace netkeep::gitwriter
