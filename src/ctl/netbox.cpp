// netkeepctl inventory netbox (docs/netbox.md): the I/O half. Reads the token and mapping
// files, pages NetBox through the libcurl wrapper, validates the new devices.json exactly
// as netkeepd loads it, replaces it durably only when it changed, and then asks netkeepd to
// reload. Any failure leaves the inventory directory as it was. The pure half (mapping,
// paging, rendering) is netbox_map.cpp. Single-threaded.

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "ctl/commands.hpp"
#include "ctl/netbox_map.hpp"
#include "netkeep/durable.hpp"
#include "netkeep/http_client.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/json.hpp"
#include "util/run_program.hpp"

namespace netkeep::ctl {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_netbox_stop(int) { g_stop = true; }

constexpr std::size_t k_max_map_file = 1 << 20;
constexpr std::size_t k_max_skipped_listed = 20;

Result<std::string> read_file(const std::string& path, std::string_view what, std::size_t max) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return Status::not_found(fmt::format("{} {}: not a readable file", what, path));
    if (static_cast<std::size_t>(st.st_size) > max)
        return Status::too_large(fmt::format("{} {}: larger than {} bytes", what, path, max));
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return Status::io_error(fmt::format("{} {}: cannot read it", what, path));
    return text.str();
}

// The worker's token-file rules (docs/worker.md#server-access): at most 4 KiB, one
// trailing newline dropped, visible ASCII only. The token never appears in a message.
Result<std::string> read_token(const std::string& path, std::string_view flag, Io io) {
    auto raw = read_file(path, flag, 4096);
    if (!raw) return raw.status();
    std::string token = std::move(*raw);
    if (token.ends_with('\n')) token.pop_back();
    if (token.ends_with('\r')) token.pop_back();
    if (token.empty()) return Status::invalid_argument(fmt::format("{} {}: empty", flag, path));
    for (char c : token)
        if (c < 0x21 || c > 0x7e)
            return Status::invalid_argument(
                fmt::format("{} {}: the token may hold only visible ASCII characters", flag, path));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
        fmt::print(io.err, "netkeepctl: warning: {} {} is readable by others (chmod 600)\n", flag,
                   path);
    return token;
}

// NetBox v2 tokens (4.5+) are "nbt_<key>.<secret>" sent as Bearer; v1 tokens as Token.
std::string netbox_authorization(const std::string& token) {
    return (token.starts_with("nbt_") ? "Bearer " : "Token ") + token;
}

// A NetBox error body is {"detail": "..."}: that, cut short and made printable, says why.
std::string error_detail(std::string_view body) {
    simdjson::dom::parser parser;
    std::string_view detail;
    if (parser.parse(body.data(), body.size())["detail"].get_string().get(detail))
        detail = body.substr(0, 0);
    std::string out;
    for (char c : detail.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out.empty() ? "" : ": " + out;
}

netbox::Fetch make_fetch(const NetboxOptions& n, const std::string& token,
                         const netbox::Limits& limits) {
    return [&n, token, &limits](const std::string& url,
                                std::chrono::milliseconds timeout) -> Result<std::string> {
        HttpRequest request;
        request.url = url;
        request.headers = {{"Authorization", netbox_authorization(token)},
                           {"Accept", "application/json"}};
        request.timeout = timeout;
        request.max_response = limits.max_response;
        request.ca_file = n.ca_file;
        auto response = http_request(request);
        if (!response) return response.status();
        if (response->status != 200)
            return Status::unavailable(
                fmt::format("HTTP {}{}", response->status, error_detail(response->body)));
        return std::move(response->body);
    };
}

// What one run did, printed as text lines or (--json) one JSON object.
struct Report {
    bool pulled = false;
    std::uint64_t objects = 0;
    std::uint32_t pages = 0;
    std::size_t devices = 0;
    std::size_t by_choice = 0;    // left out by status or the backup custom field
    std::size_t for_problem = 0;  // left out for a problem (listed on stderr)
    std::string file;             // "replaced", "unchanged" or "" (not that far)
    std::string reload;           // netkeepd's answer, "command", or "" (none)
};

// Lists on stderr what was left out for a problem (bounded) and the notes.
void report_pull(const netbox::Pull& pulled, Io io, Report& report) {
    std::size_t listed = 0, by_choice = 0;
    for (const netbox::Skipped& s : pulled.skipped) {
        if (s.by_choice) {
            ++by_choice;
            continue;
        }
        if (listed++ < k_max_skipped_listed)
            fmt::print(io.err, "netkeepctl: netbox: skipped id {} '{}': {}\n", s.netbox_id,
                       key_value_quote(s.name).substr(0, 80), s.reason);
    }
    if (listed > k_max_skipped_listed)
        fmt::print(io.err, "netkeepctl: netbox: ... and {} more skipped\n",
                   listed - k_max_skipped_listed);
    for (const std::string& note : pulled.notes)
        fmt::print(io.err, "netkeepctl: netbox: {}\n", note);
    report.pulled = true;
    report.objects = pulled.objects;
    report.pages = pulled.pages;
    report.devices = pulled.devices.size();
    report.by_choice = by_choice;
    report.for_problem = listed;
}

void print_report(const Options& o, Io io, const Report& r, const Status& status) {
    const NetboxOptions& n = o.netbox;
    if (o.json) {
        // netkeepd's reload answer is JSON already; anything else is quoted.
        const bool raw = r.reload.starts_with('{') && r.reload.ends_with('}');
        fmt::print(io.out,
                   "{{\"objects\":{},\"pages\":{},\"devices\":{},\"left_out_by_choice\":{},"
                   "\"left_out_for_problem\":{},\"devices_json\":{},\"reload\":{},\"error\":{}}}\n",
                   r.objects, r.pages, r.devices, r.by_choice, r.for_problem,
                   r.file.empty() ? "null" : json_quote(r.file),
                   r.reload.empty() ? "null"
                   : raw            ? r.reload
                                    : json_quote(r.reload),
                   status ? "null" : json_quote(status.message()));
    } else {
        if (r.pulled)
            fmt::print(io.out,
                       "netbox: {} objects in {} pages: {} devices; left out: {} by status or "
                       "custom field, {} for a problem\n",
                       r.objects, r.pages, r.devices, r.by_choice, r.for_problem);
        if (!r.file.empty()) fmt::print(io.out, "netbox: {}/devices.json {}\n", n.out_dir, r.file);
        if (r.reload == "command")
            fmt::print(io.out, "netbox: ran the reload command\n");
        else if (!r.reload.empty())
            fmt::print(io.out, "netbox: netkeepd reloaded: {}\n", r.reload);
    }
    if (!status) fmt::print(io.err, "netkeepctl: {}\n", status.message());
    std::fflush(io.out);
}

// Validates the new devices.json beside the directory's jobs.json exactly as netkeepd
// loads them (`netkeepctl inventory check`): secrets resolved, relative to DIR.
Status validate(const std::string& dir, const std::string& devices_json,
                const std::vector<netbox::Device>& devices) {
    // Not read_inventory_files: the first run has no devices.json yet.
    auto jobs = read_file(dir + "/jobs.json", "the inventory's jobs file", 64 << 20);
    if (!jobs) return jobs.status();
    InventoryLoadOptions options;
    options.resolve_secrets = true;
    options.secrets_dir = dir;
    auto inventory = parse_inventory(InventoryFiles{devices_json, std::move(*jobs)}, options);
    if (!inventory)
        return Status::invalid_argument(
            netbox::name_netbox_object(inventory.status().message(), devices));
    return Status::ok();
}

// netkeepd's answer (printable, cut short) when it is 200.
Result<std::string> reload_by_url(const NetboxOptions& n, Io io) {
    HttpRequest request;
    request.method = "POST";
    request.url = n.reload_url;
    if (!request.url.ends_with("/admin/reload")) {
        while (request.url.ends_with('/')) request.url.pop_back();
        request.url += "/admin/reload";
    }
    if (!n.reload_token_file.empty()) {
        auto token = read_token(n.reload_token_file, "--reload-token-file", io);
        if (!token) return token.status();
        request.headers.emplace_back("Authorization", "Bearer " + *token);
    }
    request.timeout = std::chrono::seconds(120);  // a reload re-reads secrets and replays
    request.max_response = 64 * 1024;
    request.ca_file = n.ca_file;
    auto response = http_request(request);
    if (!response)
        return Status::unavailable(fmt::format("reload: {}", response.status().message()));
    std::string body;
    for (char c : std::string_view(response->body).substr(0, 300))
        if (c >= 0x20 && c < 0x7f) body += c;
    if (response->status != 200)
        return Status::unavailable(
            fmt::format("reload: netkeepd answered {}: {}", response->status, body));
    return body;
}

// What Report::reload says: netkeepd's answer, "command", or "" without a reload option.
Result<std::string> reload(const NetboxOptions& n, Io io) {
    if (!n.reload_url.empty()) return reload_by_url(n, io);
    if (n.reload_command.empty()) return std::string();
    if (Status s = run_program({"/bin/sh", "-c", n.reload_command}); !s)
        return Status::unavailable(fmt::format("--reload-command: {}", s.message()));
    return std::string("command");
}

// One pull. Ok(true) when devices.json was replaced.
Result<bool> sync_once(const NetboxOptions& n, Io io, Report& report) {
    netbox::Mapping mapping = netbox::default_mapping();
    if (!n.map_file.empty()) {
        auto text = read_file(n.map_file, "--map", k_max_map_file);
        if (!text) return text.status();
        auto parsed = netbox::parse_mapping(*text);
        if (!parsed)
            return Status::invalid_argument(
                fmt::format("--map {}: {}", n.map_file, parsed.status().message()));
        mapping = std::move(*parsed);
    }
    auto token = read_token(n.token_file, "--token-file", io);
    if (!token) return token.status();
    auto base = netbox::check_base_url(n.url);
    if (!base) return base.status();
    netbox::Limits limits;
    limits.request_timeout = std::chrono::seconds(n.timeout);
    auto pulled = netbox::pull(*base, n.filter, mapping, limits, make_fetch(n, *token, limits));
    if (!pulled) return Status::unavailable(fmt::format("NetBox: {}", pulled.status().message()));
    report_pull(*pulled, io, report);
    const std::string text = netbox::render_devices_json(mapping, pulled->devices);
    const std::string path = n.out_dir + "/devices.json";
    if (auto old = read_file(path, "devices.json", 256u << 20); old && *old == text) return false;
    if (Status s = validate(n.out_dir, text, pulled->devices); !s) return s;
    DurableFileOptions file_options;
    file_options.mode = 0640;  // it may hold the mapping's literal passwords
    file_options.keep_owner = true;
    if (Status s = write_file_durably(path, text, file_options); !s) return s;
    return true;
}

}  // namespace

int run_inventory_netbox(const Options& o, Io io) {
    const NetboxOptions& n = o.netbox;
    if (Status s = netbox::check_filter(n.filter); !n.filter.empty() && !s)
        return fail(o, io, s.message(), 2);
    if (auto base = netbox::check_base_url(n.url); !base)
        return fail(o, io, base.status().message(), 2);
    if (n.watch) {
        std::signal(SIGINT, on_netbox_stop);
        std::signal(SIGTERM, on_netbox_stop);
    }
    // A reload that failed is retried on the next run of --watch even when nothing changed:
    // netkeepd must not keep the old inventory because it was busy once.
    bool reload_pending = false;
    int code = 0;
    do {
        Report report;
        Status status;
        auto changed = sync_once(n, io, report);
        if (!changed) {
            status = Status::unavailable(changed.status().message() +
                                         " (the inventory is left as it was)");
        } else {
            report.file = *changed ? "replaced" : "unchanged";
            reload_pending = reload_pending || *changed;
            if (reload_pending) {
                auto answer = reload(n, io);
                if (answer) {
                    report.reload = std::move(*answer);
                    reload_pending = false;
                } else {
                    status = answer.status();
                }
            }
        }
        print_report(o, io, report, status);
        code = status ? 0 : 1;
        for (std::uint32_t i = 0; n.watch && i < n.watch && !g_stop; ++i)
            std::this_thread::sleep_for(std::chrono::seconds(1));
    } while (n.watch && !g_stop);
    return n.watch ? 0 : code;
}

}  // namespace netkeep::ctl
