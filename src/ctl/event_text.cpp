#include "ctl/event_text.hpp"

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include "ctl/time.hpp"
#include "netkeep/json.hpp"
#include "netkeep/sha256.hpp"

namespace netkeep::ctl {

namespace {

// Fields are taken by name when the event type has them, so a new event type made of
// the usual fields prints without a change here.
template <typename E>
void add_fields(const E& e, std::vector<Field>& out) {
    auto number = [&](std::string key, std::int64_t v) {
        out.push_back({std::move(key), std::to_string(v), true});
    };
    auto text = [&](std::string key, std::string v) {
        out.push_back({std::move(key), std::move(v)});
    };
    auto time = [&](std::string key, unix_time t) {
        out.push_back({std::move(key), format_time(t)});
    };
    if constexpr (requires {
                      e.devices_json;
                      e.jobs_json;
                  }) {
        number("devices_json_bytes", static_cast<std::int64_t>(e.devices_json.size()));
        text("devices_json_sha256", sha256_hex(e.devices_json));
        number("jobs_json_bytes", static_cast<std::int64_t>(e.jobs_json.size()));
        text("jobs_json_sha256", sha256_hex(e.jobs_json));
    }
    if constexpr (requires { e.device; }) text("device", e.device);
    if constexpr (requires { e.job; }) text("job", e.job);
    if constexpr (requires { e.timestamp; }) time("timestamp", e.timestamp);
    if constexpr (requires { e.job_timestamp; }) time("job_timestamp", e.job_timestamp);
    if constexpr (requires { e.start_timestamp; }) time("start", e.start_timestamp);
    if constexpr (requires { e.end_timestamp; }) time("end", e.end_timestamp);
    if constexpr (requires { e.deadline; }) time("deadline", e.deadline);
    if constexpr (requires { e.attempt; }) number("attempt", static_cast<std::int64_t>(e.attempt));
    if constexpr (requires { e.reason; }) text("reason", std::string(close_reason_name(e.reason)));
    if constexpr (requires { e.failure; }) {
        if (e.failure)
            text("failure", *e.failure);
        else
            out.push_back({"failure", "", false, false});
    }
    if constexpr (requires { e.size; }) number("size", static_cast<std::int64_t>(e.size));
    if constexpr (requires { e.sha256; }) text("sha256", to_hex(e.sha256));
    if constexpr (requires { e.spool; }) text("spool", e.spool);
    if constexpr (requires { e.worker; }) text("worker", e.worker);
    if constexpr (requires { e.holder; }) {
        if (!e.holder.empty()) text("holder", e.holder);
    }
    if constexpr (requires { e.requested_by; }) text("requested_by", e.requested_by);
}

}  // namespace

std::vector<Field> event_fields(const Event& event) {
    std::vector<Field> out;
    std::visit(
        [&](const auto& e) {
            out.push_back({"at", format_time(e.at)});
            add_fields(e, out);
        },
        event);
    return out;
}

std::string format_event_text(const EventRecord& record) {
    auto fields = event_fields(record.event);
    // "at" is the line's time column.
    std::string line = fmt::format("{} {} {}", record.seq, fields.front().value,
                                   event_type_name(type_of(record.event)));
    for (std::size_t i = 1; i < fields.size(); ++i) {
        if (!fields[i].present) continue;
        line += fmt::format(" {}={}", fields[i].key, key_value_quote(fields[i].value));
    }
    return line;
}

std::string format_event_json(const EventRecord& record) {
    std::string out = fmt::format(R"({{"seq":{},"type":{})", record.seq,
                                  json_quote(event_type_name(type_of(record.event))));
    for (const auto& f : event_fields(record.event)) {
        out += fmt::format(",{}:", json_quote(f.key));
        if (!f.present)
            out += "null";
        else if (f.number)
            out += f.value;
        else
            out += json_quote(f.value);
    }
    out += '}';
    return out;
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
