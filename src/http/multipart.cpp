#include "http/multipart.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace netkeep::http {

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_tchar(char c) { return is_token(std::string_view(&c, 1)); }

// Unquoted parameter values are read more leniently than RFC 9110's token: some clients send
// boundaries with '=' or '/' unquoted. The boundary check (or the caller) judges the value.
bool is_bare_value_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f && c != ';' && c != '"';
}

bool is_control(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

// Client-supplied text inside an error message: bounded, so a hostile value cannot make the
// message (and the log line it ends up in) large.
std::string excerpt(std::string_view s) {
    constexpr std::size_t k_max = 64;
    if (s.size() <= k_max) return std::string(s);
    return fmt::format("{}...", s.substr(0, k_max));
}

// Walks the parameters that follow a media type or disposition type
// (`; name=value; name="quoted \"value\""`, RFC 9110 5.6.6), calling
// visit(name, value) -> Status for each with quoted-string escapes undone. A little more
// lenient than the RFC: whitespace around '=' and a trailing ';' are accepted.
template <typename Visit>
Status for_each_param(std::string_view s, Visit&& visit) {
    std::size_t i = 0;
    auto skip_ows = [&] {
        while (i < s.size() && is_ows(s[i])) ++i;
    };
    for (;;) {
        skip_ows();
        if (i == s.size()) return Status::ok();
        if (s[i] != ';') {
            return Status::invalid_argument(
                fmt::format("expected ';' before '{}'", excerpt(s.substr(i))));
        }
        ++i;
        skip_ows();
        if (i == s.size()) return Status::ok();

        std::size_t start = i;
        while (i < s.size() && is_tchar(s[i])) ++i;
        std::string_view name = s.substr(start, i - start);
        if (name.empty()) {
            return Status::invalid_argument(
                fmt::format("parameter without a name at '{}'", excerpt(s.substr(i))));
        }
        skip_ows();
        if (i == s.size() || s[i] != '=') {
            return Status::invalid_argument(
                fmt::format("parameter '{}' has no value", excerpt(name)));
        }
        ++i;
        skip_ows();

        std::string value;
        if (i < s.size() && s[i] == '"') {
            ++i;
            bool closed = false;
            while (i < s.size()) {
                char c = s[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (i == s.size()) break;
                    c = s[i++];
                }
                value += c;
            }
            if (!closed) {
                return Status::invalid_argument(
                    fmt::format("unterminated quoted value of parameter '{}'", excerpt(name)));
            }
        } else {
            start = i;
            while (i < s.size() && is_bare_value_char(s[i])) ++i;
            value = s.substr(start, i - start);
            if (value.empty()) {
                return Status::invalid_argument(
                    fmt::format("parameter '{}' has no value", excerpt(name)));
            }
        }
        if (Status st = visit(name, std::move(value)); !st) return st;
    }
}

// Splits "type; params" at the first ';' (which a type or disposition token cannot contain).
std::pair<std::string_view, std::string_view> split_params(std::string_view value) {
    auto semi = value.find(';');
    if (semi == std::string_view::npos) return {trim_ows(value), {}};
    return {trim_ows(value.substr(0, semi)), value.substr(semi)};
}

}  // namespace

bool is_valid_multipart_boundary(std::string_view boundary) {
    // RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace
    if (boundary.empty() || boundary.size() > 70 || boundary.back() == ' ') return false;
    return std::all_of(boundary.begin(), boundary.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
    });
}

Result<std::string> multipart_boundary(std::string_view content_type) {
    auto [media_type, params] = split_params(content_type);
    if (!iequals(media_type, "multipart/form-data")) {
        if (media_type.empty()) {
            return Status::invalid_argument("Content-Type must be multipart/form-data, not empty");
        }
        return Status::invalid_argument(
            fmt::format("Content-Type must be multipart/form-data, not '{}'", excerpt(media_type)));
    }
    std::optional<std::string> boundary;
    Status st = for_each_param(params, [&](std::string_view name, std::string value) {
        if (!iequals(name, "boundary")) return Status::ok();
        if (boundary) return Status::invalid_argument("more than one boundary parameter");
        boundary = std::move(value);
        return Status::ok();
    });
    if (!st) {
        return Status::invalid_argument(
            fmt::format("malformed multipart/form-data Content-Type: {}", st.message()));
    }
    if (!boundary) {
        return Status::invalid_argument("multipart/form-data Content-Type has no boundary");
    }
    if (!is_valid_multipart_boundary(*boundary)) {
        return Status::invalid_argument(
            fmt::format("invalid multipart boundary '{}': it must be 1 to 70 letters, digits or "
                        "'()+_,-./:=? and space, not ending in a space",
                        excerpt(*boundary)));
    }
    return std::move(*boundary);
}

MultipartParser::MultipartParser(std::string_view boundary, Limits limits) : limits_(limits) {
    if (!is_valid_multipart_boundary(boundary)) {
        fail(Status::invalid_argument(
            fmt::format("invalid multipart boundary '{}'", excerpt(boundary))));
        return;
    }
    delimiter_.reserve(4 + boundary.size());
    delimiter_ = "\r\n--";
    delimiter_ += boundary;
}

MultipartParser::Step MultipartParser::feed(std::string_view data) {
    std::size_t used = 0;
    for (;;) {
        if (phase_ == Phase::failed) return {Event::error, used, {}};
        std::string_view rest = data.substr(used);
        if (rest.empty()) return {Event::need_more, used, {}};
        Step step;
        switch (phase_) {
            case Phase::preamble:
            case Phase::content:
                step = scan_delimiter(rest);
                break;
            case Phase::boundary_line:
                step = read_boundary_line(rest);
                break;
            case Phase::headers:
                step = read_headers(rest);
                break;
            case Phase::epilogue:
                step = {Event::need_more, rest.size(), {}};
                break;
            case Phase::failed:
                break;
        }
        used += step.consumed;
        if (step.event != Event::need_more) {
            step.consumed = used;
            return step;
        }
    }
}

Status MultipartParser::finish() {
    switch (phase_) {
        case Phase::failed:
        case Phase::epilogue:
            break;
        case Phase::preamble:
            fail(Status::invalid_argument("multipart body has no boundary line"));
            break;
        case Phase::boundary_line:
        case Phase::headers:
        case Phase::content:
            fail(Status::invalid_argument("multipart body ended before its closing boundary"));
            break;
    }
    return status_;
}

std::size_t MultipartParser::buffered_bytes() const {
    // In the preamble matched_ only counts: skipped bytes are not kept to be handed out.
    return (phase_ == Phase::content ? matched_ : 0) + header_line_.size();
}

MultipartParser::Step MultipartParser::scan_delimiter(std::string_view data) {
    const bool in_content = phase_ == Phase::content;
    const std::string_view delimiter = delimiter_;

    auto found = [&](std::size_t consumed) -> Step {
        matched_ = 0;
        line_state_ = LineState::start;
        phase_ = Phase::boundary_line;
        return {in_content ? Event::part_end : Event::need_more, consumed, {}};
    };

    if (matched_ > 0) {
        const std::size_t want = delimiter.size() - matched_;
        const std::size_t n = std::min(want, data.size());
        std::size_t i = 0;
        while (i < n && data[i] == delimiter[matched_ + i]) ++i;
        if (i == want) return found(i);
        if (i == data.size()) {
            matched_ += i;
            return {Event::need_more, i, {}};
        }
        // Not a delimiter after all. The held-back bytes and data[0, i) contain no CR
        // after the first byte (a boundary has none), so no delimiter starts inside them:
        // they are content, and scanning resumes at data[0] as if nothing were held.
        const std::size_t held = matched_;
        matched_ = 0;
        if (in_content) return emit_content(delimiter.substr(0, held), 0);
    }

    // A delimiter can only start at a CR: find each and compare what follows.
    std::size_t from = 0;
    while (from < data.size()) {
        const void* cr = std::memchr(data.data() + from, '\r', data.size() - from);
        if (cr == nullptr) break;
        const auto at = static_cast<std::size_t>(static_cast<const char*>(cr) - data.data());
        const std::size_t n = std::min(delimiter.size(), data.size() - at);
        if (data.substr(at, n) == delimiter.substr(0, n)) {
            // Hand out what precedes the candidate first; the next call starts at its CR.
            if (at > 0) {
                return in_content ? emit_content(data.substr(0, at), at)
                                  : Step{Event::need_more, at, {}};
            }
            if (n == delimiter.size()) return found(n);
            // A prefix of the delimiter ends the input: hold it back until more arrives.
            matched_ = n;
            return {Event::need_more, n, {}};
        }
        from = at + 1;
    }
    return in_content ? emit_content(data, data.size()) : Step{Event::need_more, data.size(), {}};
}

MultipartParser::Step MultipartParser::emit_content(std::string_view content,
                                                    std::size_t consumed) {
    // content_bytes_ never exceeds max_field_bytes for a bounded part, so the subtraction is safe.
    if (part_bounded_ && content.size() > limits_.max_field_bytes - content_bytes_) {
        return fail(Status::too_large(fmt::format("multipart field '{}' exceeds {} bytes",
                                                  excerpt(part_.name), limits_.max_field_bytes)));
    }
    content_bytes_ += content.size();
    return {Event::part_data, consumed, content};
}

MultipartParser::Step MultipartParser::read_boundary_line(std::string_view data) {
    auto garbage = [&] {
        return fail(Status::invalid_argument(
            "malformed multipart body: expected CRLF or \"--\" after a boundary"));
    };
    for (std::size_t i = 0; i < data.size(); ++i) {
        const char c = data[i];
        switch (line_state_) {
            case LineState::start:
                if (c == '-') {
                    line_state_ = LineState::dash;
                    continue;
                }
                [[fallthrough]];
            case LineState::padding:
                if (is_ows(c)) {
                    line_state_ = LineState::padding;
                } else if (c == '\r') {
                    line_state_ = LineState::cr;
                } else {
                    return garbage();
                }
                continue;
            case LineState::dash:
                if (c != '-') return garbage();
                phase_ = Phase::epilogue;
                return {Event::body_end, i + 1, {}};
            case LineState::cr:
                if (c != '\n') return garbage();
                if (++parts_ > limits_.max_parts) {
                    return fail(Status::too_large(
                        fmt::format("multipart body has more than {} parts", limits_.max_parts)));
                }
                phase_ = Phase::headers;
                header_line_.clear();
                header_bytes_ = 0;
                next_part_ = {};
                return {Event::need_more, i + 1, {}};
        }
    }
    return {Event::need_more, data.size(), {}};
}

MultipartParser::Step MultipartParser::read_headers(std::string_view data) {
    const auto nl = data.find('\n');
    const std::size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
    // Checked before appending, so the header block never holds more than the limit.
    if (take > limits_.max_header_bytes - header_bytes_) {
        return fail(
            Status::too_large(fmt::format("header block of multipart part {} exceeds {} bytes",
                                          parts_, limits_.max_header_bytes)));
    }
    header_bytes_ += take;
    if (nl == std::string_view::npos) {
        header_line_.append(data);
        return {Event::need_more, take, {}};
    }
    header_line_.append(data.substr(0, nl));
    if (header_line_.empty() || header_line_.back() != '\r') {
        return fail(Status::invalid_argument(
            fmt::format("multipart part {}: header line not terminated by CRLF", parts_)));
    }
    header_line_.pop_back();
    if (header_line_.empty()) return end_of_headers(take);
    if (Status st = add_header_line(header_line_); !st) {
        return fail(
            Status::invalid_argument(fmt::format("multipart part {}: {}", parts_, st.message())));
    }
    header_line_.clear();
    return {Event::need_more, take, {}};
}

Status MultipartParser::add_header_line(std::string_view line) {
    if (is_ows(line.front()))
        return Status::invalid_argument("folded header lines are not allowed");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
        return Status::invalid_argument(
            fmt::format("header line without ':': '{}'", excerpt(line)));
    }
    const std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
        return Status::invalid_argument(
            fmt::format("invalid header field name '{}'", excerpt(name)));
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), is_control)) {
        return Status::invalid_argument(
            fmt::format("control character in header field '{}'", excerpt(name)));
    }
    next_part_.headers.add(std::string(name), std::string(value));
    return Status::ok();
}

MultipartParser::Step MultipartParser::end_of_headers(std::size_t consumed) {
    auto invalid = [&](std::string_view what) {
        return fail(Status::invalid_argument(fmt::format("multipart part {}: {}", parts_, what)));
    };
    MultipartPart& p = next_part_;
    const auto dispositions = p.headers.get_all("Content-Disposition");
    if (dispositions.empty()) return invalid("no Content-Disposition");
    if (dispositions.size() > 1) return invalid("more than one Content-Disposition");

    auto [type, params] = split_params(dispositions.front());
    if (!iequals(type, "form-data")) {
        return invalid(fmt::format("Content-Disposition is '{}', not form-data", excerpt(type)));
    }
    std::optional<std::string> name;
    std::optional<std::string> filename;
    Status st = for_each_param(params, [&](std::string_view param, std::string value) {
        // filename* (RFC 5987) falls through here unused: RFC 7578 4.2 forbids it.
        std::optional<std::string>* slot = iequals(param, "name")       ? &name
                                           : iequals(param, "filename") ? &filename
                                                                        : nullptr;
        if (slot == nullptr) return Status::ok();
        if (slot->has_value()) {
            return Status::invalid_argument(
                fmt::format("parameter '{}' given twice", excerpt(param)));
        }
        *slot = std::move(value);
        return Status::ok();
    });
    if (!st) return invalid(fmt::format("malformed Content-Disposition: {}", st.message()));
    if (!name || name->empty()) return invalid("Content-Disposition has no name");

    p.name = std::move(*name);
    p.filename = std::move(filename);
    if (auto content_type = p.headers.get("Content-Type"))
        p.content_type = std::string(*content_type);
    part_ = std::move(p);
    next_part_ = {};
    content_bytes_ = 0;
    part_bounded_ = limits_.unbounded_part.empty() || part_.name != limits_.unbounded_part;
    matched_ = 0;  // the delimiter ending the content needs its own CRLF, even if it is empty
    phase_ = Phase::content;
    return {Event::part_begin, consumed, {}};
}

MultipartParser::Step MultipartParser::fail(Status status) {
    phase_ = Phase::failed;
    status_ = std::move(status);
    return {Event::error, 0, {}};
}

}  // namespace netkeep::http
