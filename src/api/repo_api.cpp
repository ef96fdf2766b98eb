// The read API's git-backed routes (api/repo_api.hpp).

#include "api/repo_api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "netkeep/json.hpp"
#include "netkeep/logger.hpp"

namespace netkeep::api {

namespace {

// Blobs larger than these are refused (413): a config is kilobytes to a few megabytes.
constexpr std::uint64_t k_max_config_bytes = 64ull << 20;
constexpr std::uint64_t k_max_diff_bytes = 8ull << 20;
constexpr std::size_t k_max_diff_lines = 20'000;
constexpr std::size_t k_max_query_bytes = 1024;
// A search answers within this, truncated if it must.
constexpr auto k_search_budget = std::chrono::seconds(5);
constexpr unsigned k_search_threads = 2;

http::Response bad(std::string_view parameter, std::string message) {
    return http::json_error(400, message, {{"parameter", std::string(parameter)}});
}

// The query's parameters checked against the route's names: the first unknown one.
std::optional<http::Response> unknown_parameter(const http::Request& request,
                                                std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : request.query())
        if (std::find(known.begin(), known.end(), name) == known.end())
            return bad(name, fmt::format("unknown parameter '{}'", name));
    return std::nullopt;
}

// An integer parameter in [min, max]; `fallback` when absent; a 400 answer when bad.
std::variant<std::uint64_t, http::Response> number(const http::Request& request,
                                                   std::string_view name, std::uint64_t min,
                                                   std::uint64_t max, std::uint64_t fallback) {
    auto values = request.query_params(name);
    if (values.empty()) return fallback;
    if (values.size() > 1) return bad(name, fmt::format("'{}' given more than once", name));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(values[0].data(), values[0].data() + values[0].size(), v);
    if (ec != std::errc() || end != values[0].data() + values[0].size() || v < min || v > max)
        return bad(name, fmt::format("'{}' must be an integer from {} to {}", name, min, max));
    return v;
}

// A flag parameter: absent, "0" or "1".
std::variant<bool, http::Response> flag(const http::Request& request, std::string_view name) {
    auto values = request.query_params(name);
    if (values.empty()) return false;
    if (values.size() > 1 || (values[0] != "0" && values[0] != "1"))
        return bad(name, fmt::format("'{}' must be 0 or 1, once", name));
    return values[0] == "1";
}

// The version of the task with commit `commit`; nullptr when the task has none. The
// commit must be one of the task's own: the only objects these routes read.
const FileVersion* version_at(const std::vector<FileVersion>& versions, std::string_view commit) {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it)
        if (it->commit == commit) return &*it;
    return nullptr;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
    return out;
}

// A commit parameter: 40 hex digits (400 otherwise), then one of the task's versions (404).
std::variant<const FileVersion*, http::Response> commit_param(
    const http::Request& request, std::string_view name, const std::vector<FileVersion>& versions) {
    auto values = request.query_params(name);
    if (values.size() > 1) return bad(name, fmt::format("'{}' given more than once", name));
    if (!is_object_id(values[0]))
        return bad(name, fmt::format("'{}' must be a commit id (40 hex digits)", name));
    const FileVersion* v = version_at(versions, lower(values[0]));
    if (!v)
        return http::json_error(
            404, fmt::format("commit {} is not a version of this task", lower(values[0])),
            {{"parameter", std::string(name)}});
    return v;
}

// "<device>_<job>_<commit12>.txt" with every byte outside [A-Za-z0-9._-] replaced.
std::string download_name(std::string_view device, std::string_view job, std::string_view commit) {
    std::string name = fmt::format("{}_{}_{}.txt", device, job, commit.substr(0, 12));
    for (char& c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            c = '_';
    return name;
}

std::string number_or_null(std::uint32_t n) { return n ? std::to_string(n) : "null"; }

std::string version_ref_json(const FileVersion& v) {
    return fmt::format(R"({{"commit":"{}","blob":"{}","time":{}}})", v.commit, v.blob, v.time);
}

std::string diff_json(const FileVersion& from, const FileVersion& to, const BlobDiff& d) {
    std::string out = fmt::format(
        R"({{"from":{},"to":{},"binary":{},"truncated":{},"added":{},"removed":{},"hunks":[)",
        version_ref_json(from), version_ref_json(to), d.binary, d.truncated, d.added, d.removed);
    for (std::size_t h = 0; h < d.hunks.size(); ++h) {
        const DiffHunk& hunk = d.hunks[h];
        if (h) out += ',';
        out += fmt::format(
            R"({{"old_start":{},"old_lines":{},"new_start":{},"new_lines":{},"header":{},"lines":[)",
            hunk.old_start, hunk.old_lines, hunk.new_start, hunk.new_lines,
            json_quote(hunk.header));
        for (std::size_t i = 0; i < hunk.lines.size(); ++i) {
            const DiffLine& l = hunk.lines[i];
            if (i) out += ',';
            out += fmt::format(R"({{"op":"{}","old":{},"new":{},"text":)", l.op,
                               number_or_null(l.old_line), number_or_null(l.new_line));
            out += json_quote(l.text);
            out += '}';
        }
        out += "]}";
    }
    out += "]}";
    return out;
}

// Reader errors: a missing object is the repository's problem (the history names it), so
// 500 with what libgit2 said, not 404; too large 413.
http::Response reader_error(const Status& s, std::string_view what) {
    if (s.code() == Status::Code::too_large) return http::json_error(413, s.message());
    log_line(LogLevel::error, "repo.read_failed",
             {{"what", std::string(what)}, {"error", s.to_string()}});
    return http::json_error(500, fmt::format("the repository could not be read ({})", what),
                            {{"detail", s.message()}});
}

// GET /api/v1/search's parameters.
struct SearchQuery {
    std::string q;
    bool literal = false;
    bool icase = false;
    std::vector<std::string> tags, groups, jobs, devices;
    std::uint64_t limit = 100;
    std::uint64_t context = 2;
};

std::optional<http::Response> parse_search(const http::Request& request, SearchQuery& out) {
    if (auto r = unknown_parameter(request, {"q", "literal", "icase", "tag", "group", "job",
                                             "device", "limit", "context"}))
        return r;
    auto q = request.query_params("q");
    if (q.size() != 1) return bad("q", "'q' (the expression) is required, once");
    if (q[0].empty()) return bad("q", "'q' must not be empty");
    if (q[0].size() > k_max_query_bytes)
        return bad("q", fmt::format("'q' is longer than {} bytes", k_max_query_bytes));
    out.q = std::string(q[0]);
    auto literal = flag(request, "literal");
    if (auto* r = std::get_if<http::Response>(&literal)) return std::move(*r);
    out.literal = std::get<bool>(literal);
    auto icase = flag(request, "icase");
    if (auto* r = std::get_if<http::Response>(&icase)) return std::move(*r);
    out.icase = std::get<bool>(icase);
    const std::pair<const char*, std::vector<std::string>*> lists[] = {
        {"tag", &out.tags}, {"group", &out.groups}, {"job", &out.jobs}, {"device", &out.devices}};
    for (const auto& [name, list] : lists) {
        for (std::string_view v : request.query_params(name)) {
            if (v.empty() || v.size() > 256)
                return bad(name, fmt::format("'{}' must be 1 to 256 bytes", name));
            list->emplace_back(v);
        }
        if (list->size() > 100) return bad(name, fmt::format("at most 100 values of '{}'", name));
    }
    auto limit = number(request, "limit", 1, 1000, 100);
    if (auto* r = std::get_if<http::Response>(&limit)) return std::move(*r);
    out.limit = std::get<std::uint64_t>(limit);
    auto context = number(request, "context", 0, 10, 2);
    if (auto* r = std::get_if<http::Response>(&context)) return std::move(*r);
    out.context = std::get<std::uint64_t>(context);
    return std::nullopt;
}

bool any_of(const std::vector<std::string>& wanted, std::string_view v) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), v) != wanted.end();
}

// A task whose newest version the search reads: copied, since the projection and the
// index may change while the search runs off the io thread.
struct SearchTask {
    std::string device;
    std::string job;
    std::string commit;
    unix_time time = 0;
};

// The tasks of the inventory that match the filters and have a version, by device and job;
// `targets` gets their newest blobs, indexed into the result.
std::vector<SearchTask> search_tasks(const Projection& p, const HistoryIndex& history,
                                     const SearchQuery& q, std::vector<SearchTarget>& targets) {
    struct Found {
        std::string_view device, job;
        FileVersion version;
    };
    std::vector<Found> found;
    const Inventory& inventory = p.inventory();
    for (task_id id = 0; id < p.task_count(); ++id) {
        const TaskState& t = p.task(id);
        if (t.closed || !any_of(q.devices, t.device) || !any_of(q.jobs, t.job)) continue;
        const DeviceSpec& d = inventory.devices.at(t.device_index);
        if (!any_of(q.groups, d.group)) continue;
        if (!q.tags.empty() && std::none_of(d.tags.begin(), d.tags.end(),
                                            [&](const auto& tag) { return any_of(q.tags, tag); }))
            continue;
        if (auto h = history.last_change(t.device, t.job))
            found.push_back({t.device, t.job, std::move(h->last)});
    }
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
        return std::tie(a.device, a.job) < std::tie(b.device, b.job);
    });
    std::vector<SearchTask> out;
    out.reserve(found.size());
    targets.reserve(found.size());
    for (const Found& f : found) {
        targets.push_back({f.version.blob, out.size()});
        out.push_back(
            {std::string(f.device), std::string(f.job), f.version.commit, f.version.time});
    }
    return out;
}

std::string search_json(const SearchQuery& q, const std::vector<SearchTask>& tasks,
                        const SearchResult& r, double elapsed_ms) {
    std::string out = fmt::format(
        R"({{"query":{},"literal":{},"files_searched":{},"files_matched":{},"matches":{},)"
        R"("truncated":{},"elapsed_ms":{:.1f},"results":[)",
        json_quote(q.q), q.literal, r.files_searched, r.files_matched, r.matches, r.truncated,
        elapsed_ms);
    for (std::size_t f = 0; f < r.files.size(); ++f) {
        const SearchFile& file = r.files[f];
        const SearchTask& t = tasks.at(file.index);
        if (f) out += ',';
        out +=
            fmt::format(R"({{"device":{},"job":{},"commit":"{}","time":{},"matches":{},"lines":[)",
                        json_quote(t.device), json_quote(t.job), t.commit, t.time, file.matches);
        for (std::size_t i = 0; i < file.lines.size(); ++i) {
            const SearchLine& l = file.lines[i];
            if (i) out += ',';
            out += fmt::format(R"({{"line":{},"text":{},"match":{}}})", l.line, json_quote(l.text),
                               l.match);
        }
        out += "]}";
    }
    out += "]}";
    return out;
}

}  // namespace

void RepoApi::set_repo(std::string path) {
    repo_path_ = std::move(path);
    why_not_ = "the git repository is not open yet";
}

asio::awaitable<bool> RepoApi::ensure_reader() {
    if (reader_) co_return true;
    const auto now = std::chrono::steady_clock::now();
    if (repo_path_.empty() || opening_ ||
        (last_open_ != std::chrono::steady_clock::time_point{} &&
         now - last_open_ < k_reopen_after))
        co_return false;
    opening_ = true;
    last_open_ = now;
    std::optional<Result<std::unique_ptr<RepoReader>>> opened;
    const std::string path = repo_path_;
    auto open = [&]() -> asio::awaitable<void> {
        opened.emplace(RepoReader::open(path, k_search_threads + 2));
        co_return;
    };
    co_await asio::co_spawn(blocking_, open, asio::use_awaitable);
    opening_ = false;
    if (!*opened) {
        why_not_ = fmt::format("the git repository did not open: {}", opened->status().message());
        log_line(LogLevel::warn, "repo.open_failed", {{"error", opened->status().to_string()}});
        co_return false;
    }
    reader_ = std::move(**opened);
    co_return true;
}

http::Response RepoApi::unavailable() const {
    http::Response r = http::json_error(503, why_not_);
    r.headers.set("Retry-After", "10");
    return r;
}

Status RepoApi::add_routes(http::Router& router) {
    auto bind = [this](auto member) -> GuardedHandler {
        return [this, member](http::Request& r, const Caller& c) { return (this->*member)(r, c); };
    };
    const std::pair<const char*, GuardedHandler> routes[] = {
        {"/api/v1/devices/{device}/jobs/{job}/versions", bind(&RepoApi::versions)},
        {"/api/v1/devices/{device}/jobs/{job}/config", bind(&RepoApi::config)},
        {"/api/v1/devices/{device}/jobs/{job}/diff", bind(&RepoApi::diff)},
        {"/api/v1/search", bind(&RepoApi::search)},
    };
    for (const auto& [pattern, handler] : routes)
        if (Status s = gate_.add(router, "GET", pattern, Access::read, handler); !s) return s;
    return Status::ok();
}

namespace {

http::Response unknown_task(std::string_view device, std::string_view job) {
    return http::json_error(
        404, fmt::format("no task '{}' / '{}' (and no versions of one)", device, job));
}

// The history index on disk could not be read (a storage error, a damaged record).
http::Response history_error(const Status& s) {
    return http::json_error(503, "the history index could not be read",
                            {{"detail", s.to_string()}});
}

// Every version of the task, oldest first: a range read of the index, off the io thread.
asio::awaitable<Result<std::vector<FileVersion>>> read_all(const HistoryIndex& history,
                                                           asio::thread_pool& blocking,
                                                           const std::string& device,
                                                           const std::string& job) {
    std::optional<Result<std::vector<FileVersion>>> all;
    auto read = [&]() -> asio::awaitable<void> {
        all.emplace(history.all(device, job));
        co_return;
    };
    co_await asio::co_spawn(blocking, read, asio::use_awaitable);
    co_return std::move(*all);
}

}  // namespace

// ---- GET /api/v1/devices/{device}/jobs/{job}/versions ----

asio::awaitable<http::Response> RepoApi::versions(http::Request& request, const Caller&) {
    if (auto r = unknown_parameter(request, {"limit", "before"})) co_return std::move(*r);
    auto limit = number(request, "limit", 1, 1000, 200);
    if (auto* r = std::get_if<http::Response>(&limit)) co_return std::move(*r);
    auto before = number(request, "before", 1, UINT64_MAX, UINT64_MAX);
    if (auto* r = std::get_if<http::Response>(&before)) co_return std::move(*r);
    if (!co_await ensure_reader()) co_return unavailable();
    const std::string device(request.capture("device"));
    const std::string job(request.capture("job"));
    const auto task = history_.last_change(device, job);
    if (!task && !engine_.projection().find(device, job)) co_return unknown_task(device, job);
    const std::size_t total = task ? task->count : 0;
    // The page is a range read of the index on disk, off the io thread, with the sizes.
    std::optional<Result<VersionPage>> read;
    if (task) {
        auto read_page = [&]() -> asio::awaitable<void> {
            read.emplace(history_.page(device, job, std::get<std::uint64_t>(before),
                                       std::size_t(std::get<std::uint64_t>(limit))));
            co_return;
        };
        co_await asio::co_spawn(blocking_, read_page, asio::use_awaitable);
        if (!*read) co_return history_error(read->status());
    }
    const std::vector<FileVersion> page =
        read ? std::move((*read)->versions) : std::vector<FileVersion>{};
    const std::optional<std::uint64_t> next_before = read ? (*read)->next_before : std::nullopt;
    std::vector<std::optional<std::uint64_t>> sizes;
    auto reader = reader_;
    auto read_sizes = [&]() -> asio::awaitable<void> {
        for (const FileVersion& v : page) {
            auto size = reader->blob_size(v.blob);
            sizes.push_back(size ? std::optional<std::uint64_t>(*size) : std::nullopt);
        }
        co_return;
    };
    co_await asio::co_spawn(blocking_, read_sizes, asio::use_awaitable);
    std::string body =
        fmt::format(R"({{"device":{},"job":{},"versions":[)", json_quote(device), json_quote(job));
    for (std::size_t i = 0; i < page.size(); ++i) {
        const FileVersion& v = page[i];
        if (i) body += ',';
        body += fmt::format(
            R"({{"commit":"{}","blob":"{}","time":{},"seq":{},"size":{},"worker":{},"path":{}}})",
            v.commit, v.blob, v.time, v.seq, sizes[i] ? std::to_string(*sizes[i]) : "null",
            json_quote(v.worker), json_quote(v.path));
    }
    body += fmt::format(R"(],"total":{},"next_before":{}}})", total,
                        next_before ? std::to_string(*next_before) : "null");
    co_return http::json_response(200, std::move(body));
}

// ---- GET /api/v1/devices/{device}/jobs/{job}/config ----

asio::awaitable<http::Response> RepoApi::config(http::Request& request, const Caller&) {
    if (auto r = unknown_parameter(request, {"at", "download"})) co_return std::move(*r);
    auto download = flag(request, "download");
    if (auto* r = std::get_if<http::Response>(&download)) co_return std::move(*r);
    if (!co_await ensure_reader()) co_return unavailable();
    const std::string device(request.capture("device"));
    const std::string job(request.capture("job"));
    const auto task = history_.last_change(device, job);
    const bool pinned = request.query_param("at").has_value();
    if (!task) {
        if (!engine_.projection().find(device, job)) co_return unknown_task(device, job);
        co_return http::json_error(
            404, fmt::format("no version of '{}' / '{}' yet", device, job),
            pinned ? http::JsonFields{{"parameter", "at"}} : http::JsonFields{});
    }
    FileVersion version = task->last;
    if (pinned) {
        auto all = co_await read_all(history_, blocking_, device, job);
        if (!all) co_return history_error(all.status());
        auto at = commit_param(request, "at", *all);
        if (auto* r = std::get_if<http::Response>(&at)) co_return std::move(*r);
        version = *std::get<const FileVersion*>(at);
    }
    const std::string etag = fmt::format("\"{}\"", version.blob);
    http::Response response;
    response.headers.set("ETag", etag);
    response.headers.set("Cache-Control",
                         pinned ? "private, max-age=31536000, immutable" : "private, no-cache");
    response.headers.set("X-Content-Type-Options", "nosniff");
    if (std::get<bool>(download))
        response.headers.set(
            "Content-Disposition",
            fmt::format("attachment; filename=\"{}\"", download_name(device, job, version.commit)));
    if (request.header("If-None-Match") == std::optional<std::string_view>(etag)) {
        response.status = 304;
        co_return response;
    }
    auto reader = reader_;
    // co_spawn's result must be default-constructible: the answer comes back in a local.
    std::optional<Result<std::string>> blob;
    auto read = [&]() -> asio::awaitable<void> {
        blob.emplace(reader->read_blob(version.blob, k_max_config_bytes));
        co_return;
    };
    co_await asio::co_spawn(blocking_, read, asio::use_awaitable);
    if (!*blob) co_return reader_error(blob->status(), "config " + version.blob);
    response.status = 200;
    response.content_type = "text/plain; charset=utf-8";
    response.body = std::move(**blob);
    co_return response;
}

// ---- GET /api/v1/devices/{device}/jobs/{job}/diff ----

asio::awaitable<http::Response> RepoApi::diff(http::Request& request, const Caller&) {
    if (auto r = unknown_parameter(request, {"from", "to", "format", "context"}))
        co_return std::move(*r);
    auto context = number(request, "context", 0, 50, 3);
    if (auto* r = std::get_if<http::Response>(&context)) co_return std::move(*r);
    auto format = request.query_params("format");
    if (format.size() > 1 || (format.size() == 1 && format[0] != "unified" && format[0] != "json"))
        co_return bad("format", "'format' must be unified or json, once");
    const bool json = format.size() == 1 && format[0] == "json";
    if (!co_await ensure_reader()) co_return unavailable();
    const std::string device(request.capture("device"));
    const std::string job(request.capture("job"));
    auto all = co_await read_all(history_, blocking_, device, job);
    if (!all) co_return history_error(all.status());
    if (all->empty()) {
        if (!engine_.projection().find(device, job)) co_return unknown_task(device, job);
        co_return http::json_error(404, fmt::format("no version of '{}' / '{}' yet", device, job));
    }
    // Defaults: to the newest version, from the one before `to`.
    const FileVersion* to = &all->back();
    if (request.query_param("to")) {
        auto v = commit_param(request, "to", *all);
        if (auto* r = std::get_if<http::Response>(&v)) co_return std::move(*r);
        to = std::get<const FileVersion*>(v);
    }
    const FileVersion* from = nullptr;
    if (request.query_param("from")) {
        auto v = commit_param(request, "from", *all);
        if (auto* r = std::get_if<http::Response>(&v)) co_return std::move(*r);
        from = std::get<const FileVersion*>(v);
    } else if (to != &all->front()) {
        from = to - 1;
    } else {
        co_return http::json_error(404, fmt::format("no version before {}", to->commit),
                                   {{"parameter", "from"}});
    }
    const FileVersion old_version = *from;
    const FileVersion new_version = *to;
    const DiffOptions options{.context = std::uint32_t(std::get<std::uint64_t>(context)),
                              .max_lines = k_max_diff_lines,
                              .max_blob_size = k_max_diff_bytes};
    auto reader = reader_;
    std::optional<Result<BlobDiff>> d;
    auto run = [&]() -> asio::awaitable<void> {
        d.emplace(reader->diff(old_version.blob, new_version.blob, options));
        co_return;
    };
    co_await asio::co_spawn(blocking_, run, asio::use_awaitable);
    if (!*d) co_return reader_error(d->status(), "diff");
    if (json) co_return http::json_response(200, diff_json(old_version, new_version, **d));
    co_return http::text_response(200, unified_diff_text(**d));
}

// ---- GET /api/v1/search ----

asio::awaitable<http::Response> RepoApi::search(http::Request& request, const Caller&) {
    SearchQuery query;
    if (auto r = parse_search(request, query)) co_return std::move(*r);
    if (!co_await ensure_reader()) co_return unavailable();
    if (searches_ >= k_max_searches) {
        http::Response r = http::json_error(503, "too many searches running; try again");
        r.headers.set("Retry-After", "1");
        co_return r;
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<SearchTarget> targets;
    const std::vector<SearchTask> tasks =
        search_tasks(engine_.projection(), history_, query, targets);
    std::string pattern = query.literal ? Regex::quote(query.q) : query.q;
    // ^ and $ at line boundaries, as git grep reads them.
    pattern = (query.icase ? "(?mi)" : "(?m)") + pattern;
    const SearchOptions options{.context = query.context,
                                .max_files = query.limit,
                                .deadline = started + k_search_budget,
                                .threads = k_search_threads};
    auto reader = reader_;
    std::optional<Status> bad_pattern;
    searches_ += 1;
    struct Running {
        std::size_t& n;
        ~Running() { n -= 1; }
    } running{searches_};
    std::optional<Result<SearchResult>> found;
    auto run = [&]() -> asio::awaitable<void> {
        // The quoted literal may be longer than the 1024 bytes the operator wrote.
        auto re = Regex::compile(pattern, pattern.size());
        if (!re)
            bad_pattern = re.status();
        else
            found.emplace(reader->search(targets, *re, options));
        co_return;
    };
    co_await asio::co_spawn(blocking_, run, asio::use_awaitable);
    if (bad_pattern)
        co_return bad("q", fmt::format("invalid expression: {}", bad_pattern->message()));
    if (!*found) co_return reader_error(found->status(), "search");
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    co_return http::json_response(200, search_json(query, tasks, **found, elapsed));
}

}  // namespace netkeep::api
