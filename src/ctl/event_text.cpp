#include "ctl/event_text.hpp"

#include <algorithm>
#include <concepts>
#include <variant>

#include <fmt/format.h>

#include "ctl/time.hpp"
#include "netkeep/event_schema.hpp"
#include "netkeep/json.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep::ctl {

namespace {

// One overload per kind of netkeep/event_schema.hpp, as the JSON writer has: the text
// shows each field under the schema's name, only the values' forms differ.
struct TextWriter {
    std::string& line;

    void put(std::string_view key, std::string_view value) {
        line += fmt::format(" {}={}", key, key_value_quote(value));
    }
    void operator()(field::time f, unix_time t) {
        if (f.name == "at") return;  // already the line's time column
        put(f.name, format_time(t));
    }
    void operator()(field::integer f, std::unsigned_integral auto n) {
        put(f.name, std::to_string(n));
    }
    void operator()(field::text f, const std::string& s) { put(f.name, s); }
    void operator()(field::text_if_set f, const std::string& s) {
        if (!s.empty()) put(f.name, s);
    }
    void operator()(field::optional_text f, const std::optional<std::string>& s) {
        if (s) put(f.name, *s);
    }
    void operator()(field::sha256 f, const std::string& raw) { put(f.name, to_hex(raw)); }
    void operator()(field::enumerated f, CloseReason r) { put(f.name, close_reason_name(r)); }
    // The content may hold literal passwords: only its size and hash are printed.
    void operator()(field::document f, const std::string& content) {
        put(fmt::format("{}_bytes", f.name), std::to_string(content.size()));
        put(fmt::format("{}_sha256", f.name), sha256_hex(content));
    }
};

}  // namespace

std::string format_event_text(const EventRecord& record) {
    std::string line = fmt::format("{} {} {}", record.seq, format_time(event_at(record.event)),
                                   event_type_name(type_of(record.event)));
    TextWriter writer{line};
    visit_fields(record.event, writer);
    return line;
}

unix_time event_at(const Event& event) {
    return std::visit([](const auto& e) -> unix_time { return e.at; }, event);
}

std::optional<std::string_view> event_device(const Event& event) {
    return std::visit(
        [](const auto& e) -> std::optional<std::string_view> {
            if constexpr (requires { e.device; })
                return std::string_view(e.device);
            else
                return std::nullopt;
        },
        event);
}

std::optional<std::string_view> event_job(const Event& event) {
    return std::visit(
        [](const auto& e) -> std::optional<std::string_view> {
            if constexpr (requires { e.job; })
                return std::string_view(e.job);
            else
                return std::nullopt;
        },
        event);
}

bool matches(const LogFilter& filter, const EventRecord& record) {
    if (record.seq < filter.from) return false;
    if (filter.to && record.seq > *filter.to) return false;
    if (filter.since && event_at(record.event) < *filter.since) return false;
    auto any_of = [](const std::vector<std::string>& wanted, std::optional<std::string_view> have) {
        return have && std::find(wanted.begin(), wanted.end(), *have) != wanted.end();
    };
    if (!filter.devices.empty() && !any_of(filter.devices, event_device(record.event)))
        return false;
    if (!filter.jobs.empty() && !any_of(filter.jobs, event_job(record.event))) return false;
    if (!filter.types.empty() && std::find(filter.types.begin(), filter.types.end(),
                                           type_of(record.event)) == filter.types.end())
        return false;
    return true;
}

}  // namespace netkeep::ctl
