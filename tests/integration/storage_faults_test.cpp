// netkeepd on a full disk (docs/security.md "Faults: storage"): its data dir on a small
// tmpfs, filled by a dummy file while workers upload. Uploads are refused with 507/503
// and Retry-After, never acknowledged and lost; /readyz says why; once the dummy file is
// removed everything resumes without a restart and every acknowledged completion reaches
// git. Needs mount(2) (root); skipped with a message otherwise.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "support/netkeepd.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "worker_calls.hpp"

using namespace netkeep::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A tmpfs mounted for the test's life; unmounted (lazily, in case a file is still open)
// in the destructor.
struct Tmpfs {
    fs::path dir;
    bool mounted = false;
    Tmpfs(fs::path where, std::string_view size) : dir(std::move(where)) {
        fs::create_directories(dir);
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0,
                          fmt::format("size={},mode=0700", size).c_str()) == 0;
    }
    ~Tmpfs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    }
};

// Writes zeros into path until the file system is full; the bytes written.
std::uint64_t fill(const fs::path& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::string block(1 << 16, '\0');
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::write(fd, block.data(), block.size());
        if (n <= 0) break;
        total += std::uint64_t(n);
    }
    // The last partial blocks too, down to a byte.
    for (std::size_t size = block.size() / 2; size > 0; size /= 2)
        while (::write(fd, block.data(), size) > 0) total += size;
    ::close(fd);
    return total;
}

struct Answer {
    int status = 0;
    std::optional<std::string> retry_after;
    std::string body;
};

Answer post_completion(netkeep::http::Client& client, const Lease& l, const std::string& content) {
    const auto now = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    std::string body = multipart_field("device", l.device) +
                       multipart_field("job_timestamp", std::to_string(l.timestamp)) +
                       multipart_field("start_timestamp", std::to_string(l.timestamp)) +
                       multipart_field("end_timestamp", now) + multipart_file_head("show_run") +
                       content + multipart_closing();
    auto r = client.request("POST", "/worker/complete", body, multipart_headers());
    REQUIRE(r.is_ok());
    Answer a{r->status, std::nullopt, r->body};
    if (auto h = r->header("Retry-After")) a.retry_after = std::string(*h);
    return a;
}

std::string content_for(const std::string& device, int size) {
    std::string out = fmt::format("hostname {}\n", device);
    while (int(out.size()) < size)
        out += fmt::format("interface Gi0/{}\n description uplink\n", out.size());
    return out;
}

}  // namespace

TEST_CASE(
    "a full data dir: 507/503 with Retry-After, no acknowledged completion lost, recovery without "
    "restart") {
    auto root = TempDir::create("storage-faults-it").value();
    Tmpfs tmpfs(root / "data", "48m");
    if (!tmpfs.mounted) {
        netkeep::testing::skip_test(
            std::string("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ") +
            std::strerror(errno));
        return;
    }
    const fs::path data = tmpfs.dir / "var";
    const fs::path inventory = root / "inventory";
    fs::create_directories(inventory);
    constexpr int k_devices = 24;
    std::string list;
    for (int i = 0; i < k_devices; ++i)
        list += fmt::format(R"({}{{"name": "r{}", "credentials": {{"user": "u", "pass": "p"}}}})",
                            i ? "," : "", i);
    std::ofstream(inventory / "devices.json") << R"({"devices": [)" + list + "]}";
    std::ofstream(inventory / "jobs.json")
        << R"({"jobs": [{"name": "show_run", "schedule": {"interval": 3600}, "command": {"inline": ["show run"]}}]})";

    auto started = start_netkeepd({"--data-dir", data.string(), "--inventory", inventory.string(),
                                   "--listen", "127.0.0.1:0"});
    REQUIRE_MESSAGE(started.is_ok(), started.status().to_string());
    RunningServer server = std::move(*started);
    auto client = connect(server);

    auto ready = client.get("/readyz");
    REQUIRE(ready.is_ok());
    CHECK(ready->status == 200);
    CHECK(ready->body == R"({"ready":true})");

    auto leases = lease(client, "?max=1000");
    REQUIRE(leases.size() == std::size_t(k_devices));

    // Some acknowledged before the disk fills.
    std::map<std::string, std::string> acked;  // device -> content
    std::size_t next = 0;
    for (; next < 4; ++next) {
        std::string content = content_for(leases[next].device, 200 * 1024);
        Answer a = post_completion(client, leases[next], content);
        REQUIRE_MESSAGE(a.status == 200, a.body);
        acked[leases[next].device] = content;
    }
    REQUIRE(eventually([&] { return commit_count(data / "repo.git") >= 4; }, 20s));

    // The disk fills up: uploads are refused, each with Retry-After, none acknowledged.
    const fs::path dummy = tmpfs.dir / "dummy";
    fill(dummy);
    std::vector<std::size_t> refused;
    int refusals_507 = 0;
    for (; next < leases.size(); ++next) {
        std::string content = content_for(leases[next].device, 512 * 1024);
        Answer a = post_completion(client, leases[next], content);
        if (a.status == 200) {  // a little space freed meanwhile (a git object removed)
            acked[leases[next].device] = content;
            continue;
        }
        CHECK_MESSAGE((a.status == 507 || a.status == 503), a.status, " ", a.body);
        CHECK_MESSAGE(a.retry_after.has_value(), a.body);
        CHECK(a.body.find(R"("error")") != std::string::npos);
        if (a.status == 507) ++refusals_507;
        refused.push_back(next);
    }
    MESSAGE("refused while full: ", refused.size(), " (507: ", refusals_507, ")");
    CHECK(refused.size() >= leases.size() - next / 2);
    CHECK(refusals_507 > 0);  // the spool is what fills first: 507 Insufficient Storage

    // Readiness says why; /worker/next answers (nothing due, or 503 with Retry-After).
    auto not_ready = client.get("/readyz");
    REQUIRE(not_ready.is_ok());
    CHECK(not_ready->status == 503);
    CHECK(not_ready->body.find(R"("ready":false)") != std::string::npos);
    CHECK(not_ready->body.find("spool") != std::string::npos);
    CHECK(not_ready->body.find(tmpfs.dir.string()) == std::string::npos);  // no path leaks
    auto next_answer = client.get("/worker/next");
    REQUIRE(next_answer.is_ok());
    CHECK((next_answer->status == 204 ||
           (next_answer->status == 503 && next_answer->header("Retry-After"))));
    auto metrics = client.get("/metrics");
    REQUIRE(metrics.is_ok());
    CHECK(metrics->body.find(R"(netkeep_storage_errors_total{op="spool_write",kind="no_space"})") !=
          std::string::npos);
    CHECK(metrics->body.find("netkeep_ready 0") != std::string::npos);

    // Space returns: the same uploads go through, without a restart.
    fs::remove(dummy);
    for (std::size_t i : refused) {
        std::string content = content_for(leases[i].device, 512 * 1024);
        bool done = eventually(
            [&] {
                Answer a = post_completion(client, leases[i], content);
                return a.status == 200;
            },
            20s);
        REQUIRE_MESSAGE(done, "completion of ", leases[i].device,
                        " still refused after space returned");
        acked[leases[i].device] = content;
    }
    CHECK(eventually([&] {
        auto r = client.get("/readyz");
        return r.is_ok() && r->status == 200;
    }));

    // Every acknowledged completion is in git.
    REQUIRE(eventually([&] { return commit_count(data / "repo.git") >= int(acked.size()); }, 30s));
    for (const auto& [device, content] : acked) {
        auto shown =
            git_output(data / "repo.git", {"show", fmt::format("main:{}/show_run", device)});
        REQUIRE_MESSAGE(shown.has_value(), device);
        CHECK_MESSAGE(*shown == content, device);
    }
    // Still the same process, and it stops cleanly.
    REQUIRE(server.process.send_signal(SIGTERM).is_ok());
    auto status = server.process.wait(20s);
    REQUIRE(status.is_ok());
    CHECK(status->exited());
    CHECK(status->code == 0);
}
