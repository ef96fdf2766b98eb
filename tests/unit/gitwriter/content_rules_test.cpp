// The content rules of issue 13 (docs/jobs.md#redact, #noise): delete_line and block
// redactions, drop and ignore noise rules, the masked hash, and per-task rules.
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "gitwriter/redact.hpp"

using namespace netkeep;
using namespace netkeep::gitwriter;

namespace {

using Kind = Redaction::Kind;

Redactor compile(const std::vector<Redaction>& rules, const std::vector<NoiseRule>& noise = {}) {
    auto r = Redactor::compile(rules, noise);
    REQUIRE(r.is_ok());
    return std::move(r.value());
}

Redaction delete_line(std::string re) { return Redaction{std::move(re), {}, Kind::delete_line}; }
Redaction block(std::string begin, std::string end, std::string replace) {
    return Redaction{std::move(begin), std::move(replace), Kind::block, std::move(end)};
}
NoiseRule drop(std::string re) { return NoiseRule{NoiseRule::Action::drop, std::move(re)}; }
NoiseRule ignore(std::string re) { return NoiseRule{NoiseRule::Action::ignore, std::move(re)}; }

// Fed in the given pieces.
std::string pieces(const Redactor& r, const std::vector<std::string_view>& parts,
                   std::uint64_t* skipped = nullptr) {
    std::string out;
    RedactStream stream(r, [&](std::string_view bytes) {
        out.append(bytes);
        return Status::ok();
    });
    for (auto part : parts) REQUIRE(stream.feed(part).is_ok());
    REQUIRE(stream.finish().is_ok());
    CHECK(stream.bytes_out() == out.size());
    if (skipped) *skipped = stream.lines_skipped();
    return out;
}

std::string masked(const Redactor& r, const std::vector<std::string_view>& parts) {
    MaskedHash h(r);
    for (auto part : parts) h.feed(part);
    return h.finish();
}

// Every rule kind at once, for the split tests.
const std::vector<Redaction> k_all = {
    {R"(^(secret) \S+)", "$1 <removed>"},
    delete_line("^enable password"),
    block("^-----BEGIN", "^-----END", "<key removed>"),
};
const std::vector<NoiseRule> k_noise = {drop("^! Last change"), ignore("^ntp clock-period")};

const std::string k_config =
    "hostname r1\n"
    "! Last change at 12:00\n"
    "ntp clock-period 17179\r\n"
    "secret hunter2\n"
    "enable password 0 letmein\n"
    "-----BEGIN KEY-----\n"
    "AAAA secret xyz\r\n"
    "BBBB\n"
    "-----END KEY-----\n"
    "end";
const std::string k_stored =
    "hostname r1\n"
    "ntp clock-period 17179\r\n"
    "secret <removed>\n"
    "-----BEGIN KEY-----\n"
    "<key removed>\r\n"
    "-----END KEY-----\n"
    "end";

}  // namespace

TEST_CASE("delete_line removes the line with its ending; later rules do not run on it") {
    auto r = compile({{"password", "PASSWORD"}, delete_line("^enable PASSWORD"), {"x", "y"}});
    CHECK(r.redact_text("a\nenable password 0 z\r\nb x\n") == "a\nb y\n");
    CHECK(r.redact_text("enable password 1") == "");  // the last line, without an ending
    CHECK(r.redact_text("enable secret\n") == "enable secret\n");
    std::string out;
    CHECK(r.redact_line("enable password 0 z\n", out));
    CHECK(out.empty());
}

TEST_CASE("a block: begin and end stay, the lines between become one stand-in line") {
    auto r = compile({block("BEGIN", "^END", "<removed>")});
    CHECK(r.redact_text("a\nBEGIN\nx\ny\nEND\nb\n") == "a\nBEGIN\n<removed>\nEND\nb\n");
    CHECK(r.redact_text("BEGIN\r\nx\r\nEND\r\n") == "BEGIN\r\n<removed>\r\nEND\r\n");
    // Nothing between begin and end: nothing to stand in for.
    CHECK(r.redact_text("BEGIN\nEND\n") == "BEGIN\nEND\n");
    // An empty stand-in: the lines simply go.
    CHECK(compile({block("BEGIN", "^END", "")}).redact_text("BEGIN\nx\nEND\n") == "BEGIN\nEND\n");
    // The end line may open the next block; a begin inside a block is just removed.
    CHECK(r.redact_text("BEGIN\nBEGIN\nEND BEGIN\nz\nEND\n") ==
          "BEGIN\n<removed>\nEND BEGIN\n<removed>\nEND\n");
    // A line break in the stand-in would make lines no rule sees: it is one line.
    CHECK(compile({block("B", "E", "a\nb")}).redact_text("B\nx\nE\n") == "B\na b\nE\n");
}

TEST_CASE("an unterminated block removes everything to the end (fail closed)") {
    auto r = compile({block("^-----BEGIN", "^-----END", "<key removed>")});
    CHECK(r.redact_text("a\n-----BEGIN KEY-----\nsecret1\nsecret2\n") ==
          "a\n-----BEGIN KEY-----\n<key removed>\n");
    CHECK(r.redact_text("-----BEGIN\nsecret-no-newline") == "-----BEGIN\n<key removed>");
    CHECK(r.redact_text("-----BEGIN\n") == "-----BEGIN\n");
}

TEST_CASE("rules run in order; block begin sees the line as rewritten; lines inside are unseen") {
    // begin is tested after the replace rule rewrote the line.
    auto r = compile({{"^crypto key", "KEY"}, block("^KEY", "^quit", "<key>"), {"quit", "QUIT"}});
    CHECK(r.redact_text("crypto key 1\nabcd\nquit\n") == "KEY 1\n<key>\nQUIT\n");
    // The end is looked for on the line as the device sent it, and other rules never see
    // the lines inside (the replace rule would otherwise turn "quit" into "QUIT" first).
    auto r2 = compile({{"quit", "QUIT"}, block("^B", "^quit", "<b>")});
    CHECK(r2.redact_text("B\nquit x\nz\n") == "B\nQUIT x\nz\n");
    // A delete_line after a block's begin: the begin line goes, the block still opens.
    auto r3 = compile({block("^B", "^E", "<b>"), delete_line("^B")});
    CHECK(r3.redact_text("B\nx\nE\n") == "<b>\nE\n");
}

TEST_CASE("noise drop runs after redaction; ignore keeps the line") {
    auto r = compile({{"^(uptime) .*", "$1 X"}}, {drop("^uptime X$"), ignore("^ntp")});
    CHECK(r.redact_text("uptime 5 days\nntp clock-period 1\nx\n") == "ntp clock-period 1\nx\n");
    CHECK(r.has_ignore());
    CHECK_FALSE(compile({}, {drop("a")}).has_ignore());
    CHECK_FALSE(compile({}, {drop("a")}).empty());
    CHECK(compile({}, {}).empty());
    // A drop rule sees the redacted text, so it can match what redaction left.
    auto r2 = compile({{"secret \\S+", "secret <removed>"}}, {drop("<removed>")});
    CHECK(r2.redact_text("a\nsecret abc\nb\n") == "a\nb\n");
    CHECK(!Redactor::compile({}, {drop("(unclosed")}).is_ok());
}

TEST_CASE("every rule kind gives the same output whatever the chunk boundaries") {
    auto r = compile(k_all, k_noise);
    REQUIRE(r.redact_text(k_config) == k_stored);
    const std::string_view text = k_config;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        CAPTURE(i);
        CHECK(pieces(r, {text.substr(0, i), text.substr(i)}) == k_stored);
        for (std::size_t j = i; j <= text.size(); j += 7)
            CHECK(pieces(r, {text.substr(0, i), text.substr(i, j - i), text.substr(j)}) ==
                  k_stored);
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
    CHECK(pieces(r, bytes) == k_stored);
}

TEST_CASE("1 MB lines: outside a block kept and counted, inside a block removed") {
    auto r = compile(k_all, k_noise);
    const std::string huge = "secret " + std::string(1'000'000, 'S');
    std::uint64_t skipped = 0;
    // Outside: too long for the rules, passed through unchanged and counted.
    CHECK(pieces(r, {"a\n", huge, "\nsecret b\n"}, &skipped) ==
          "a\n" + huge + "\nsecret <removed>\n");
    CHECK(skipped == 1);
    // Inside a block: removed (never passed through), and the block still ends.
    const std::string inside = "-----BEGIN\n" + huge + "\r\nx\n-----END\nsecret c\n";
    CHECK(r.redact_text(inside, &skipped) ==
          "-----BEGIN\n<key removed>\n-----END\nsecret <removed>\n");
    CHECK(skipped == 0);
    // The same fed in small pieces, the huge line first of its block.
    std::vector<std::string_view> parts;
    for (std::size_t i = 0; i < inside.size(); i += 4093)
        parts.push_back(std::string_view(inside).substr(i, 4093));
    CHECK(pieces(r, parts) == "-----BEGIN\n<key removed>\n-----END\nsecret <removed>\n");
    // A 1 MB line that would end the block cannot: the block runs on (fail closed).
    const std::string long_end = "-----BEGIN\nx\n-----END" + std::string(1'000'000, 'E') + "\ny\n";
    CHECK(r.redact_text(long_end) == "-----BEGIN\n<key removed>\n");
    // Unterminated with a huge last line: nothing of it leaks.
    CHECK(r.redact_text("-----BEGIN\n" + huge) == "-----BEGIN\n<key removed>\n");
}

TEST_CASE("the masked hash leaves ignored lines' values out, not their places") {
    auto r = compile({}, {ignore("^ntp clock-period"), ignore("^! Time: ")});
    const std::string a = "hostname r1\nntp clock-period 1\n! Time: 12:00\nend\n";
    const std::string b = "hostname r1\nntp clock-period 2\n! Time: 13:00\nend\n";
    const std::string c = "hostname r2\nntp clock-period 2\n! Time: 13:00\nend\n";
    const std::string d = "hostname r1\nend\n";  // the ignored lines gone altogether
    // An ignored line moved elsewhere (a re-encrypted password under another user).
    const std::string e = "ntp clock-period 1\nhostname r1\n! Time: 12:00\nend\n";
    CHECK(masked(r, {a}) == masked(r, {b}));
    CHECK(masked(r, {a}) != masked(r, {c}));
    CHECK(masked(r, {a}) != masked(r, {d}));
    CHECK(masked(r, {a}) != masked(r, {e}));
    CHECK(masked(r, {a}).size() == 32);
    for (std::size_t i = 0; i <= a.size(); ++i)
        CHECK(masked(r, {std::string_view(a).substr(0, i), std::string_view(a).substr(i)}) ==
              masked(r, {b}));
    // Line endings count: "\r\n" is not "\n".
    CHECK(masked(r, {"x\r\n"}) != masked(r, {"x\n"}));
    // A line too long for the rules is never ignored (and hashed in full).
    const std::string huge1 = "ntp clock-period " + std::string(1'000'000, '1');
    const std::string huge2 = "ntp clock-period " + std::string(1'000'000, '2');
    CHECK(masked(r, {huge1 + "\n"}) != masked(r, {huge2 + "\n"}));
    CHECK(masked(r, {huge1.substr(0, 70000), huge1.substr(70000), "\n"}) ==
          masked(r, {huge1 + "\n"}));
}

// ---- per-task rules ----

namespace {

Inventory two_platform_inventory() {
    Inventory inv;
    inv.devices = {DeviceSpec{"r1", {}, "", "ios", ""}, DeviceSpec{"r2", {}, "", "ios", ""},
                   DeviceSpec{"r3", {}, "", "", ""}};
    JobSpec config;
    config.name = "config";
    JobSpec own;
    own.name = "own";
    own.redact = std::vector<Redaction>{};  // "redact": [] is no redaction, not the platform's
    JobSpec inline_job;
    inline_job.name = "inline";
    inline_job.noise = std::vector<NoiseRule>{drop("^x")};
    inv.jobs = {config, own, inline_job};
    for (std::uint32_t j = 0; j < 3; ++j)
        for (std::uint32_t d = 0; d < 3; ++d) inv.tasks.push_back(TaskSpec{d, j});
    PlatformSpec ios;
    ios.name = "ios";
    ios.rules.redact = {{"^(secret) \\S+", "$1 <removed>"}};
    ios.rules.noise = {drop("^! Last")};
    inv.platforms = {ios};
    return inv;
}

std::string run(const Redactor* r, std::string_view text) {
    return r ? r->redact_text(text) : std::string(text);
}

}  // namespace

TEST_CASE("InventoryRules: a job's own rules, else its device's platform's, compiled once") {
    InventoryRules rules;
    REQUIRE(rules.apply(1, two_platform_inventory()).is_ok());
    const std::string text = "secret a\n! Last x\nx\n";
    CHECK(run(rules.find("r1", "config"), text) == "secret <removed>\nx\n");
    CHECK(run(rules.find("r3", "config"), text) == text);  // no platform, no rules
    CHECK(rules.find("r3", "config") == nullptr);
    // redact [] (own, empty) with the platform's noise.
    CHECK(run(rules.find("r1", "own"), text) == "secret a\nx\n");
    // The platform's redact with the job's own noise.
    CHECK(run(rules.find("r1", "inline"), text) == "secret <removed>\n! Last x\n");
    CHECK(run(rules.find("r3", "inline"), text) == "secret a\n! Last x\n");
    // Tasks of one platform share one compiled Redactor.
    CHECK(rules.find("r1", "config") == rules.find("r2", "config"));
    CHECK(rules.find("r1", "config") != rules.find("r1", "inline"));

    // The inventory changes: r1 and the job "inline" leave; their last rules stay.
    Inventory next = two_platform_inventory();
    next.devices = {DeviceSpec{"r2", {}, "", "", ""}};
    next.jobs.resize(2);
    next.tasks = {TaskSpec{0, 0}, TaskSpec{0, 1}};
    REQUIRE(rules.apply(2, next).is_ok());
    CHECK(run(rules.find("r1", "config"), text) == "secret <removed>\nx\n");
    CHECK(run(rules.find("r1", "inline"), text) == "secret <removed>\n! Last x\n");
    CHECK(rules.find("r2", "config") == nullptr);  // r2 lost its platform
}

TEST_CASE("InventoryRules reads a job's redact and noise forms from InventoryApplied") {
    InventoryApplied inv;
    inv.devices_json = R"({"devices": [{"name": "r1", "credentials": {"user": "u"}}]})";
    inv.jobs_json = R"({"jobs": [
        {"name": "j", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]},
         "redact": [{"regex": "^(secret) \\S+", "replace": "$1 <removed>"},
                    {"delete_line": "^enable password"},
                    {"block": {"begin": "^-----BEGIN", "end": "^-----END"},
                     "replace": "<key removed>"}],
         "noise": [{"regex": "^! Last change", "action": "drop"},
                   {"regex": "^ntp clock-period", "action": "ignore"}]}]})";
    InventoryRules rules;
    REQUIRE(rules.apply(1, inv).is_ok());
    const Redactor* r = rules.find("r1", "j");
    REQUIRE(r != nullptr);
    CHECK(r->has_ignore());
    CHECK(r->redact_text(k_config) == k_stored);
}

TEST_CASE("the block and delete_line examples of docs/jobs.md#redact") {
    auto key =
        compile({block("^-----BEGIN .*PRIVATE KEY-----$", "^-----END ", "<private key removed>")});
    CHECK(
        key.redact_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n...Qk=\n"
                        "-----END RSA PRIVATE KEY-----\n") ==
        "-----BEGIN RSA PRIVATE KEY-----\n<private key removed>\n-----END RSA PRIVATE KEY-----\n");
    auto cert = compile({block("^crypto pki certificate chain", "^\\s*quit$", "")});
    CHECK(cert.redact_text("crypto pki certificate chain TP-self-signed-1\n certificate "
                           "self-signed 01\n  3082024A 308201B3\n  quit\n") ==
          "crypto pki certificate chain TP-self-signed-1\n  quit\n");
    CHECK(cert.redact_text("crypto pki certificate chain TP-1\n certificate 01\n  3082024A") ==
          "crypto pki certificate chain TP-1\n");
    CHECK(compile({delete_line("^enable password ")}).redact_text("enable password 0 letmein\n") ==
          "");
}

TEST_CASE("every rule kind together stays linear: 32 MiB in seconds") {
    auto r = compile(k_all, k_noise);
    std::string text;
    while (text.size() < (32u << 20)) text += k_config + "\n";
    auto start = std::chrono::steady_clock::now();
    std::string out = r.redact_text(text);
    MaskedHash h(r);
    h.feed(out);
    (void)h.finish();
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("32 MiB through 3 redact kinds + 2 noise rules and the masked hash in " << seconds
                                                                                    << " s");
    CHECK(out.find("hunter2") == std::string::npos);
    CHECK(out.find("letmein") == std::string::npos);
    CHECK(seconds < 60);
}
