// The repository reader against bare repositories made with the git CLI: blobs, diffs
// (the hunks `git diff` prints) and search (the lines a line-by-line match finds).

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "netkeep/regex.hpp"
#include "netkeep/repo_reader.hpp"
#include "support/temp_dir.hpp"

namespace {

using netkeep::Regex;
using netkeep::RepoReader;
using netkeep::SearchOptions;
using netkeep::SearchTarget;
using netkeep::testing::TempDir;

std::string run(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    REQUIRE(pipe);
    std::string out;
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, pipe.get())) out.append(buf, n);
    return out;
}

struct Repo {
    TempDir dir = std::move(TempDir::create("netkeep-repo").value());
    std::string git = (dir / "repo.git").string();
    Repo() { run(fmt::format("git init -q --bare '{}'", git)); }

    std::string add(const std::string& content) {
        auto file = dir / "blob";
        std::ofstream(file, std::ios::binary) << content;
        std::string id =
            run(fmt::format("git --git-dir='{}' hash-object -w '{}'", git, file.string()));
        while (!id.empty() && id.back() == '\n') id.pop_back();
        return id;
    }
    std::unique_ptr<RepoReader> reader() {
        auto r = RepoReader::open(git);
        REQUIRE(r);
        return std::move(*r);
    }
    // `git diff` from the first hunk on (its header names the blobs, ours does not).
    std::string git_diff(const std::string& a, const std::string& b, int context = 3) {
        std::string out =
            run(fmt::format("git --git-dir='{}' diff --no-color -U{} {} {}", git, context, a, b));
        auto at = out.find("\n@@");
        return at == std::string::npos ? std::string() : out.substr(at + 1);
    }
};

std::string lines(int from, int to, const std::string& tag = "") {
    std::string s;
    for (int i = from; i <= to; ++i) s += fmt::format("interface Gi0/{}{}\n", i, tag);
    return s;
}

}  // namespace

TEST_CASE("blobs are read by id, bounded, and a bad id is refused") {
    Repo repo;
    const std::string id = repo.add("hostname r1\n");
    auto reader = repo.reader();
    auto blob = reader->read_blob(id, 1000);
    REQUIRE(blob);
    CHECK(*blob == "hostname r1\n");
    CHECK(reader->blob_size(id).value() == 12);
    CHECK(reader->read_blob(id, 5).status().code() == netkeep::Status::Code::too_large);
    CHECK(reader->read_blob("xyz", 1000).status().code() ==
          netkeep::Status::Code::invalid_argument);
    CHECK(reader->read_blob(std::string(40, 'a'), 1000).status().code() ==
          netkeep::Status::Code::not_found);
    CHECK(netkeep::is_object_id(id));
    CHECK_FALSE(netkeep::is_object_id(id + "0"));
    CHECK_FALSE(RepoReader::open((repo.dir / "nothing").string()));
}

TEST_CASE("a diff has the hunks git diff prints") {
    Repo repo;
    const std::string a = repo.add("version 1\n" + lines(1, 40) + "end\n");
    const std::string b = repo.add("version 2\n" + lines(1, 10) + lines(11, 12, " shutdown") +
                                   lines(13, 40) + "! added\nend");
    auto reader = repo.reader();
    for (int context : {0, 3, 7}) {
        auto diff = reader->diff(a, b, {.context = std::uint32_t(context)});
        REQUIRE(diff);
        CHECK_FALSE(diff->binary);
        CHECK(netkeep::unified_diff_text(*diff) == repo.git_diff(a, b, context));
    }
    auto diff = reader->diff(a, b, {});
    REQUIRE(diff);
    CHECK(diff->added == 5);
    CHECK(diff->removed == 4);
    REQUIRE(diff->hunks.size() == 3);
    const auto& first = diff->hunks[0].lines;
    CHECK(first[0].op == '-');
    CHECK(first[0].old_line == 1);
    CHECK(first[0].new_line == 0);
    CHECK(first[0].text == "version 1");
    CHECK(diff->hunks[2].lines.back().no_newline);

    // Bounded: listed lines stop, counts do not.
    auto cut = reader->diff(a, b, {.context = 3, .max_lines = 4});
    REQUIRE(cut);
    CHECK(cut->truncated);
    CHECK(cut->added == 5);
    std::size_t listed = 0;
    for (const auto& h : cut->hunks) listed += h.lines.size();
    CHECK(listed == 4);

    auto same = reader->diff(a, a, {});
    REQUIRE(same);
    CHECK(same->hunks.empty());
    CHECK(reader->diff(a, b, {.max_blob_size = 10}).status().code() ==
          netkeep::Status::Code::too_large);

    const std::string bin = repo.add(std::string("\0\1\2binary", 9));
    auto binary = reader->diff(a, bin, {});
    REQUIRE(binary);
    CHECK(binary->binary);
    CHECK(binary->hunks.empty());
}

namespace {

// The reference: each line on its own.
std::vector<std::uint64_t> naive_lines(const std::string& text, const Regex& re) {
    std::vector<std::uint64_t> out;
    std::size_t begin = 0;
    std::uint64_t n = 1;
    while (begin < text.size()) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string::npos) end = text.size();
        if (re.search(std::string_view(text).substr(begin, end - begin))) out.push_back(n);
        begin = end + 1;
        n += 1;
    }
    return out;
}

}  // namespace

TEST_CASE("search finds the lines a line-by-line match finds") {
    Repo repo;
    const std::vector<std::string> texts = {
        "hostname r1\ninterface Gi0/1\n description uplink\n!\ninterface Gi0/2\n shutdown\n",
        "no newline at the end\ninterface Gi9/9",
        "",
        "\n\n\ninterface\n",
    };
    std::vector<SearchTarget> targets;
    for (std::size_t i = 0; i < texts.size(); ++i) targets.push_back({repo.add(texts[i]), i});
    auto reader = repo.reader();
    for (const char* pattern : {"interface", "^interface", "Gi0/[0-9]$", "1\\s+inter", "[^x]*", "$",
                                "^$", "(?i)HOSTNAME", "e\\n", "d$"}) {
        const std::string shown = pattern;
        CAPTURE(shown);
        auto re = Regex::compile(std::string("(?m)") + pattern);
        REQUIRE(re);
        for (unsigned threads : {1u, 2u}) {
            auto found = reader->search(targets, *re, {.context = 0, .threads = threads});
            REQUIRE(found);
            CHECK(found->files_searched == texts.size());
            std::size_t f = 0;
            std::uint64_t total = 0;
            for (std::size_t i = 0; i < texts.size(); ++i) {
                auto want = naive_lines(texts[i], *re);
                total += want.size();
                if (want.empty()) continue;
                REQUIRE(f < found->files.size());
                const auto& file = found->files[f++];
                CHECK(file.index == i);
                CHECK(file.matches == want.size());
                std::vector<std::uint64_t> got;
                for (const auto& l : file.lines) got.push_back(l.line);
                CHECK(got == want);
            }
            CHECK(f == found->files.size());
            CHECK(found->matches == total);
        }
    }
}

TEST_CASE("search lists context, cuts long lines and stops at its bounds") {
    Repo repo;
    std::string text;
    for (int i = 1; i <= 100; ++i) text += fmt::format("line {}{}\n", i, i % 10 == 0 ? " hit" : "");
    text += "hit " + std::string(600, 'x') + "\xc3\xa9\n";
    std::vector<SearchTarget> targets;
    for (std::size_t i = 0; i < 6; ++i) targets.push_back({repo.add(text + std::to_string(i)), i});
    auto reader = repo.reader();
    auto re = Regex::compile("(?m)hit");
    REQUIRE(re);

    auto found = reader->search(targets, *re, {.context = 1, .max_lines_per_file = 2});
    REQUIRE(found);
    REQUIRE(found->files.size() == 6);
    const auto& f = found->files[0];
    CHECK(f.matches == 11);
    REQUIRE(f.lines.size() == 6);  // 9,10,11 and 19,20,21
    CHECK(f.lines[0].line == 9);
    CHECK_FALSE(f.lines[0].match);
    CHECK(f.lines[1].text == "line 10 hit");
    CHECK(f.lines[1].match);
    CHECK(f.lines[5].line == 21);

    auto all = reader->search(targets, *re, {.context = 0, .max_lines_per_file = 20});
    REQUIRE(all);
    const auto& last = all->files[0].lines.back();
    CHECK(last.line == 101);
    CHECK(last.text.size() <= 512);
    CHECK(last.text.starts_with("hit xxx"));

    auto few = reader->search(targets, *re, {.max_files = 2, .threads = 2});
    REQUIRE(few);
    REQUIRE(few->files.size() == 2);
    CHECK(few->files[0].index == 0);
    CHECK(few->files[1].index == 1);
    CHECK(few->files_matched == 6);
    CHECK(few->truncated);

    auto capped = reader->search(targets, *re, {.max_matches = 15});
    REQUIRE(capped);
    CHECK(capped->truncated);
    CHECK(capped->matches == 15);

    auto late = reader->search(
        targets, *re, {.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1)});
    REQUIRE(late);
    CHECK(late->truncated);
    CHECK(late->files_searched == 0);

    std::vector<SearchTarget> missing = {{std::string(40, 'b'), 0}};
    CHECK_FALSE(reader->search(missing, *re, {}));
}

TEST_CASE("a quoted literal matches only itself") {
    auto re = Regex::compile(Regex::quote("a.b*(c)[d]\\e"));
    REQUIRE(re);
    CHECK(re->search("x a.b*(c)[d]\\e y"));
    CHECK_FALSE(re->search("aXbbb(c)[d]\\e"));
}
