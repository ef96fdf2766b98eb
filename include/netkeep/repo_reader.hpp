#pragma once
// A read-only view of the bare repository the git writer keeps (<data-dir>/repo.git): the
// blobs of the versions the history index lists, the diff of two of them, and a regex
// search over many. Behind the read API's git-backed routes (src/api/repo_api.*); built on
// libgit2 in src/repo (no libgit2 type appears here).
//
// It never writes and never walks history: callers name blobs by the ids the history index
// recorded. A blob the writer has not published yet, or that git gc moved into another
// pack, is looked up again on a fresh handle before it is reported missing.
//
// Threads: every method may be called from any number of threads at once. libgit2's
// repository handles are not shared between threads: each call takes one from a small
// pool (opening one when the pool is empty) and gives it back. Calls block (disk, zlib);
// run them on a blocking pool, never on an io thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netkeep/regex.hpp"
#include "netkeep/status.hpp"

namespace netkeep {

// ---- diff of two blobs ----

struct DiffLine {
    char op = ' ';               // ' ' context, '+' added, '-' removed
    std::uint32_t old_line = 0;  // 1-based; 0 when the line is not in the old blob ('+')
    std::uint32_t new_line = 0;  // 1-based; 0 when the line is not in the new blob ('-')
    std::string text;            // without its newline
    // The old (for '-' and ' ') or new ('+') blob ends in this line without a newline:
    // unified output follows it with "\ No newline at end of file".
    bool no_newline = false;
};

struct DiffHunk {
    std::uint32_t old_start = 0;
    std::uint32_t old_lines = 0;
    std::uint32_t new_start = 0;
    std::uint32_t new_lines = 0;
    std::string header;  // "@@ -1,3 +1,4 @@ <function context>", without its newline
    std::vector<DiffLine> lines;
};

struct BlobDiff {
    bool binary = false;      // either blob looked binary (git's rule): no hunks
    bool truncated = false;   // more lines than DiffOptions::max_lines: the hunks stop there
    std::uint64_t added = 0;  // every added line, also past the truncation
    std::uint64_t removed = 0;
    std::vector<DiffHunk> hunks;
};

struct DiffOptions {
    std::uint32_t context = 3;                  // lines of context around changes (git diff -U)
    std::size_t max_lines = 20'000;             // lines listed in hunks, then truncated
    std::uint64_t max_blob_size = 64ull << 20;  // either blob larger: too_large
};

// The hunks as `git diff <old> <new>` prints them after its header ("@@ ..." onwards),
// with "\ No newline at end of file" where git prints it; "Binary files differ\n" for a
// binary diff; a truncated diff ends in a line saying so.
std::string unified_diff_text(const BlobDiff& diff);

// ---- search ----

struct SearchTarget {
    std::string blob;       // 40 hex digits
    std::size_t index = 0;  // the caller's: results are sorted by it
};

struct SearchOptions {
    std::size_t context = 2;                    // lines listed before and after each match
    std::size_t max_files = 100;                // files listed: those with the smallest indexes
    std::size_t max_lines_per_file = 20;        // matching lines listed per file (all are counted)
    std::size_t max_line_bytes = 512;           // a listed line is cut here (at a UTF-8 boundary)
    std::uint64_t max_matches = 10'000;         // matching lines counted over all files, then stop
    std::uint64_t max_blob_size = 64ull << 20;  // larger blobs are skipped
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    unsigned threads = 1;  // blobs are spread over this many threads (the caller's included)
};

struct SearchLine {
    std::uint64_t line = 0;  // 1-based
    std::string text;        // without its newline, cut at max_line_bytes
    bool match = false;      // false: a context line
};

struct SearchFile {
    std::size_t index = 0;      // SearchTarget::index
    std::uint64_t matches = 0;  // matching lines (as `git grep -c` counts them)
    std::vector<SearchLine> lines;
};

struct SearchResult {
    std::vector<SearchFile> files;  // at most max_files, by index
    std::uint64_t files_searched = 0;
    std::uint64_t files_matched = 0;
    std::uint64_t matches = 0;
    // Stopped early (max_matches or the deadline), or more files matched than listed.
    bool truncated = false;
    std::uint64_t skipped_large = 0;  // blobs over max_blob_size, not searched
};

class RepoReader {
public:
    // Opens the bare repository at `path` once to check it is one (not_found when nothing
    // is there, io_error when it does not open). `max_handles` bounds the pool kept open.
    static Result<std::unique_ptr<RepoReader>> open(const std::string& path,
                                                    std::size_t max_handles = 4);
    virtual ~RepoReader() = default;

    // The blob `hex` (40 hex digits): invalid_argument for another form, not_found when no
    // such blob, too_large past max_size (checked from the object header before reading).
    virtual Result<std::string> read_blob(std::string_view hex, std::uint64_t max_size) const = 0;
    // Its size, from the object header (the blob is not inflated when it is packed whole).
    virtual Result<std::uint64_t> blob_size(std::string_view hex) const = 0;
    // The line diff from blob `from` to blob `to` (git's Myers with the indent heuristic,
    // as `git diff` by default).
    virtual Result<BlobDiff> diff(std::string_view from, std::string_view to,
                                  const DiffOptions& options) const = 0;
    // The lines of each target's blob that `regex` matches, as `git grep` takes them: a
    // line matches when the regex matches within it. The regex should be compiled with
    // "(?m)" so that ^ and $ are line boundaries: it runs over the whole blob, and lines
    // are split only around its matches. A blob that is missing is an error.
    virtual Result<SearchResult> search(std::span<const SearchTarget> targets, const Regex& regex,
                                        const SearchOptions& options) const = 0;
};

// Whether `s` is 40 lower- or upper-case hex digits.
bool is_object_id(std::string_view s);

}  // namespace netkeep
