// The regex search over many blobs (netkeep/repo_reader.hpp).
//
// Fast because the regex runs over a whole blob at once (RE2's DFA, with memchr for a
// literal prefix), not line by line: a blob without a match costs one scan, and lines are
// split only around the matches found.

#include <algorithm>
#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include "repo/reader_impl.hpp"

namespace netkeep::repo {

namespace {

struct Line {
    std::size_t begin = 0;  // offset of its first byte
    std::size_t end = 0;    // offset of its newline (or the end of the blob)
    std::uint64_t number = 0;
};

// A line's text cut at `max` bytes, not inside a UTF-8 sequence.
std::string cut(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return std::string(text.substr(0, n));
}

// State shared by the search threads.
struct Shared {
    Shared(std::span<const SearchTarget> t, const Regex& r, const SearchOptions& o)
        : targets(t), regex(r), options(o) {}
    std::span<const SearchTarget> targets;
    const Regex& regex;
    const SearchOptions& options;
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> matches{0};
    std::atomic<std::uint64_t> searched{0};
    std::atomic<std::uint64_t> matched_files{0};
    std::atomic<std::uint64_t> skipped{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> truncated{false};
    Mutex mutex;
    std::set<std::size_t> listed GUARDED_BY(mutex);  // matched files' indexes, max_files smallest
    Status error GUARDED_BY(mutex) = Status::ok();   // the first error

    // Whether a file with `index` may still be among the max_files listed.
    bool may_list(std::size_t index) EXCLUDES(mutex) {
        MutexLock lock(mutex);
        if (listed.size() < options.max_files) return true;
        return index < *std::prev(listed.end());
    }
    void note_listed(std::size_t index) EXCLUDES(mutex) {
        MutexLock lock(mutex);
        listed.insert(index);
        while (listed.size() > options.max_files) listed.erase(std::prev(listed.end()));
    }
    void fail(Status s) EXCLUDES(mutex) {
        MutexLock lock(mutex);
        if (error) error = std::move(s);
        stop = true;
    }
};

// Counts the matching lines of `text` (each counted line takes one from the shared
// budget) and collects the first max_lines_per_file of them.
std::uint64_t find_lines(std::string_view text, Shared& shared, std::vector<Line>& found) {
    std::uint64_t count = 0;
    std::size_t pos = 0;
    std::size_t counted_to = 0;  // newlines before this offset are in `line_number`
    std::uint64_t line_number = 1;
    std::string_view match[1];
    while (pos <= text.size() && shared.regex.search(text, pos, match)) {
        const std::size_t start = std::size_t(match[0].data() - text.data());
        const std::size_t end = start + match[0].size();
        // An empty match after the final newline (or in an empty blob) is not on a line.
        if (start == text.size() && (text.empty() || text.back() == '\n')) break;
        const char* nl =
            static_cast<const char*>(std::memchr(text.data() + start, '\n', text.size() - start));
        const std::size_t line_end = nl ? std::size_t(nl - text.data()) : text.size();
        std::size_t line_begin = start;
        while (line_begin > pos && text[line_begin - 1] != '\n') --line_begin;
        // A match across a newline (\s, [^x] match one) is git grep's only when the line
        // matches on its own.
        bool matches =
            end <= line_end || shared.regex.search(text.substr(line_begin, line_end - line_begin));
        if (matches) {
            if (shared.matches.fetch_add(1) >= shared.options.max_matches) {
                shared.truncated = true;
                shared.stop = true;
                break;
            }
            count += 1;
            if (found.size() < shared.options.max_lines_per_file) {
                line_number += std::uint64_t(
                    std::count(text.begin() + counted_to, text.begin() + line_begin, '\n'));
                counted_to = line_begin;
                found.push_back(Line{line_begin, line_end, line_number});
            }
        }
        pos = line_end + 1;
    }
    return count;
}

// The listed lines of one file: its matches with `context` lines around each.
std::vector<SearchLine> listed_lines(std::string_view text, const std::vector<Line>& found,
                                     const SearchOptions& options) {
    std::vector<Line> lines;
    std::set<std::uint64_t> matched;
    for (const Line& m : found) {
        matched.insert(m.number);
        lines.push_back(m);
        Line l = m;
        for (std::size_t i = 0; i < options.context && l.begin > 0; ++i) {
            std::size_t end = l.begin - 1;
            std::size_t begin = end;
            while (begin > 0 && text[begin - 1] != '\n') --begin;
            l = Line{begin, end, l.number - 1};
            lines.push_back(l);
        }
        l = m;
        for (std::size_t i = 0; i < options.context && l.end < text.size(); ++i) {
            std::size_t begin = l.end + 1;
            if (begin >= text.size()) break;  // no line after the final newline
            const char* nl = static_cast<const char*>(
                std::memchr(text.data() + begin, '\n', text.size() - begin));
            l = Line{begin, nl ? std::size_t(nl - text.data()) : text.size(), l.number + 1};
            lines.push_back(l);
        }
    }
    std::sort(lines.begin(), lines.end(),
              [](const Line& a, const Line& b) { return a.number < b.number; });
    lines.erase(std::unique(lines.begin(), lines.end(),
                            [](const Line& a, const Line& b) { return a.number == b.number; }),
                lines.end());
    std::vector<SearchLine> out;
    out.reserve(lines.size());
    for (const Line& l : lines)
        out.push_back(SearchLine{l.number,
                                 cut(text.substr(l.begin, l.end - l.begin), options.max_line_bytes),
                                 matched.count(l.number) > 0});
    return out;
}

// One thread's share: targets taken in index order until none is left or the search stops.
void search_some(HandlePool& pool, Shared& shared, std::vector<SearchFile>& out) {
    auto lease = pool.acquire();
    if (!lease) return shared.fail(lease.status());
    std::vector<Line> found;
    while (!shared.stop) {
        const std::size_t i = shared.next.fetch_add(1);
        if (i >= shared.targets.size()) break;
        if (std::chrono::steady_clock::now() >= shared.options.deadline) {
            shared.truncated = true;
            shared.stop = true;
            break;
        }
        const SearchTarget& t = shared.targets[i];
        auto oid = parse_oid(t.blob);
        if (!oid) return shared.fail(oid.status());
        auto obj = read_blob_unverified(lease->odb(), *oid, shared.options.max_blob_size);
        if (!obj && obj.status().code() == Status::Code::too_large) {
            shared.skipped += 1;
            continue;
        }
        if (!obj) {
            // Once more on a fresh handle: git gc may have replaced the packs.
            lease->discard();
            lease = pool.acquire();
            if (!lease) return shared.fail(lease.status());
            obj = read_blob_unverified(lease->odb(), *oid, shared.options.max_blob_size);
            if (!obj) return shared.fail(obj.status());
        }
        const std::string_view text = obj->text();
        found.clear();
        const std::uint64_t count = find_lines(text, shared, found);
        shared.searched += 1;
        if (count == 0) continue;
        shared.matched_files += 1;
        if (!shared.may_list(t.index)) continue;
        shared.note_listed(t.index);
        out.push_back(SearchFile{t.index, count, listed_lines(text, found, shared.options)});
    }
}

}  // namespace

Result<SearchResult> search_blobs(HandlePool& pool, std::span<const SearchTarget> targets,
                                  const Regex& regex, const SearchOptions& options) {
    Shared shared(targets, regex, options);
    const unsigned n = std::clamp<unsigned>(options.threads, 1, 16);
    std::vector<std::vector<SearchFile>> found(n);
    {
        std::vector<std::jthread> helpers;
        for (unsigned t = 1; t < n && t < targets.size(); ++t)
            helpers.emplace_back([&, t] { search_some(pool, shared, found[t]); });
        search_some(pool, shared, found[0]);
    }
    {
        MutexLock lock(shared.mutex);
        if (!shared.error) return shared.error;
    }
    SearchResult r;
    for (auto& part : found)
        for (SearchFile& f : part) r.files.push_back(std::move(f));
    std::sort(r.files.begin(), r.files.end(),
              [](const SearchFile& a, const SearchFile& b) { return a.index < b.index; });
    if (r.files.size() > options.max_files) r.files.resize(options.max_files);
    r.files_searched = shared.searched;
    r.files_matched = shared.matched_files;
    r.matches = std::min(shared.matches.load(), options.max_matches);
    r.skipped_large = shared.skipped;
    r.truncated = shared.truncated || r.files_matched > r.files.size();
    return r;
}

}  // namespace netkeep::repo
