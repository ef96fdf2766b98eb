// `netkeepctl quarantine list | retry SEQ`: the events the git writer quarantined
// (docs/git.md#quarantine, docs/operations.md#a-quarantined-event).
//
// list reads the records (meta gitwriter.quarantine.<seq>) through the log's reader, so it
// works while netkeepd runs. retry cannot write the log while netkeepd holds it, and
// must not need netkeepd to run: it leaves a request file in <data-dir>/gitwriter/retry/
// (written durably), which the writer takes within a poll interval, or at its next start,
// turning it into a durable "retry" record and deleting the file. Retries are applied in
// the order of their requests (the file holds the request time in nanoseconds).

#include <chrono>
#include <map>

#include <fmt/format.h>

#include "ctl/commands.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/git_records.hpp"
#include "netkeep/json.hpp"

namespace netkeep::ctl {

namespace {

using Entries = std::map<std::uint64_t, gitwriter::QuarantineEntry>;

// The shared reader (netkeep/git_records.hpp), every record: an operator's list is whole.
Result<Entries> read_entries(const EventLog& log) {
    auto read = gitwriter::read_quarantine(log, SIZE_MAX);
    if (!read) return read.status();
    Entries out;
    for (gitwriter::QuarantineEntry& e : read->entries) out[e.seq] = std::move(e);
    return out;
}

int list(const Options& o, Io io, const Entries& entries) {
    if (o.json) {
        std::string out = "[";
        bool first = true;
        for (const auto& [seq, e] : entries) {
            out += fmt::format(
                R"({}{{"seq":{},"what":{},"state":"{}","attempts":{},"at":{},"detail":{}}})",
                first ? "" : ",", seq, json_quote(e.what), gitwriter::state_name(e.record.state),
                e.record.attempts, e.record.at, json_quote(e.record.detail));
            first = false;
        }
        fmt::print(io.out, "{}]\n", out);
        return 0;
    }
    if (entries.empty()) {
        fmt::print(io.out, "no quarantined events\n");
        return 0;
    }
    fmt::print(io.out, "{:>10}  {:<11}  {:>8}  {:<30}  {}\n", "SEQ", "STATE", "ATTEMPTS", "WHAT",
               "DETAIL");
    for (const auto& [seq, e] : entries)
        fmt::print(io.out, "{:>10}  {:<11}  {:>8}  {:<30}  {}\n", seq,
                   gitwriter::state_name(e.record.state), e.record.attempts, e.what,
                   e.record.detail);
    return 0;
}

int retry(const Options& o, Io io, const Entries& entries) {
    auto it = entries.find(o.seq);
    if (it == entries.end()) return fail(o, io, fmt::format("seq {} is not quarantined", o.seq));
    auto state = it->second.record.state;
    if (state != gitwriter::QuarantineState::quarantined &&
        state != gitwriter::QuarantineState::held)
        return fail(o, io,
                    fmt::format("seq {} is {}, not quarantined: nothing to retry", o.seq,
                                gitwriter::state_name(state)));
    std::string dir = o.data_dir + "/gitwriter/retry";
    if (Status s = create_directories_durably(dir); !s) return fail(o, io, s.to_string());
    auto order = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    if (Status s = write_file_durably(fmt::format("{}/{}", dir, o.seq), fmt::format("{}\n", order));
        !s)
        return fail(o, io, s.to_string());
    if (o.json)
        fmt::print(io.out,
                   R"({{"seq":{},"requested":true}})"
                   "\n",
                   o.seq);
    else
        fmt::print(io.out,
                   "retry of seq {} ({}) requested: a running netkeepd takes it within a second, a "
                   "stopped one at "
                   "its next start; `netkeepctl quarantine list` shows the outcome\n",
                   o.seq, it->second.what);
    return 0;
}

}  // namespace

int run_quarantine(const Options& o, Io io) {
    auto log = open_event_log_reader(log_dir(o));
    if (!log) return fail(o, io, log.status().to_string());
    auto entries = read_entries(**log);
    if (!entries) return fail(o, io, entries.status().to_string());
    return o.command == Command::quarantine_list ? list(o, io, *entries) : retry(o, io, *entries);
}

}  // namespace netkeep::ctl
