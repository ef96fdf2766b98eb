#include "netkeep/event_json.hpp"

#include <concepts>

#include <fmt/format.h>

#include "netkeep/event_schema.hpp"
#include "netkeep/json.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep {

namespace {

// One overload per kind: a kind given to a member of another C++ type does not compile.
struct JsonWriter {
    std::string& out;

    void key(std::string_view name) {
        out += ',';
        out += json_quote(name);
        out += ':';
    }
    void operator()(field::time f, unix_time t) {
        key(f.name);
        out += std::to_string(t);
    }
    void operator()(field::integer f, std::unsigned_integral auto n) {
        key(f.name);
        out += std::to_string(n);
    }
    void operator()(field::text f, const std::string& s) {
        key(f.name);
        out += json_quote(s);
    }
    void operator()(field::text_if_set f, const std::string& s) {
        if (s.empty()) return;
        key(f.name);
        out += json_quote(s);
    }
    void operator()(field::optional_text f, const std::optional<std::string>& s) {
        key(f.name);
        out += s ? json_quote(*s) : "null";
    }
    void operator()(field::sha256 f, const std::string& raw) {
        key(f.name);
        out += json_quote(to_hex(raw));
    }
    void operator()(field::enumerated f, CloseReason r) {
        key(f.name);
        out += json_quote(close_reason_name(r));
    }
    // The content may hold literal passwords: only its size and hash leave the log.
    void operator()(field::document f, const std::string& content) {
        key(f.name);
        out += fmt::format(R"({{"size":{},"sha256":"{}"}})", content.size(), sha256_hex(content));
    }
};

}  // namespace

std::string event_json(const EventRecord& record) {
    std::string out = fmt::format(R"({{"seq":{},"type":{})", record.seq,
                                  json_quote(event_type_name(type_of(record.event))));
    JsonWriter writer{out};
    visit_fields(record.event, writer);
    out += '}';
    return out;
}

}  // namespace netkeep
