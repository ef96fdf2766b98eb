// The operator API, /metrics and the server's log against the real netkeepd: every route
// with good and bad parameters, run-now leading to a lease, the history index against
// `git log`, the Prometheus exposition format parsed line by line, and no password in
// anything the server writes to stderr or stdout.
#include <doctest/doctest.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "http/client.hpp"
#include "support/netkeepd.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using netkeep::http::Client;
using netkeep::http::ClientResponse;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Two devices, one job once a year (January 1st): after the baseline occurrences nothing
// is due, so whatever /worker/next hands out later was made due by the test.
constexpr std::string_view k_literal_pass = "Lit3ral-pa55word-9f2c";
constexpr std::string_view k_env_pass = "Env-pa55word-77ab1";

struct Fixture {
    TempDir root = TempDir::create("operator-api-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path repo = data / "repo.git";

    Fixture() {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json") << fmt::format(
            R"({{"devices": [
                 {{"name": "r1", "tags": ["core"], "credentials": {{"user": "u", "pass": "{}"}}}},
                 {{"name": "r2", "tags": ["edge"], "credentials": {{"user": "u", "pass": {{"env": "NK_OPAPI_PASS"}}}}}}]}})",
            k_literal_pass);
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"cron": "0 0 1 1 *"}, "command": {"inline": ["show run"]},
                             "retry_delay": 1}]})";
    }
    RunningServer start() {
        auto server = start_netkeepd(
            {"--data-dir", data.string(), "--inventory", inventory.string(), "--listen",
             "127.0.0.1:0"},
            SpawnOptions{.env = {fmt::format("NK_OPAPI_PASS={}", k_env_pass)}, .working_dir = {}});
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    std::optional<std::string> git(std::vector<std::string> args) const {
        return git_output(repo, std::move(args));
    }
    int commits() const { return commit_count(repo); }
};

ClientResponse call(Client& client, std::string_view method, const std::string& target) {
    auto r = client.request(method, target);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return std::move(*r);
}

// A 400 naming the parameter.
void check_bad(Client& client, std::string_view method, const std::string& target,
               const std::string& parameter) {
    CAPTURE(target);
    auto r = call(client, method, target);
    CHECK(r.status == 400);
    simdjson::dom::parser parser;
    auto doc = parser.parse(r.body);
    REQUIRE_FALSE(doc.error());
    CHECK(std::string(doc["parameter"].get_string().value()) == parameter);
    CHECK_FALSE(doc["error"].get_string().error());
}

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- a small parser of the Prometheus text exposition format (version 0.0.4) ----

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Exposition {
    std::map<std::string, std::string> types;  // family -> counter, gauge, histogram
    std::set<std::string> helps;
    std::vector<Sample> samples;

    // The value of the one sample with this name and these labels (exactly).
    std::optional<double> value(const std::string& name,
                                const std::map<std::string, std::string>& labels = {}) const {
        for (const Sample& s : samples)
            if (s.name == name && s.labels == labels) return s.value;
        return std::nullopt;
    }
};

// [a-zA-Z_:][a-zA-Z0-9_:]*, the Prometheus metric name syntax.
bool is_metric_name(const std::string& name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
    return true;
}

// Every line is a comment (# HELP / # TYPE) or `name{label="value",...} value`; fails the
// test on anything else.
Exposition parse_exposition(const std::string& text) {
    Exposition e;
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        CAPTURE(line);
        REQUIRE_FALSE(line.empty());
        if (line[0] == '#') {
            std::istringstream words(line);
            std::string hash, kind, name, rest;
            words >> hash >> kind >> name;
            REQUIRE((kind == "HELP" || kind == "TYPE"));
            REQUIRE(is_metric_name(name));
            if (kind == "TYPE") {
                words >> rest;
                REQUIRE((rest == "counter" || rest == "gauge" || rest == "histogram"));
                REQUIRE(e.types.count(name) == 0);  // one TYPE per family
                e.types[name] = rest;
            } else {
                e.helps.insert(name);
            }
            continue;
        }
        Sample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        REQUIRE(is_metric_name(s.name));
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (line.at(i) != '}') {
                std::size_t eq = line.find('=', i);
                REQUIRE(eq != std::string::npos);
                std::string label = line.substr(i, eq - i);
                REQUIRE(is_metric_name(label));
                REQUIRE(line.at(eq + 1) == '"');
                std::string value;
                std::size_t j = eq + 2;
                for (; line.at(j) != '"'; ++j) {
                    if (line[j] == '\\') {
                        char c = line.at(++j);
                        REQUIRE((c == '\\' || c == '"' || c == 'n'));
                        value += c == 'n' ? '\n' : c;
                    } else {
                        value += line[j];
                    }
                }
                s.labels[label] = value;
                i = j + 1;
                if (line.at(i) == ',') ++i;
            }
            ++i;
        }
        REQUIRE(line.at(i) == ' ');
        std::string number = line.substr(i + 1);
        REQUIRE(number.find(' ') == std::string::npos);  // no timestamps from us
        if (number == "+Inf")
            s.value = HUGE_VAL;
        else {
            std::size_t used = 0;
            s.value = std::stod(number, &used);
            REQUIRE(used == number.size());
        }
        e.samples.push_back(std::move(s));
    }
    return e;
}

// The family a sample belongs to: its name, or without a histogram suffix.
std::string family_of(const Exposition& e, const std::string& name) {
    if (e.types.count(name)) return name;
    for (std::string suffix : {"_bucket", "_sum", "_count"})
        if (name.ends_with(suffix)) {
            std::string base = name.substr(0, name.size() - suffix.size());
            if (e.types.count(base) && e.types.at(base) == "histogram") return base;
        }
    return {};
}

// Every sample typed, named netkeep_*, with HELP; histogram buckets cumulative, ending in
// +Inf equal to _count.
void check_exposition(const Exposition& e) {
    for (const Sample& s : e.samples) {
        CAPTURE(s.name);
        std::string family = family_of(e, s.name);
        REQUIRE_FALSE(family.empty());
        CHECK(family.starts_with("netkeep_"));
        CHECK(e.helps.count(family) == 1);
        if (e.types.at(family) == "counter") CHECK(s.value >= 0);
    }
    for (const auto& [family, type] : e.types) {
        if (type != "histogram") continue;
        // Group buckets by their labels without le.
        std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> series;
        for (const Sample& s : e.samples) {
            if (s.name != family + "_bucket") continue;
            auto labels = s.labels;
            REQUIRE(labels.count("le") == 1);
            double le = labels["le"] == "+Inf" ? HUGE_VAL : std::stod(labels["le"]);
            labels.erase("le");
            series[labels].emplace_back(le, s.value);
        }
        for (const auto& [labels, buckets] : series) {
            REQUIRE_FALSE(buckets.empty());
            for (std::size_t i = 1; i < buckets.size(); ++i) {
                CHECK(buckets[i].first > buckets[i - 1].first);
                CHECK(buckets[i].second >= buckets[i - 1].second);
            }
            CHECK(buckets.back().first == HUGE_VAL);
            auto count = e.value(family + "_count", labels);
            REQUIRE(count);
            CHECK(*count == buckets.back().second);
            CHECK(e.value(family + "_sum", labels).has_value());
        }
    }
}

Exposition scrape(Client& client) {
    auto r = call(client, "GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    Exposition e = parse_exposition(r.body);
    check_exposition(e);
    return e;
}

simdjson::dom::element json(simdjson::dom::parser& parser, const ClientResponse& r) {
    auto doc = parser.parse(r.body);
    REQUIRE_MESSAGE(!doc.error(), r.body);
    return doc.value();
}

}  // namespace

TEST_CASE(
    "/metrics is valid exposition text and counts leases, completions, commits and requests") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);

    Exposition before = scrape(client);
    CHECK(before.value("netkeep_leases_granted_total") == 0);
    CHECK(before.value("netkeep_tasks", {{"status", "due"}}) == 2);
    CHECK(before.value("netkeep_git_lag_events").has_value());

    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    CHECK(lease(client).empty());  // a 204, counted under its code
    complete(client, leases[0], "config one\n");
    complete(client, leases[1], "partial", std::string("auth failed"));
    REQUIRE(eventually([&] { return f.commits() == 1; }));

    Exposition e = scrape(client);
    CHECK(e.value("netkeep_leases_granted_total") == 2);
    CHECK(e.value("netkeep_leases_expired_total") == 0);
    CHECK(e.value("netkeep_completions_total", {{"result", "ok"}}) == 1);
    CHECK(e.value("netkeep_completions_total", {{"result", "failed"}}) == 1);
    CHECK(e.value("netkeep_ingested_bytes_total") ==
          double(std::string("config one\npartial").size()));
    CHECK(e.value("netkeep_tasks", {{"status", "scheduled"}}) == 1);
    CHECK(e.value("netkeep_tasks_overdue") == 0);
    CHECK(e.value("netkeep_log_last_seq") > 0);
    CHECK(e.value("netkeep_projection_seq") == e.value("netkeep_log_last_seq"));
    CHECK(e.value("netkeep_http_requests_total",
                  {{"route", "/worker/next"}, {"method", "GET"}, {"code", "200"}}) == 1);
    CHECK(e.value("netkeep_http_requests_total",
                  {{"route", "/worker/next"}, {"method", "GET"}, {"code", "204"}}) == 1);
    CHECK(e.value("netkeep_http_requests_total",
                  {{"route", "/worker/complete"}, {"method", "POST"}, {"code", "200"}}) == 2);
    CHECK(e.value("netkeep_http_request_duration_seconds_count",
                  {{"route", "/metrics"}, {"method", "GET"}, {"code", "200"}}) == 1);
    CHECK(e.types.at("netkeep_http_request_duration_seconds") == "histogram");
    // The writer's report reaches the io thread shortly after the commit.
    REQUIRE(eventually([&] { return scrape(client).value("netkeep_git_commits_total") == 1; }));
    REQUIRE(eventually([&] { return scrape(client).value("netkeep_git_lag_events") == 0; }));
    CHECK(scrape(client).value("netkeep_git_lag_seconds") == 0);
    CHECK(scrape(client).value("netkeep_history_versions") == 1);

    check_bad(client, "GET", "/metrics?x=1", "x");
    auto head = call(client, "HEAD", "/metrics");
    CHECK(head.status == 200);
    CHECK(head.body.empty());

    // Answers the server gives without a handler are counted too.
    CHECK(call(client, "GET", "/no/such/route").status == 404);
    CHECK(call(client, "DELETE", "/metrics").status == 405);
    Exposition after = scrape(client);
    CHECK(after.value("netkeep_http_requests_total",
                      {{"route", "(unrouted)"}, {"method", "GET"}, {"code", "404"}}) == 1);
    CHECK(after.value("netkeep_http_requests_total",
                      {{"route", "(unrouted)"}, {"method", "DELETE"}, {"code", "405"}}) == 1);
}

TEST_CASE("GET /api/v1/tasks: status, lease, outcomes, last change; filters; bad parameters") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;

    auto r = call(client, "GET", "/api/v1/tasks");
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "application/json");
    auto tasks = json(parser, r)["tasks"].get_array().value();
    REQUIRE(tasks.size() == 2);
    for (auto t : tasks) {
        CHECK(std::string(t["status"].get_string().value()) == "due");
        CHECK(t["lease"].is_null());
        CHECK(t["last_success"].is_null());
        CHECK(t["last_change"].is_null());
        CHECK(t["max_attempts"].get_int64().value() == 3);
    }

    auto leases = lease(client, "?tag=core");
    REQUIRE(leases.size() == 1);
    r = call(client, "GET", "/api/v1/tasks?status=leased");
    tasks = json(parser, r)["tasks"].get_array().value();
    REQUIRE(tasks.size() == 1);
    auto t = tasks.at(0).value();
    CHECK(std::string(t["device"].get_string().value()) == "r1");
    CHECK(t["lease"]["attempt"].get_int64().value() == 1);
    CHECK(t["lease"]["deadline"].get_int64().value() > now_seconds());
    CHECK_FALSE(t["lease"]["worker"].get_string().value().empty());

    auto seq = complete(client, leases[0], "config r1\n");
    REQUIRE(eventually([&] { return f.commits() == 1; }));
    const std::string head = f.git({"rev-parse", "main"}).value().substr(0, 40);
    // The git writer's report reaches the index shortly after the commit.
    auto has_head = [&] {
        return call(client, "GET", "/api/v1/tasks?device=r1").body.find(head) != std::string::npos;
    };
    const bool found = eventually(has_head);
    REQUIRE_MESSAGE(found, call(client, "GET", "/api/v1/tasks?device=r1").body);
    r = call(client, "GET", "/api/v1/tasks?device=r1&job=show_run");
    t = json(parser, r)["tasks"].at(0).value();
    CHECK(std::string(t["status"].get_string().value()) == "scheduled");
    CHECK(t["next_due"].get_int64().value() > now_seconds());
    CHECK(t["last_success"]["seq"].get_int64().value() == seq);
    CHECK(std::string(t["last_change"]["commit"].get_string().value()) == head);
    CHECK(t["last_change"]["seq"].get_int64().value() == seq);
    CHECK(t["last_change"]["time"].get_int64().value() ==
          leases[0].timestamp + 1);  // the run's end

    // r2 fails once: retrying until its retry delay (1 s) passes, with the failure text.
    leases = lease(client);
    REQUIRE(leases.size() == 1);
    complete(client, leases[0], "", std::string("ssh: connection refused"));
    r = call(client, "GET", "/api/v1/tasks?tag=edge");
    t = json(parser, r)["tasks"].at(0).value();
    CHECK(std::string(t["device"].get_string().value()) == "r2");
    CHECK(std::string(t["last_failure"]["failure"].get_string().value()) ==
          "ssh: connection refused");
    CHECK(t["failed_attempts"].get_int64().value() == 1);

    CHECK(json(parser, call(client, "GET", "/api/v1/tasks?device=nope"))["tasks"]
              .get_array()
              .value()
              .size() == 0);
    CHECK(json(parser, call(client, "GET", "/api/v1/tasks?status=scheduled&status=leased"))["tasks"]
              .get_array()
              .value()
              .size() == 1);
    check_bad(client, "GET", "/api/v1/tasks?status=bogus", "status");
    check_bad(client, "GET", "/api/v1/tasks?device=", "device");
    check_bad(client, "GET", "/api/v1/tasks?foo=1", "foo");
    CHECK(call(client, "POST", "/api/v1/tasks").status == 405);
}

TEST_CASE("run now: the next /worker/next leases the task; 404, 409 and bad requests") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;

    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    for (const auto& l : leases) complete(client, l, "baseline " + l.device + "\n");
    CHECK(lease(client, "?seconds=3600").empty());  // the next slots are on January 1st

    const std::int64_t asked = now_seconds();
    auto r = call(client, "POST", "/api/v1/tasks/r2/show_run/run");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    auto answer = json(parser, r);
    const std::int64_t seq = answer["seq"].get_int64().value();
    const std::int64_t timestamp = answer["timestamp"].get_int64().value();
    CHECK(timestamp >= asked);
    CHECK(timestamp <= now_seconds());
    CHECK(std::string(answer["status"].get_string().value()) == "due");
    CHECK(answer["changed"].get_bool().value());

    // Asked again before it ran: nothing to change, so 200 and no event (issue 11).
    {
        simdjson::dom::parser again_parser;
        auto again = call(client, "POST", "/api/v1/tasks/r2/show_run/run");
        REQUIRE_MESSAGE(again.status == 200, again.body);
        auto doc = json(again_parser, again);
        CHECK_FALSE(doc["changed"].get_bool().value());
        CHECK(doc["seq"].error() == simdjson::NO_SUCH_FIELD);
        CHECK(doc["timestamp"].get_int64().value() == timestamp);
        auto events = call(client, "GET", fmt::format("/api/v1/events?from={}", seq + 1));
        CHECK(json(again_parser, events)["events"].get_array().value().size() == 0);
    }

    auto next = lease(client, "?seconds=1");
    REQUIRE(next.size() == 1);
    CHECK(next[0].device == "r2");
    CHECK(next[0].timestamp == timestamp);
    CHECK(next[0].attempt == 1);

    // Leased now: 409 naming the holder.
    r = call(client, "POST", "/api/v1/tasks/r2/show_run/run");
    CHECK(r.status == 409);
    CHECK(r.body.find("leased") != std::string::npos);

    // The request is an event in the log.
    r = call(client, "GET", fmt::format("/api/v1/events?from={}&limit=1", seq));
    auto event = json(parser, r)["events"].at(0).value();
    CHECK(std::string(event["type"].get_string().value()) == "RunRequested");
    CHECK(std::string(event["device"].get_string().value()) == "r2");
    CHECK(std::string(event["requested_by"].get_string().value()) == "127.0.0.1");

    CHECK(call(client, "POST", "/api/v1/tasks/nope/show_run/run").status == 404);
    CHECK(call(client, "POST", "/api/v1/tasks/r1/nope/run").status == 404);
    CHECK(call(client, "POST", "/api/v1/tasks/r1/run").status == 404);
    CHECK(call(client, "GET", "/api/v1/tasks/r1/show_run/run").status == 405);
    check_bad(client, "POST", "/api/v1/tasks/r1/show_run/run?now=1", "now");
    auto with_body = client.request("POST", "/api/v1/tasks/r1/show_run/run", "x");
    REQUIRE(with_body.is_ok());
    CHECK(with_body->status == 413);
}

TEST_CASE(
    "GET /api/v1/events: the audit tail in order, inventories without content; bad parameters") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    complete(client, leases[0], std::string("config with ") + std::string(k_literal_pass) + "\n");

    auto r = call(client, "GET", "/api/v1/events");
    REQUIRE(r.status == 200);
    CHECK(r.body.find(k_literal_pass) == std::string::npos);
    CHECK(r.body.find(k_env_pass) == std::string::npos);
    auto doc = json(parser, r);
    auto events = doc["events"].get_array().value();
    REQUIRE(events.size() == 5);  // inventory, two leases, completion, close
    std::int64_t expected = 1;
    for (auto e : events) CHECK(e["seq"].get_int64().value() == expected++);
    CHECK(doc["next"].get_int64().value() == 6);
    CHECK(doc["last_seq"].get_int64().value() == 5);
    auto inventory = events.at(0).value();
    CHECK(std::string(inventory["type"].get_string().value()) == "InventoryApplied");
    CHECK(inventory["devices_json"]["size"].get_int64().value() > 0);
    CHECK(inventory["devices_json"]["sha256"].get_string().value().size() == 64);
    auto completion = events.at(3).value();
    CHECK(std::string(completion["type"].get_string().value()) == "CompletionRecorded");
    CHECK(completion["failure"].is_null());
    CHECK(completion["sha256"].get_string().value().size() == 64);
    CHECK(std::string(events.at(4).value()["reason"].get_string().value()) == "succeeded");

    doc = json(parser, call(client, "GET", "/api/v1/events?from=2&limit=2"));
    events = doc["events"].get_array().value();
    REQUIRE(events.size() == 2);
    CHECK(std::string(events.at(0).value()["type"].get_string().value()) == "LeaseGranted");
    CHECK(doc["next"].get_int64().value() == 4);
    doc = json(parser, call(client, "GET", "/api/v1/events?from=99"));
    CHECK(doc["events"].get_array().value().size() == 0);
    CHECK(doc["next"].get_int64().value() == 99);

    check_bad(client, "GET", "/api/v1/events?from=0", "from");
    check_bad(client, "GET", "/api/v1/events?from=x", "from");
    check_bad(client, "GET", "/api/v1/events?limit=0", "limit");
    check_bad(client, "GET", "/api/v1/events?limit=1001", "limit");
    check_bad(client, "GET", "/api/v1/events?since=1", "since");
}

TEST_CASE(
    "history lists each changed version with the commits git log shows, also after a restart") {
    Fixture f;
    std::vector<std::int64_t> seqs;
    {
        auto server = f.start();
        auto client = connect(server);
        auto leases = lease(client, "?tag=core");
        REQUIRE(leases.size() == 1);
        seqs.push_back(complete(client, leases[0], "version 1\n", std::nullopt, 10));
        REQUIRE(eventually([&] { return f.commits() == 1; }));
        REQUIRE(call(client, "POST", "/api/v1/tasks/r1/show_run/run").status == 200);
        leases = lease(client, "?tag=core");
        REQUIRE(leases.size() == 1);
        seqs.push_back(complete(client, leases[0], "version 2\n", std::nullopt, 20));
        REQUIRE(eventually([&] { return f.commits() == 2; }));
        // Unchanged content: no commit, no version.
        REQUIRE(call(client, "POST", "/api/v1/tasks/r1/show_run/run").status == 200);
        leases = lease(client, "?tag=core");
        REQUIRE(leases.size() == 1);
        complete(client, leases[0], "version 2\n", std::nullopt, 30);

        std::vector<std::string> commits;
        std::istringstream log(
            f.git({"log", "--format=%H %ct", "main", "--", "r1/show_run"}).value());
        std::string line;
        while (std::getline(log, line)) commits.push_back(line);
        REQUIRE(commits.size() == 2);
        REQUIRE(eventually([&] {
            return scrape(client).value("netkeep_git_applied_completions_total") == 3 &&
                   scrape(client).value("netkeep_git_lag_events") == 0;
        }));
        auto check_history = [&](Client& c) {
            simdjson::dom::parser parser;
            // Indexing after a start runs in the background: until it ends, the answer says so.
            REQUIRE(eventually([&] {
                return call(c, "GET", "/api/v1/devices/r1/history")
                           .body.find(R"("indexing":false)") != std::string::npos;
            }));
            auto r = call(c, "GET", "/api/v1/devices/r1/history");
            REQUIRE_MESSAGE(r.status == 200, r.body);
            auto doc = json(parser, r);
            CHECK(std::string(doc["device"].get_string().value()) == "r1");
            CHECK(doc["jobs"].at(0)["total"].get_int64().value() == 2);
            CHECK(doc["jobs"].at(0)["next_before"].is_null());
            auto jobs = doc["jobs"].get_array().value();
            REQUIRE(jobs.size() == 1);
            CHECK(std::string(jobs.at(0).value()["job"].get_string().value()) == "show_run");
            auto versions = jobs.at(0).value()["versions"].get_array().value();
            REQUIRE(versions.size() == 2);
            for (std::size_t i = 0; i < 2; ++i) {
                auto v = versions.at(i).value();
                // Newest first, like git log.
                CHECK(fmt::format("{} {}", std::string(v["commit"].get_string().value()),
                                  v["time"].get_int64().value()) == commits[i]);
                CHECK(v["seq"].get_int64().value() == seqs[1 - i]);
                CHECK(std::string(v["path"].get_string().value()) == "r1/show_run");
            }
        };
        check_history(client);
        // r2 has no versions yet, but is a device.
        simdjson::dom::parser parser;
        auto r2 = json(parser, call(client, "GET", "/api/v1/devices/r2/history"));
        CHECK(r2["jobs"].at(0)["versions"].get_array().value().size() == 0);
        CHECK(call(client, "GET", "/api/v1/devices/nope/history").status == 404);
        check_bad(client, "GET", "/api/v1/devices/r1/history?job=show_run", "job");
        check_bad(client, "GET", "/api/v1/devices/r1/history?limit=0", "limit");
        check_bad(client, "GET", "/api/v1/devices/r1/history?limit=1001", "limit");
        check_bad(client, "GET", "/api/v1/devices/r1/history?limit=x", "limit");
        check_bad(client, "GET", "/api/v1/devices/r1/history?limit=1&limit=2", "limit");
        check_bad(client, "GET", "/api/v1/devices/r1/history?before=0", "before");
        check_bad(client, "GET", "/api/v1/devices/r1/history?before=-1", "before");

        // Paging: one version a page, newest first, following next_before.
        auto page1 = json(parser, call(client, "GET", "/api/v1/devices/r1/history?limit=1"));
        auto job1 = page1["jobs"].at(0);
        REQUIRE(job1["versions"].get_array().value().size() == 1);
        CHECK(job1["versions"].at(0)["seq"].get_int64().value() == seqs[1]);
        CHECK(job1["next_before"].get_int64().value() == seqs[1]);
        CHECK(job1["total"].get_int64().value() == 2);
        auto page2 = json(
            parser, call(client, "GET",
                         fmt::format("/api/v1/devices/r1/history?limit=1&before={}", seqs[1])));
        auto job2 = page2["jobs"].at(0);
        REQUIRE(job2["versions"].get_array().value().size() == 1);
        CHECK(job2["versions"].at(0)["seq"].get_int64().value() == seqs[0]);
        CHECK(job2["next_before"].is_null());

        REQUIRE(server.process.send_signal(SIGTERM).is_ok());
        auto status = server.process.wait(20s);
        REQUIRE(status.is_ok());
        CHECK(status->code == 0);
        // The first start indexed the records as the git writer reported them.
        CHECK(server.process.stderr_text().find("history.indexed") != std::string::npos);

        // From the index on disk after a restart, without indexing the records again: the
        // start resumes after history.indexed_through and finds nothing new.
        auto again = f.start();
        auto client2 = connect(again);
        check_history(client2);
        REQUIRE(eventually([&] {
            return again.process.stderr_text().find("history.indexed") != std::string::npos;
        }));
        const std::string logs = again.process.stderr_text();
        std::string indexed = logs.substr(logs.find("history.indexed"));
        indexed = indexed.substr(0, indexed.find('\n')) + " ";
        CHECK_MESSAGE(indexed.find(" chunks=0") != std::string::npos, indexed);
        CHECK_MESSAGE(indexed.find(" new_versions=0") != std::string::npos, indexed);
        CHECK_MESSAGE(indexed.find(" versions=2 ") != std::string::npos, indexed);
        CHECK_MESSAGE(indexed.find(" tasks_loaded=1") != std::string::npos, indexed);
    }
}

TEST_CASE("no password reaches netkeepd's stderr or stdout, literal or from the environment") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);

    // The secrets are in play: a lease carries them in clear.
    auto r = call(client, "GET", "/worker/next?max=2");
    REQUIRE(r.status == 200);
    REQUIRE(r.body.find(k_literal_pass) != std::string::npos);
    REQUIRE(r.body.find(k_env_pass) != std::string::npos);
    simdjson::dom::parser parser;
    std::vector<Lease> leases;
    for (auto item : json(parser, r).get_array())
        leases.push_back({std::string(item["device"]["name"].get_string().value()),
                          item["timestamp"].get_int64().value(), 1});
    REQUIRE(leases.size() == 2);
    // A device's output can quote its password; the log must not.
    complete(client, leases[0], fmt::format("username u password {}\n", k_literal_pass));
    complete(client, leases[1], "", std::string("login refused"));
    REQUIRE(eventually([&] { return f.commits() == 1; }));
    REQUIRE(call(client, "POST", "/api/v1/tasks/r1/show_run/run").status == 200);
    REQUIRE(call(client, "POST", "/admin/reload").status == 200);
    // A bad inventory is refused with a message naming the file (never its values).
    std::ofstream(f.inventory / "jobs.json", std::ios::app) << "garbage";
    CHECK(call(client, "POST", "/admin/reload").status == 422);
    for (std::string target :
         {"/api/v1/tasks", "/api/v1/events?limit=1000", "/api/v1/devices/r1/history",
          "/api/v1/devices/r2/history", "/metrics"}) {
        auto body = call(client, "GET", target).body;
        CAPTURE(target);
        CHECK(body.find(k_literal_pass) == std::string::npos);
        CHECK(body.find(k_env_pass) == std::string::npos);
    }
    REQUIRE(server.process.send_signal(SIGHUP).is_ok());
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto status = server.process.wait(20s);
    REQUIRE_MESSAGE(status.is_ok(), server.process.stderr_text());
    const std::string out = server.process.stderr_text() + server.process.stdout_text();
    CHECK(out.find("completion.recorded") != std::string::npos);  // the log is there ...
    CHECK(out.find("task.run_requested") != std::string::npos);
    CHECK(out.find(k_literal_pass) == std::string::npos);  // ... without the passwords
    CHECK(out.find(k_env_pass) == std::string::npos);
}

// ---- issue 12: the fleet page's API (paging, sorting, filters), the audit tail, the
// status page and the quarantine list ----

namespace {

// 25 devices (sw-00..sw-11 ungrouped, EDGE-12..EDGE-24 in groups g0/g1) x 1 yearly job.
struct FleetFixture : Fixture {
    FleetFixture() {
        std::string d = R"({"credentials": {"c": {"user": "u", "pass": "p"}}, "devices": [)";
        for (int i = 0; i < 25; ++i) {
            if (i) d += ',';
            std::string group = i < 12 ? "" : fmt::format(R"(, "group": "g{}")", i % 2);
            d += fmt::format(R"({{"name": "{}-{:02}", "credentials": "c", "tags": ["t{}"]{}}})",
                             i < 12 ? "sw" : "EDGE", i, i % 3, group);
        }
        std::ofstream(inventory / "devices.json") << d << "]}";
    }
};

struct TasksAnswer {
    std::vector<std::string> devices;
    std::int64_t total = 0;
    std::map<std::string, std::int64_t> counts;
    std::optional<std::string> next_cursor;
};

TasksAnswer get_tasks(Client& client, const std::string& query) {
    CAPTURE(query);
    auto r = call(client, "GET", "/api/v1/tasks" + query);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    simdjson::dom::parser parser;
    auto doc = json(parser, r);
    TasksAnswer a;
    a.total = doc["total"].get_int64().value();
    for (auto [key, value] : doc["counts"].get_object())
        a.counts[std::string(key)] = value.get_int64().value();
    for (auto t : doc["tasks"].get_array()) {
        a.devices.emplace_back(t["device"].get_string().value());
        CHECK(t["tags"].get_array().size() == 1);
        CHECK_FALSE(t["group"].get_string().error());
    }
    if (!doc["next_cursor"].is_null())
        a.next_cursor = std::string(doc["next_cursor"].get_string().value());
    return a;
}

// Percent-encoding for a cursor or q value in a query string.
std::string encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            out += char(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

// Every page of `query` (which must not be empty) with `limit`, following next_cursor.
std::vector<std::string> walk_pages(Client& client, const std::string& query, int limit,
                                    const std::function<void()>& between = {}) {
    std::vector<std::string> all;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
        auto a = get_tasks(client, fmt::format("{}&limit={}{}", query, limit, cursor));
        CHECK(a.devices.size() <= std::size_t(limit));
        all.insert(all.end(), a.devices.begin(), a.devices.end());
        if (!a.next_cursor) return all;
        cursor = "&cursor=" + encode(*a.next_cursor);
        if (between) between();
    }
    FAIL("the walk did not end");
    return all;
}

}  // namespace

TEST_CASE("GET /api/v1/tasks pages: sort, order, cursor walks, q, group, total and counts") {
    FleetFixture f;
    auto server = f.start();
    auto client = connect(server);

    auto first = get_tasks(client, "?limit=10");
    CHECK(first.total == 25);
    CHECK(first.counts.at("due") == 25);
    CHECK(first.counts.at("failing") == 0);
    REQUIRE(first.devices.size() == 10);
    CHECK(first.devices.front() == "EDGE-12");  // by name: upper case sorts first
    REQUIRE(first.next_cursor);

    std::vector<std::string> by_name;
    for (int i = 12; i < 25; ++i) by_name.push_back(fmt::format("EDGE-{:02}", i));
    for (int i = 0; i < 12; ++i) by_name.push_back(fmt::format("sw-{:02}", i));
    CHECK(walk_pages(client, "?sort=device", 7) == by_name);
    std::vector<std::string> reversed(by_name.rbegin(), by_name.rend());
    CHECK(walk_pages(client, "?sort=device&order=desc", 4) == reversed);

    // Leases and failures between pages: a walk by device still sees every task once.
    auto leases = lease(client, "?max=3&tag=t0");
    REQUIRE(leases.size() == 3);
    complete(client, leases[0], "", std::string("ssh: refused"));
    int polls = 0;
    auto walked = walk_pages(client, "?sort=device", 6, [&] {
        if (polls++ < 3) CHECK(lease(client, "?max=2&tag=t1").size() == 2);
    });
    CHECK(walked == by_name);
    for (std::string sort :
         {"job", "status", "next_due", "last_success", "last_change", "last_failure"}) {
        CAPTURE(sort);
        auto pages = walk_pages(client, "?sort=" + sort, 6);
        CHECK(std::set<std::string>(pages.begin(), pages.end()).size() == 25);
        CHECK(pages.size() == 25);
    }
    auto failing = get_tasks(client, "?sort=last_failure&order=desc&limit=1");
    REQUIRE(failing.devices.size() == 1);
    CHECK(failing.devices[0] == leases[0].device);
    CHECK(failing.counts.at("failing") == 1);
    CHECK(failing.counts.at("leased") == 2 + 6);
    CHECK(failing.counts.at("retrying") + failing.counts.at("due") == 25 - 8);

    // Filters: q (case-insensitive substring of the name), group, status; counts ignore
    // only the status filter.
    auto edge = get_tasks(client, "?q=edge-1");
    CHECK(edge.total == 8);  // EDGE-12 .. EDGE-19
    auto g1 = get_tasks(client, "?group=g1&status=leased");
    auto g1_all = get_tasks(client, "?group=g1");
    CHECK(g1_all.total == 6);  // 13, 15, ..., 23
    CHECK(g1.total == g1_all.counts.at("leased"));
    CHECK(g1.counts == g1_all.counts);
    CHECK(get_tasks(client, "?q=").total == 25);
    CHECK(get_tasks(client, "?group=nope").total == 0);

    simdjson::dom::parser parser;
    auto one = json(parser, call(client, "GET", "/api/v1/tasks?device=EDGE-13"))["tasks"].at(0);
    CHECK(std::string(one["group"].get_string().value()) == "g1");
    CHECK(std::string(one["tags"].at(0).get_string().value()) == "t1");
    auto ungrouped = json(parser, call(client, "GET", "/api/v1/tasks?device=sw-01"))["tasks"].at(0);
    CHECK(std::string(ungrouped["group"].get_string().value()).empty());

    check_bad(client, "GET", "/api/v1/tasks?limit=0", "limit");
    check_bad(client, "GET", "/api/v1/tasks?limit=100001", "limit");
    check_bad(client, "GET", "/api/v1/tasks?limit=ten", "limit");
    check_bad(client, "GET", "/api/v1/tasks?cursor=garbage", "cursor");
    check_bad(client, "GET", "/api/v1/tasks?cursor=", "cursor");
    check_bad(client, "GET", "/api/v1/tasks?sort=name", "sort");
    check_bad(client, "GET", "/api/v1/tasks?order=up", "order");
    check_bad(client, "GET", "/api/v1/tasks?group=", "group");
    check_bad(client, "GET", "/api/v1/tasks?q=" + std::string(257, 'a'), "q");
    check_bad(client, "GET", "/api/v1/tasks?sort=job&sort=device", "sort");
    check_bad(client, "GET", "/api/v1/tasks?page=2", "page");
    // A cursor from another sort is refused rather than read wrongly.
    check_bad(client, "GET", "/api/v1/tasks?sort=next_due&cursor=" + encode(*first.next_cursor),
              "cursor");
    check_bad(client, "GET", "/api/v1/tasks?cursor=" + std::string(2000, 'x'), "cursor");
    // Hostile values come back as valid JSON (check_bad parses it), never raw.
    check_bad(client, "GET", "/api/v1/tasks?sort=%FF%22%3Cscript%3E%00", "sort");
    check_bad(client, "GET", "/api/v1/tasks?cursor=v1~device~a~0~%22%0A~%FF", "cursor");
    check_bad(client, "GET", "/api/v1/events?type=%22%3Cimg%20src=x%3E%FF", "type");
    CHECK(get_tasks(client, "?q=%00%FF%22").total == 0);

    // After a reload that drops EDGE-13, a cursor naming it still continues after it,
    // and the pages list the new inventory.
    auto upto = get_tasks(client, "?limit=2");  // EDGE-12, EDGE-13
    REQUIRE(upto.devices.back() == "EDGE-13");
    std::string devices = [&] {
        std::ifstream in(f.inventory / "devices.json");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    const std::string edge13 =
        R"({"name": "EDGE-13", "credentials": "c", "tags": ["t1"], "group": "g1"},)";
    REQUIRE(devices.find(edge13) != std::string::npos);
    devices.erase(devices.find(edge13), edge13.size());
    std::ofstream(f.inventory / "devices.json") << devices;
    auto reload = call(client, "POST", "/admin/reload");
    REQUIRE_MESSAGE(reload.status == 200, reload.body);
    auto after = get_tasks(client, "?limit=1&cursor=" + encode(*upto.next_cursor));
    REQUIRE(after.devices.size() == 1);
    CHECK(after.devices[0] == "EDGE-14");
    CHECK(after.total == 24);
    auto shorter = by_name;
    shorter.erase(shorter.begin() + 1);
    CHECK(walk_pages(client, "?sort=device", 5) == shorter);
}

TEST_CASE("GET /api/v1/events: type and device filters, the tail newest first; bad parameters") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    complete(client, leases[0], "config\n");
    complete(client, leases[1], "", std::string("refused"));
    // 1 inventory, 2 leases, 2 completions, 1 close (the success).
    REQUIRE(call(client, "POST", "/api/v1/tasks/r1/show_run/run").status == 200);  // 7

    auto doc = json(parser, call(client, "GET", "/api/v1/events?type=CompletionRecorded"));
    auto events = doc["events"].get_array().value();
    REQUIRE(events.size() == 2);
    for (auto e : events)
        CHECK(std::string(e["type"].get_string().value()) == "CompletionRecorded");
    doc = json(parser,
               call(client, "GET", "/api/v1/events?device=r1&type=LeaseGranted&type=RunRequested"));
    events = doc["events"].get_array().value();
    REQUIRE(events.size() == 2);
    CHECK(std::string(events.at(1).value()["type"].get_string().value()) == "RunRequested");
    CHECK(doc["next"].get_int64().value() == 8);  // everything examined

    doc = json(parser, call(client, "GET", "/api/v1/events?tail=1&limit=3"));
    events = doc["events"].get_array().value();
    REQUIRE(events.size() == 3);
    CHECK(events.at(0).value()["seq"].get_int64().value() == 7);
    CHECK(events.at(2).value()["seq"].get_int64().value() == 5);
    CHECK(doc["next_before"].get_int64().value() == 5);
    CHECK(doc["last_seq"].get_int64().value() == 7);
    CHECK(doc["scanned"].get_int64().value() == 3);
    doc = json(parser, call(client, "GET", "/api/v1/events?tail=1&limit=3&before=5"));
    CHECK(doc["events"].at(0)["seq"].get_int64().value() == 4);
    doc = json(parser, call(client, "GET", "/api/v1/events?tail=1&before=3"));
    CHECK(doc["events"].get_array().value().size() == 2);
    CHECK(doc["next_before"].is_null());
    doc = json(parser, call(client, "GET", "/api/v1/events?tail=1&device=r2&limit=1"));
    CHECK(std::string(doc["events"].at(0)["type"].get_string().value()) == "CompletionRecorded");
    CHECK(std::string(doc["events"].at(0)["failure"].get_string().value()) == "refused");

    check_bad(client, "GET", "/api/v1/events?type=Bogus", "type");
    check_bad(client, "GET", "/api/v1/events?device=", "device");
    check_bad(client, "GET", "/api/v1/events?before=5", "before");
    check_bad(client, "GET", "/api/v1/events?tail=1&before=0", "before");
    check_bad(client, "GET", "/api/v1/events?tail=yes", "tail");
    check_bad(client, "GET", "/api/v1/events?tail=1&from=2", "from");
}

TEST_CASE("GET /api/v1/status: version, log, git, spool, tasks, workers with their leases") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;
    netkeep::http::Headers worker;
    worker.set("X-Netkeep-Worker", "worker-dal-1");
    auto r = client.request("GET", "/worker/next?max=1", {}, worker);
    REQUIRE(r.is_ok());
    REQUIRE(r->status == 200);
    REQUIRE(lease(client, "?max=1").size() == 1);  // named by its address
    CHECK(lease(client).empty());

    REQUIRE(eventually([&] {
        simdjson::dom::parser p;
        return !json(p, call(client, "GET", "/api/v1/status"))["spool"].is_null();
    }));
    auto doc = json(parser, call(client, "GET", "/api/v1/status"));
    CHECK_FALSE(std::string(doc["version"].get_string().value()).empty());
    CHECK(doc["now"].get_int64().value() >= doc["started_at"].get_int64().value());
    CHECK(doc["uptime_seconds"].get_int64().value() >= 0);
    CHECK(doc["log"]["last_seq"].get_int64().value() == 3);
    CHECK(doc["log"]["projection_seq"].get_int64().value() == 3);
    CHECK_FALSE(doc["git"].is_null());
    CHECK(doc["git"]["lag_events"].get_int64().value() >= 0);
    CHECK(doc["spool"]["files"].get_int64().value() == 0);
    CHECK(doc["tasks"]["total"].get_int64().value() == 2);
    CHECK(doc["tasks"]["leased"].get_int64().value() == 2);
    CHECK(doc["history_versions"].get_int64().value() == 0);
    CHECK(doc["ready"].get_bool().value());
    CHECK(doc["reasons"].get_array().value().size() == 0);
    CHECK(doc["quarantined"].get_int64().value() == 0);
    auto workers = doc["workers"].get_array().value();
    REQUIRE(workers.size() == 2);
    // Newest poll first: the address-named one polled last (twice).
    auto newest = workers.at(0).value();
    CHECK(std::string(newest["name"].get_string().value()) == "127.0.0.1");
    CHECK(std::string(newest["address"].get_string().value()) == "127.0.0.1");
    CHECK(newest["leases_held"].get_int64().value() == 1);
    auto dal = workers.at(1).value();
    CHECK(std::string(dal["name"].get_string().value()) == "worker-dal-1");
    CHECK(dal["leases_held"].get_int64().value() == 1);
    CHECK(dal["last_poll"].get_int64().value() <= newest["last_poll"].get_int64().value());

    check_bad(client, "GET", "/api/v1/status?x=1", "x");
    CHECK(call(client, "POST", "/api/v1/status").status == 405);
}

TEST_CASE("GET /api/v1/quarantine lists the git writer's quarantined completion") {
    Fixture f;
    std::int64_t lost = 0;
    {
        // Ingest only, so that the spool file can go missing before the writer sees it.
        auto server =
            start_netkeepd({"--data-dir", f.data.string(), "--inventory", f.inventory.string(),
                            "--listen", "127.0.0.1:0", "--no-git-writer"},
                           SpawnOptions{.env = {"NK_OPAPI_PASS=x"}, .working_dir = {}});
        REQUIRE(server.is_ok());
        auto client = connect(*server);
        simdjson::dom::parser parser;
        auto doc = json(parser, call(client, "GET", "/api/v1/quarantine"));
        CHECK(doc["quarantined"].get_array().value().size() == 0);
        CHECK_FALSE(doc["truncated"].get_bool().value());
        CHECK(json(parser, call(client, "GET", "/api/v1/status"))["git"].is_null());
        auto leases = lease(client, "?tag=core");
        REQUIRE(leases.size() == 1);
        lost = complete(client, leases[0], "config\n");
        REQUIRE(server->process.send_signal(SIGTERM).is_ok());
        REQUIRE(server->process.wait(10s).is_ok());
    }
    for (const auto& file : fs::directory_iterator(f.data / "spool"))
        if (!file.path().filename().string().starts_with(".")) fs::remove(file.path());

    auto server = f.start();
    auto client = connect(server);
    simdjson::dom::parser parser;
    REQUIRE(eventually([&] {
        simdjson::dom::parser p;
        return json(p, call(client, "GET", "/api/v1/quarantine"))["quarantined"]
                   .get_array()
                   .value()
                   .size() == 1;
    }));
    auto entry = json(parser, call(client, "GET", "/api/v1/quarantine"))["quarantined"].at(0);
    CHECK(entry["seq"].get_int64().value() == lost);
    CHECK(std::string(entry["state"].get_string().value()) == "quarantined");
    CHECK(std::string(entry["what"].get_string().value()) == "r1/show_run");
    CHECK(entry["attempts"].get_int64().value() >= 1);
    CHECK(entry["at"].get_int64().value() > 0);
    CHECK_FALSE(std::string(entry["detail"].get_string().value()).empty());
    CHECK(eventually([&] {
        simdjson::dom::parser p;
        return json(p, call(client, "GET", "/api/v1/status"))["quarantined"].get_int64().value() ==
               1;
    }));
    check_bad(client, "GET", "/api/v1/quarantine?all=1", "all");
}
