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

Result<Redactor> Redactor::compile(const std::vector<Redaction>& rules) {
    Redactor out;
    for (const auto& rule : rules) {
        auto regex = Regex::compile(rule.regex);
        if (!regex)
            return Status::invalid_argument(fmt::format("redact regex '{}' does not compile: {}",
                                                        rule.regex, regex.status().message()));
        // The replacement syntax of the ECMAScript rules netkeep used before RE2 (as
        // libstdc++'s regex_replace reads it), kept so that existing inventories mean the
        // same: $1..$99 (two digits when there are two; a group the rule does not have
        // inserts nothing), $& the match, $` and $' the text before and after it, $$ a '$';
        // any other '$' is literal.
        std::vector<Piece> pieces;
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
                if (n <= regex->group_count()) pieces.push_back(Piece{Piece::Kind::group, {}, n});
            } else {
                literal("$");
            }
        }
        std::size_t groups = 1;
        for (const Piece& piece : pieces)
            if (piece.kind == Piece::Kind::group)
                groups = std::max(groups, std::size_t(piece.group) + 1);
        out.rules_.push_back(Rule{std::move(*regex), std::move(pieces), groups});
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

bool Redactor::redact_line(std::string_view line, std::string& out) const {
    std::string_view ending;
    if (line.ends_with("\r\n"))
        ending = line.substr(line.size() - 2);
    else if (line.ends_with('\n'))
        ending = line.substr(line.size() - 1);
    std::string_view content = line.substr(0, line.size() - ending.size());
    if (content.size() > k_max_line) {
        out.append(line);
        return false;
    }
    if (rules_.empty()) {
        out.append(line);
        return true;
    }
    std::string text = apply(rules_.front(), content);
    for (std::size_t i = 1; i < rules_.size(); ++i) text = apply(rules_[i], text);
    out += text;
    out.append(ending);
    return true;
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

Status RedactStream::end_line() {
    out_.clear();
    if (!rules_.redact_line(line_, out_)) ++skipped_;
    line_.clear();
    return emit(out_);
}

Status RedactStream::feed(std::string_view bytes) {
    // line_ holds at most k_max_line + 1 bytes without a '\n' (a line at the limit, and
    // maybe the '\r' of its "\r\n"), and a complete line of at most k_max_line + 2; one
    // more byte and the line is certainly too long: what there is goes out unchanged,
    // and so does the rest of the line as it arrives.
    constexpr std::size_t k_hold = Redactor::k_max_line + 1;
    while (!bytes.empty() && error_) {
        const std::size_t nl = bytes.find('\n');
        const std::size_t len = nl == std::string_view::npos ? bytes.size() : nl + 1;
        if (passing_) {
            if (Status s = emit(bytes.substr(0, len)); !s) return s;
            if (nl != std::string_view::npos) passing_ = false;
        } else if (nl != std::string_view::npos && line_.size() + len <= k_hold + 1) {
            line_.append(bytes.substr(0, len));
            if (Status s = end_line(); !s) return s;
        } else if (nl == std::string_view::npos && line_.size() + len <= k_hold) {
            line_.append(bytes);
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
    if (error_ && !passing_ && !line_.empty()) return end_line();
    return error_;
}

Result<RedactedFile> redact_file(const Redactor& rules, const std::string& in_path,
                                 std::uint64_t size, const std::string& out_path,
                                 const std::function<void(std::string_view)>& on_input) {
    UniqueFd in{::open(in_path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.get() < 0) return errno_status(errno, "opening", in_path);
    UniqueFd out{::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    // The destination's errors are its disk's fault, not the content's: unavailable.
    auto destination_fault = [&](std::string_view what) {
        return Status::unavailable(errno_status(errno, what, out_path).message());
    };
    if (out.get() < 0) return destination_fault("creating");
    RedactStream stream(rules, [&](std::string_view bytes) -> Status {
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
    // Compile everything before changing anything: all of this inventory or none of it.
    std::unordered_map<std::string, std::shared_ptr<const Redactor>> next = jobs_;
    for (const auto& job : parsed->jobs) {
        auto redactor = Redactor::compile(job.redact.value_or(std::vector<Redaction>{}));
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
