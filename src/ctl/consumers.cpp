// `netkeepctl consumers`: every log consumer's durable cursor (notification targets,
// git mirrors: meta "consumer.<name>.cursor") and how far behind the log it is, read
// offline or beside a running netkeepd through the log's reader. What the running process
// knows besides (errors, consecutive failures) is in its /metrics.

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "netkeep/consumer.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/json.hpp"

namespace netkeep::ctl {

namespace {

struct Row {
    std::string name;
    std::uint64_t cursor = 0;
    std::uint64_t lag = 0;
};

constexpr std::string_view k_cursor_suffix = ".cursor";

Result<std::vector<Row>> read_rows(const EventLog& log, std::uint64_t last) {
    std::vector<Row> rows;
    Status s =
        log.scan_meta(k_consumer_meta_prefix, [&](std::string_view key, std::string_view value) {
            if (!key.ends_with(k_cursor_suffix)) return true;  // a consumer's other records
            std::string_view name = key.substr(k_consumer_meta_prefix.size());
            name.remove_suffix(k_cursor_suffix.size());
            auto cursor = gitwriter::parse_u64(value);
            if (!cursor || name.empty()) return true;  // not ours to judge: skipped
            rows.push_back({std::string(name), *cursor, last > *cursor ? last - *cursor : 0});
            return true;
        });
    if (!s) return s;
    return rows;
}

}  // namespace

int run_consumers(const Options& o, Io io) {
    auto log = open_event_log_reader(log_dir(o));
    if (!log) return fail(o, io, log.status().to_string());
    const std::uint64_t last = (*log)->last_seq();
    auto rows = read_rows(**log, last);
    if (!rows) return fail(o, io, rows.status().to_string());
    auto writer = (*log)->get_meta(std::string(gitwriter::k_cursor_key));
    std::optional<std::uint64_t> writer_cursor;
    if (writer) writer_cursor = gitwriter::parse_u64(*writer);
    if (o.json) {
        std::string out =
            fmt::format(R"({{"log_last_seq":{},"git_writer_cursor":{},"consumers":[)", last,
                        writer_cursor ? std::to_string(*writer_cursor) : "null");
        for (std::size_t i = 0; i < rows->size(); ++i)
            out += fmt::format(R"({}{{"name":{},"cursor":{},"lag":{}}})", i ? "," : "",
                               json_quote((*rows)[i].name), (*rows)[i].cursor, (*rows)[i].lag);
        fmt::print(io.out, "{}]}}\n", out);
        return 0;
    }
    fmt::print(io.out, "log last seq {}, git writer cursor {}\n", last,
               writer_cursor ? std::to_string(*writer_cursor) : "none");
    if (rows->empty()) {
        fmt::print(io.out, "no consumers\n");
        return 0;
    }
    fmt::print(io.out, "{:<40}  {:>10}  {:>10}\n", "CONSUMER", "CURSOR", "LAG");
    for (const Row& r : *rows)
        fmt::print(io.out, "{:<40}  {:>10}  {:>10}\n", r.name, r.cursor, r.lag);
    return 0;
}

}  // namespace netkeep::ctl
