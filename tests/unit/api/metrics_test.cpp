// The Prometheus text format as netkeepd writes it: exact lines for the pieces, and the
// whole /metrics body checked line by line against the exposition grammar.
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "api/metrics.hpp"

using namespace netkeep;
using namespace netkeep::api;

TEST_CASE("samples are written as name{labels} value, label values escaped") {
    Exposition out;
    out.family("netkeep_x_total", "counter", "A help\\text\nwith a newline.");
    out.sample("netkeep_x_total", {}, std::uint64_t{3});
    out.sample("netkeep_x_total", {{"route", "/a\"b\\c\nd"}, {"code", "200"}},
               std::uint64_t{18446744073709551615ULL});
    out.sample("netkeep_y", {}, 0.25);
    out.sample("netkeep_y", {}, std::int64_t{-4});
    CHECK(out.text() ==
          "# HELP netkeep_x_total A help\\\\text\\nwith a newline.\n"
          "# TYPE netkeep_x_total counter\n"
          "netkeep_x_total 3\n"
          "netkeep_x_total{route=\"/a\\\"b\\\\c\\nd\",code=\"200\"} 18446744073709551615\n"
          "netkeep_y 0.25\n"
          "netkeep_y -4\n");
}

TEST_CASE("a histogram's buckets are cumulative and end with +Inf equal to the count") {
    static constexpr double bounds[] = {0.5, 1};
    Histogram h(bounds);
    h.observe(0.25);
    h.observe(0.5);  // on a bound: counted in that bucket (le is "less or equal")
    h.observe(0.75);
    h.observe(7);
    Exposition out;
    h.render(out, "netkeep_d_seconds", {{"route", "/r"}});
    CHECK(out.text() ==
          "netkeep_d_seconds_bucket{route=\"/r\",le=\"0.5\"} 2\n"
          "netkeep_d_seconds_bucket{route=\"/r\",le=\"1\"} 3\n"
          "netkeep_d_seconds_bucket{route=\"/r\",le=\"+Inf\"} 4\n"
          "netkeep_d_seconds_sum{route=\"/r\"} 8.5\n"
          "netkeep_d_seconds_count{route=\"/r\"} 4\n");
}

TEST_CASE("histogram sum and count keep the labels") {
    static constexpr double bounds[] = {1};
    Histogram h(bounds);
    h.observe(2);
    Exposition out;
    h.render(out, "h", {{"a", "b"}});
    CHECK(out.text() ==
          "h_bucket{a=\"b\",le=\"1\"} 0\nh_bucket{a=\"b\",le=\"+Inf\"} 1\nh_sum{a=\"b\"} "
          "2\nh_count{a=\"b\"} 1\n");
}

namespace {
// name -> TYPE, and every sample line split; fails the test on a line that is neither.
struct parsed {
    std::map<std::string, std::string> types;
    std::vector<std::pair<std::string, std::string>> samples;  // "name{labels}", value
};
parsed parse(const std::string& text) {
    parsed p;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        REQUIRE_FALSE(line.empty());
        if (line.starts_with("# TYPE ")) {
            auto rest = line.substr(7);
            auto space = rest.find(' ');
            p.types[rest.substr(0, space)] = rest.substr(space + 1);
            continue;
        }
        if (line.starts_with("# HELP ")) continue;
        auto space = line.rfind(' ');
        REQUIRE(space != std::string::npos);
        p.samples.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return p;
}
}  // namespace

TEST_CASE("the whole body: every family typed, every sample of a typed family") {
    MetricsSnapshot s;
    s.events.leases_granted = 5;
    s.log_last_seq = 42;
    s.git = GitProgress{40, 2, 1.5};
    s.tasks = TaskCounts{1, 2, 3, 4, 5};
    HttpMetrics http;
    http.route("/worker/next", "GET").observe(200, 0.0001);
    http.route("/metrics", "GET").observe(200, 0.002);
    parsed p = parse(render_metrics(s, http));
    for (const auto& [name, value] : p.samples) {
        std::string base = name.substr(0, name.find('{'));
        for (std::string suffix : {"_bucket", "_sum", "_count"})
            if (!p.types.count(base) && base.ends_with(suffix))
                base = base.substr(0, base.size() - suffix.size());
        CAPTURE(name);
        CHECK(p.types.count(base) == 1);
        CHECK(base.starts_with("netkeep_"));
    }
    std::map<std::string, std::string> values(p.samples.begin(), p.samples.end());
    CHECK(values["netkeep_leases_granted_total"] == "5");
    CHECK(values["netkeep_log_last_seq"] == "42");
    CHECK(values["netkeep_git_lag_events"] == "2");
    CHECK(values["netkeep_git_lag_seconds"] == "1.5");
    CHECK(values["netkeep_tasks{status=\"retrying\"}"] == "4");
    CHECK(values["netkeep_tasks_overdue"] == "5");
    CHECK(
        values["netkeep_http_requests_total{route=\"/worker/next\",method=\"GET\",code=\"200\"}"] ==
        "1");
    CHECK(p.types["netkeep_http_request_duration_seconds"] == "histogram");
}

TEST_CASE("without a git writer the git gauges are absent") {
    MetricsSnapshot s;
    HttpMetrics http;
    std::string text = render_metrics(s, http);
    CHECK(text.find("netkeep_git_lag_events") == std::string::npos);
    CHECK(text.find("netkeep_git_commits_total") != std::string::npos);
}

// ---- readiness (api/readiness.hpp) and the storage metrics ----

#include "api/readiness.hpp"

TEST_CASE("readiness: ready when the log writes and the git writer keeps up") {
    using namespace netkeep;
    using namespace netkeep::api;
    using namespace std::chrono_literals;
    ReadinessInput in;
    in.now = std::chrono::steady_clock::time_point(1000s);
    in.log.last_write = in.now - 5s;
    in.git = ReadinessInput::Git{100, 100, in.now - 3600s};  // caught up: no progress needed
    CHECK(readiness_reasons(in).empty());
    CHECK(readiness_json({}) == R"({"ready":true})");

    SUBCASE("a recovering log names the fault, not its message") {
        in.log.state = LogHealth::State::recovering;
        in.log.error = Status::no_space(
            "appending to /var/lib/netkeep/log/000012.log: No space left on device");
        in.log.since = in.now - 12s;
        auto reasons = readiness_reasons(in);
        REQUIRE(reasons.size() == 1);
        CHECK(reasons[0].find("no space left") != std::string::npos);
        CHECK(reasons[0].find("12 s") != std::string::npos);
        CHECK(reasons[0].find("/var/lib") == std::string::npos);
        CHECK(readiness_json(reasons).starts_with(R"({"ready":false,"reasons":[")"));
    }
    SUBCASE("a failed log") {
        in.log.state = LogHealth::State::failed;
        CHECK(readiness_reasons(in).size() == 1);
    }
    SUBCASE("an idle log whose probe failed") {
        in.log.last_write = in.now - 600s;
        in.probe_at = in.now - 1s;
        in.probe = Status::io_error("x");
        CHECK(readiness_reasons(in).size() == 1);
        in.probe = Status::ok();
        CHECK(readiness_reasons(in).empty());
    }
    SUBCASE("a git writer behind and not moving for the stall limit") {
        in.git = ReadinessInput::Git{150, 100, in.now - 119s};
        CHECK(readiness_reasons(in).empty());  // behind but progressing recently
        in.git->applied_changed = in.now - 121s;
        auto reasons = readiness_reasons(in);
        REQUIRE(reasons.size() == 1);
        CHECK(reasons[0].find("50 events behind") != std::string::npos);
    }
    SUBCASE(
        "the writer's health: a repository it cannot use, repeated failures; not a quarantine") {
        in.writer = GitWriterHealth{};
        CHECK(readiness_reasons(in).empty());  // not opened yet: nothing failed
        in.writer->repo_ok = true;
        in.writer->quarantined = 2;
        CHECK(readiness_reasons(in).empty());
        in.writer->consecutive_failures = 2;
        CHECK(readiness_reasons(in).empty());  // a retry often works
        in.writer->consecutive_failures = 3;
        auto reasons = readiness_reasons(in);
        REQUIRE(reasons.size() == 1);
        CHECK(reasons[0].find("3 failed attempts in a row") != std::string::npos);
        in.writer->repo_ok = false;
        reasons = readiness_reasons(in);
        REQUIRE(reasons.size() == 1);
        CHECK(reasons[0].find("repository cannot be opened") != std::string::npos);
    }
    SUBCASE("a recent spool failure, forgotten after its window") {
        in.spool_failure = ReadinessInput::SpoolFailure{Status::Code::no_space, in.now - 10s};
        CHECK(readiness_reasons(in).size() == 1);
        in.spool_failure->at = in.now - 61s;
        CHECK(readiness_reasons(in).empty());
    }
}

TEST_CASE("storage metrics: errors by op and kind, the log's state, spool gauges, readiness") {
    using namespace netkeep;
    using namespace netkeep::api;
    MetricsSnapshot s;
    s.storage.counters.count(SpoolOp::write, Status::no_space("full"));
    s.storage.counters.count(SpoolOp::sync, Status::io_error("EIO"));
    s.storage.log.state = LogHealth::State::recovering;
    s.storage.log.no_space_errors = 3;
    s.storage.spool = SpoolUsage{7, 4096};
    s.storage.ready = false;
    HttpMetrics http;
    std::string text = render_metrics(s, http);
    CHECK(text.find("netkeep_storage_errors_total{op=\"spool_write\",kind=\"no_space\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_storage_errors_total{op=\"spool_sync\",kind=\"io\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_storage_errors_total{op=\"log_write\",kind=\"no_space\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_log_state{state=\"recovering\"} 1\n") != std::string::npos);
    CHECK(text.find("netkeep_log_state{state=\"ok\"} 0\n") != std::string::npos);
    CHECK(text.find("netkeep_spool_files 7\n") != std::string::npos);
    CHECK(text.find("netkeep_spool_bytes 4096\n") != std::string::npos);
    CHECK(text.find("netkeep_ready 0\n") != std::string::npos);
}

TEST_CASE("readiness: a failing log consumer is a warning, never a reason") {
    using namespace std::chrono_literals;
    ReadinessInput in;
    in.now = std::chrono::steady_clock::time_point(1000s);
    in.log.last_write = in.now - 5s;
    ConsumerHealth ok;
    ok.name = "notify.chat";
    ConsumerHealth failing;
    failing.name = "notify.ops";
    failing.consecutive_failures = 4;
    failing.last_error = "cannot connect to hooks.example.com";
    in.consumers = {ok, failing};
    CHECK(readiness_reasons(in).empty());
    auto warnings = readiness_warnings(in);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "consumer notify.ops failing: 4 failed attempts in a row");
    CHECK(
        readiness_json({}, warnings) ==
        R"({"ready":true,"warnings":["consumer notify.ops failing: 4 failed attempts in a row"]})");
    CHECK(
        readiness_json({"x"}, warnings) ==
        R"({"ready":false,"reasons":["x"],"warnings":["consumer notify.ops failing: 4 failed attempts in a row"]})");
    in.consumers[1].consecutive_failures = 2;  // below ReadinessLimits::consumer_failures
    CHECK(readiness_warnings(in).empty());
}

TEST_CASE("metrics: one sample per consumer and family, labelled consumer=") {
    MetricsSnapshot s;
    ConsumerHealth c;
    c.name = "notify.ops";
    c.lag = 7;
    c.delivered_total = 3;
    c.errors_total = 2;
    c.consecutive_failures = 1;
    s.consumers = {c};
    const std::string text = render_metrics(s, HttpMetrics());
    CHECK(text.find("# TYPE netkeep_consumer_lag_events gauge\n") != std::string::npos);
    CHECK(text.find("netkeep_consumer_lag_events{consumer=\"notify.ops\"} 7\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_consumer_delivered_total{consumer=\"notify.ops\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_consumer_errors_total{consumer=\"notify.ops\"} 2\n") !=
          std::string::npos);
    CHECK(text.find("netkeep_consumer_consecutive_failures{consumer=\"notify.ops\"} 1\n") !=
          std::string::npos);
}
