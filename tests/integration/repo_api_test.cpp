// The git-backed read routes against the real netkeepd: versions (paging, sizes and blobs
// as git knows them), a config at a version (= git show), diffs (= git diff's hunks) and
// search (= git grep at main); and what an attacker sends: other tasks' commits, bad ids,
// bad and pathological expressions, out-of-range limits, unknown parameters.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
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

struct Fixture {
    TempDir root = TempDir::create("repo-api-it").value();
    fs::path data = root / "data";
    fs::path inventory = root / "inventory";
    fs::path repo = data / "repo.git";

    Fixture() {
        fs::create_directories(inventory);
        std::ofstream(inventory / "devices.json") << R"({"devices": [
             {"name": "r1", "tags": ["core"], "group": "dc1", "credentials": {"user": "u", "pass": "p"}},
             {"name": "r2", "tags": ["edge"], "credentials": {"user": "u", "pass": "p"}}]})";
        std::ofstream(inventory / "jobs.json")
            << R"({"jobs": [{"name": "show_run", "schedule": {"cron": "0 0 1 1 *"},
                             "command": {"inline": ["show run"]}, "retry_delay": 1}]})";
    }
    RunningServer start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--data-dir",       data.string(), "--inventory",
                                         inventory.string(), "--listen",    "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto server = start_netkeepd(args);
        if (!server) FAIL(server.status().to_string());
        return std::move(server.value());
    }
    std::string git(std::vector<std::string> args) const {
        auto out = git_output(repo, std::move(args));
        REQUIRE(out);
        return *out;
    }
};

ClientResponse call(Client& client, const std::string& target) {
    auto r = client.request("GET", target);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return std::move(*r);
}

simdjson::dom::element json(simdjson::dom::parser& parser, const ClientResponse& r) {
    REQUIRE_MESSAGE(r.status == 200, r.body);
    return parser.parse(r.body).value();
}

// A 4xx JSON answer naming `parameter` (empty: any).
void check_refused(Client& client, const std::string& target, int status,
                   const std::string& parameter = "") {
    CAPTURE(target);
    auto r = call(client, target);
    CHECK_MESSAGE(r.status == status, r.body);
    simdjson::dom::parser parser;
    auto doc = parser.parse(r.body);
    REQUIRE(doc.error() == simdjson::SUCCESS);
    CHECK_FALSE(std::string(doc["error"].get_string().value()).empty());
    if (!parameter.empty()) CHECK(std::string(doc["parameter"].get_string().value()) == parameter);
}

std::string trimmed(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

// A router config; `variant` changes a few lines.
std::string config(int variant) {
    std::string s = fmt::format("hostname r1\nsnmp-server community c{} RO\n!\n", variant);
    for (int i = 0; i < 30; ++i)
        s += fmt::format("interface Gi0/{}\n description {}\n{}!\n", i,
                         i == variant * 7 ? "changed <script>" : "uplink a.b",
                         i % 5 == variant ? " shutdown\n" : "");
    return s + "end\n";
}

// r1 gets three versions, r2 one; the commits on main, newest first, for r1.
std::vector<std::string> fill(Fixture& f, Client& client) {
    auto leases = lease(client);
    REQUIRE(leases.size() == 2);
    for (const auto& l : leases)
        complete(client, l, l.device == "r1" ? config(1) : "hostname r2\ninterface Gi0/1\n");
    for (int v = 2; v <= 3; ++v) {
        REQUIRE(client.request("POST", "/api/v1/tasks/r1/show_run/run")->status == 200);
        leases = lease(client, "?tag=core");
        REQUIRE(leases.size() == 1);
        complete(client, leases[0], config(v), std::nullopt, v);
        REQUIRE(eventually([&] { return commit_count(f.repo) == v + 1; }));
    }
    // Committed is not yet indexed: the history learns of a batch after it is published.
    REQUIRE(eventually([&] {
        simdjson::dom::parser parser;
        auto r = call(client, "/api/v1/devices/r1/jobs/show_run/versions");
        return r.status == 200 && parser.parse(r.body)["total"].get_int64().value() == 3;
    }));
    std::vector<std::string> commits;
    std::istringstream log(f.git({"log", "--format=%H", "main", "--", "r1/show_run"}));
    for (std::string line; std::getline(log, line);) commits.push_back(line);
    REQUIRE(commits.size() == 3);
    return commits;
}

}  // namespace

TEST_CASE("versions, config and diff agree with git; paging; other tasks' commits are refused") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    const auto commits = fill(f, client);
    const std::string base = "/api/v1/devices/r1/jobs/show_run/";
    simdjson::dom::parser parser;

    auto all = json(parser, call(client, base + "versions"));
    CHECK(std::string(all["device"].get_string().value()) == "r1");
    CHECK(all["total"].get_int64().value() == 3);
    CHECK(all["next_before"].is_null());
    std::vector<std::string> blobs;
    std::vector<std::int64_t> seqs;
    for (std::size_t i = 0; i < 3; ++i) {
        auto v = all["versions"].at(i).value();
        const std::string commit(v["commit"].get_string().value());
        const std::string blob(v["blob"].get_string().value());
        CHECK(commit == commits[i]);  // newest first
        CHECK(blob == trimmed(f.git({"rev-parse", commit + ":r1/show_run"})));
        CHECK(v["size"].get_int64().value() == std::stoll(f.git({"cat-file", "-s", blob})));
        CHECK(std::string(v["path"].get_string().value()) == "r1/show_run");
        CHECK(v["worker"].is_string());
        blobs.push_back(blob);
        seqs.push_back(v["seq"].get_int64().value());
    }
    // Paging by seq.
    auto page = json(parser, call(client, base + "versions?limit=2"));
    CHECK(page["versions"].get_array().value().size() == 2);
    CHECK(page["next_before"].get_int64().value() == seqs[1]);
    auto rest =
        json(parser, call(client, fmt::format("{}versions?limit=2&before={}", base, seqs[1])));
    REQUIRE(rest["versions"].get_array().value().size() == 1);
    CHECK(std::string(rest["versions"].at(0)["commit"].get_string().value()) == commits[2]);
    CHECK(rest["next_before"].is_null());

    // The config at each version is the blob git shows; the newest without `at`.
    for (std::size_t i = 0; i < 3; ++i) {
        auto r = call(client, base + "config?at=" + commits[i]);
        REQUIRE(r.status == 200);
        CHECK(r.body == f.git({"cat-file", "blob", blobs[i]}));
        CHECK(r.header("ETag") == "\"" + blobs[i] + "\"");
        CHECK(r.header("Cache-Control").value_or("").find("immutable") != std::string::npos);
        CHECK(r.header("Content-Type").value_or("").starts_with("text/plain"));
    }
    auto newest = call(client, base + "config");
    CHECK(newest.body == f.git({"cat-file", "blob", blobs[0]}));
    CHECK(newest.header("Cache-Control").value_or("").find("immutable") == std::string::npos);
    // A client that has the version already gets 304 without the body.
    netkeep::http::Headers cached;
    cached.add("If-None-Match", "\"" + blobs[1] + "\"");
    auto again = client.request("GET", base + "config?at=" + commits[1], "", cached);
    REQUIRE(again.is_ok());
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    auto download = call(client, base + "config?download=1&at=" + commits[2]);
    CHECK(download.header("Content-Disposition") ==
          fmt::format("attachment; filename=\"r1_show_run_{}.txt\"", commits[2].substr(0, 12)));

    // Diffs: the hunks of git diff, and the JSON says the same.
    for (int context : {0, 3, 10}) {
        auto r = call(client, fmt::format("{}diff?from={}&to={}&context={}", base, commits[2],
                                          commits[0], context));
        REQUIRE(r.status == 200);
        std::string want =
            f.git({"diff", "--no-color", fmt::format("-U{}", context), blobs[2], blobs[0]});
        want = want.substr(want.find("\n@@") + 1);
        CHECK(r.body == want);
    }
    auto d = json(parser, call(client, fmt::format("{}diff?from={}&to={}&format=json", base,
                                                   commits[2], commits[0])));
    CHECK(std::string(d["from"]["commit"].get_string().value()) == commits[2]);
    CHECK(std::string(d["to"]["blob"].get_string().value()) == blobs[0]);
    CHECK_FALSE(d["binary"].get_bool().value());
    std::string unified = f.git({"diff", "--no-color", blobs[2], blobs[0]});
    std::int64_t plus = 0, minus = 0, hunks = 0;
    std::istringstream lines(unified.substr(unified.find("\n@@") + 1));
    for (std::string line; std::getline(lines, line);) {
        plus += line.starts_with("+");
        minus += line.starts_with("-");
        hunks += line.starts_with("@@");
    }
    CHECK(d["added"].get_int64().value() == plus);
    CHECK(d["removed"].get_int64().value() == minus);
    CHECK(std::int64_t(d["hunks"].get_array().value().size()) == hunks);
    auto first = d["hunks"].at(0)["lines"].at(0).value();
    CHECK(first["op"].is_string());
    // Default: the newest version against the one before.
    auto latest = call(client, base + "diff");
    std::string want = f.git({"diff", "--no-color", blobs[1], blobs[0]});
    CHECK(latest.body == want.substr(want.find("\n@@") + 1));

    // r2's commit is not a version of r1; ids that are not ids; unknown tasks.
    const std::string r2_commit =
        trimmed(f.git({"log", "-1", "--format=%H", "main", "--", "r2/show_run"}));
    check_refused(client, base + "config?at=" + r2_commit, 404, "at");
    check_refused(client, base + "diff?from=" + r2_commit, 404, "from");
    check_refused(client, base + "diff?to=" + blobs[0], 404, "to");  // a blob, not a commit
    check_refused(client, base + "config?at=HEAD", 400, "at");
    check_refused(client, base + "config?at=" + commits[0] + "00", 400, "at");
    check_refused(client, base + "config?at=" + std::string(2000, 'a'), 400, "at");
    check_refused(client, base + "config?at=..%2F..%2Fconfig", 400, "at");
    check_refused(client, base + "config?at=" + commits[0] + "&at=" + commits[1], 400, "at");
    check_refused(client, "/api/v1/devices/nope/jobs/show_run/versions", 404);
    check_refused(client, "/api/v1/devices/r1/jobs/nope/config", 404);
    check_refused(client, base + "versions?limit=0", 400, "limit");
    check_refused(client, base + "versions?limit=100000", 400, "limit");
    check_refused(client, base + "versions?before=x", 400, "before");
    check_refused(client, base + "versions?job=show_run", 400, "job");
    check_refused(client, base + "diff?context=51", 400, "context");
    check_refused(client, base + "diff?format=html", 400, "format");
    check_refused(client, base + "config?download=yes", 400, "download");
    // r2 has one version: no earlier one to diff against.
    check_refused(client, "/api/v1/devices/r2/jobs/show_run/diff", 404, "from");
}

namespace {

// `git grep -n` at main: "path" -> matching line numbers.
std::map<std::string, std::vector<std::int64_t>> git_grep(const Fixture& f,
                                                          std::vector<std::string> args) {
    std::vector<std::string> all = {"grep", "-n"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("main");
    std::map<std::string, std::vector<std::int64_t>> out;
    auto text = git_output(f.repo, all);  // exit 1: no match
    std::istringstream lines(text.value_or(""));
    for (std::string line; std::getline(lines, line);) {
        // main:r1/show_run:12:text
        auto a = line.find(':');
        auto b = line.find(':', a + 1);
        auto c = line.find(':', b + 1);
        out[line.substr(a + 1, b - a - 1)].push_back(std::stoll(line.substr(b + 1, c - b - 1)));
    }
    return out;
}

// What the search answers for `query`, as git_grep() lists it: per file every matching
// line counted, the first 20 listed.
using Found = std::map<std::string, std::pair<std::int64_t, std::vector<std::int64_t>>>;

Found ours(Client& client, const std::string& query) {
    simdjson::dom::parser parser;
    auto doc = json(parser, call(client, "/api/v1/search?" + query));
    Found out;
    for (auto file : doc["results"].get_array()) {
        const std::string path =
            fmt::format("{}/{}", std::string(file["device"].get_string().value()),
                        std::string(file["job"].get_string().value()));
        auto& [count, lines] = out[path];
        count = file["matches"].get_int64().value();
        for (auto l : file["lines"].get_array())
            if (l["match"].get_bool().value()) lines.push_back(l["line"].get_int64().value());
    }
    return out;
}

Found listed(std::map<std::string, std::vector<std::int64_t>> grep) {
    Found out;
    for (auto& [path, lines] : grep) {
        const auto count = std::int64_t(lines.size());
        if (lines.size() > 20) lines.resize(20);
        out[path] = {count, lines};
    }
    return out;
}

}  // namespace

TEST_CASE("search agrees with git grep at main; filters; bounds; hostile expressions") {
    Fixture f;
    auto server = f.start();
    auto client = connect(server);
    fill(f, client);
    REQUIRE(eventually([&] {
        auto r = call(client, "/api/v1/search?q=hostname");
        simdjson::dom::parser parser;
        return r.status == 200 && parser.parse(r.body)["files_matched"].get_int64().value() == 2;
    }));

    CHECK(ours(client, "q=interface&context=0") == listed(git_grep(f, {"-E", "-e", "interface"})));
    CHECK(ours(client, "q=%5E%20shutdown%24") == listed(git_grep(f, {"-E", "-e", "^ shutdown$"})));
    CHECK(ours(client, "q=Gi0%2F%5B12%5D%5B0-9%5D") ==
          listed(git_grep(f, {"-E", "-e", "Gi0/[12][0-9]"})));
    CHECK(ours(client, "q=a.b&literal=1") == listed(git_grep(f, {"-F", "-e", "a.b"})));
    CHECK(ours(client, "q=HOSTNAME&icase=1") ==
          listed(git_grep(f, {"-i", "-F", "-e", "HOSTNAME"})));
    CHECK(ours(client, "q=%3Cscript%3E") == listed(git_grep(f, {"-F", "-e", "<script>"})));

    simdjson::dom::parser parser;
    auto doc = json(parser, call(client, "/api/v1/search?q=interface%20Gi0%2F1%24&context=1"));
    CHECK(std::string(doc["query"].get_string().value()) == "interface Gi0/1$");
    CHECK_FALSE(doc["literal"].get_bool().value());
    CHECK(doc["files_searched"].get_int64().value() == 2);
    CHECK(doc["elapsed_ms"].is_number());
    auto r1 = doc["results"].at(0).value();
    CHECK(std::string(r1["device"].get_string().value()) == "r1");
    CHECK(std::string(r1["commit"].get_string().value()) ==
          trimmed(f.git({"log", "-1", "--format=%H", "main", "--", "r1/show_run"})));
    auto lines = r1["lines"].get_array().value();
    REQUIRE(lines.size() == 3);  // the match and a line either side
    CHECK_FALSE(lines.at(0)["match"].get_bool().value());
    CHECK(std::string(lines.at(1)["text"].get_string().value()) == "interface Gi0/1");
    CHECK(lines.at(1)["match"].get_bool().value());

    // Filters: tag, group, device, job (exact).
    auto only = [&](const std::string& q) {
        std::set<std::string> devices;
        simdjson::dom::parser p;
        for (auto file :
             json(p, call(client, "/api/v1/search?q=hostname&" + q))["results"].get_array())
            devices.insert(std::string(file["device"].get_string().value()));
        return devices;
    };
    CHECK(only("tag=edge") == std::set<std::string>{"r2"});
    CHECK(only("group=dc1") == std::set<std::string>{"r1"});
    CHECK(only("device=r1&device=r2") == std::set<std::string>{"r1", "r2"});
    CHECK(only("job=nope").empty());
    CHECK(only("tag=core&tag=edge") == std::set<std::string>{"r1", "r2"});
    // limit: the first files by device; the rest counted.
    doc = json(parser, call(client, "/api/v1/search?q=hostname&limit=1"));
    CHECK(doc["results"].get_array().value().size() == 1);
    CHECK(doc["files_matched"].get_int64().value() == 2);
    CHECK(doc["truncated"].get_bool().value());

    // Hostile and bad parameters.
    check_refused(client, "/api/v1/search", 400, "q");
    check_refused(client, "/api/v1/search?q=", 400, "q");
    check_refused(client, "/api/v1/search?q=" + std::string(1025, 'a'), 400, "q");
    check_refused(client, "/api/v1/search?q=%28", 400, "q");
    check_refused(client, "/api/v1/search?q=%28a%29%5C1", 400, "q");  // a back-reference
    check_refused(client, "/api/v1/search?q=a&limit=0", 400, "limit");
    check_refused(client, "/api/v1/search?q=a&limit=100000", 400, "limit");
    check_refused(client, "/api/v1/search?q=a&context=11", 400, "context");
    check_refused(client, "/api/v1/search?q=a&literal=2", 400, "literal");
    check_refused(client, "/api/v1/search?q=a&group=", 400, "group");
    check_refused(client, "/api/v1/search?q=a&sort=device", 400, "sort");
    // Exponential in a backtracking engine, linear in RE2.
    const auto t0 = std::chrono::steady_clock::now();
    auto slow = call(client, "/api/v1/search?q=%28a%2A%29%2A%28x%2B%29%2B%28%5Cs%2A%29%2A%24");
    CHECK(slow.status == 200);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    // A literal is quoted: regex syntax in it matches itself only.
    doc = json(parser, call(client, "/api/v1/search?q=.%2A&literal=1"));
    CHECK(doc["files_matched"].get_int64().value() == 0);
    // Still serving.
    CHECK(call(client, "/healthz").status == 200);
}

TEST_CASE("without the git writer the git-backed routes answer 503") {
    Fixture f;
    auto server = f.start({"--no-git-writer"});
    auto client = connect(server);
    for (const char* target :
         {"/api/v1/devices/r1/jobs/show_run/versions", "/api/v1/devices/r1/jobs/show_run/config",
          "/api/v1/devices/r1/jobs/show_run/diff", "/api/v1/search?q=x"}) {
        CAPTURE(target);
        auto r = call(client, target);
        CHECK(r.status == 503);
        CHECK(r.body.find("git writer") != std::string::npos);
    }
}
