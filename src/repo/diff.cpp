// The diff of two blobs (netkeep/repo_reader.hpp): libgit2's git_diff_blobs, its
// callbacks collected into a BlobDiff, and the unified text of one.

#include <fmt/format.h>

#include "repo/reader_impl.hpp"

namespace netkeep {

namespace repo {

namespace {

using blob_ptr = gitwriter::git_handle<git_blob, git_blob_free>;

struct Collector {
    BlobDiff diff;
    std::size_t max_lines = 0;
    std::size_t listed = 0;
};

int on_binary(const git_diff_delta*, const git_diff_binary*, void* payload) {
    static_cast<Collector*>(payload)->diff.binary = true;
    return 0;
}

int on_hunk(const git_diff_delta*, const git_diff_hunk* hunk, void* payload) {
    auto& c = *static_cast<Collector*>(payload);
    if (c.diff.truncated) return 0;
    std::string_view header(hunk->header, hunk->header_len);
    while (!header.empty() && (header.back() == '\n' || header.back() == '\r'))
        header.remove_suffix(1);
    c.diff.hunks.push_back(DiffHunk{std::uint32_t(hunk->old_start),
                                    std::uint32_t(hunk->old_lines),
                                    std::uint32_t(hunk->new_start),
                                    std::uint32_t(hunk->new_lines),
                                    std::string(header),
                                    {}});
    return 0;
}

int on_line(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line, void* payload) {
    auto& c = *static_cast<Collector*>(payload);
    const char op = line->origin;
    if (op == GIT_DIFF_LINE_ADDITION) c.diff.added += 1;
    if (op == GIT_DIFF_LINE_DELETION) c.diff.removed += 1;
    if (c.diff.truncated || c.diff.hunks.empty()) return 0;
    auto& lines = c.diff.hunks.back().lines;
    // "\ No newline at end of file" belongs to the line before it.
    if (op == GIT_DIFF_LINE_CONTEXT_EOFNL || op == GIT_DIFF_LINE_ADD_EOFNL ||
        op == GIT_DIFF_LINE_DEL_EOFNL) {
        if (!lines.empty()) lines.back().no_newline = true;
        return 0;
    }
    if (op != GIT_DIFF_LINE_CONTEXT && op != GIT_DIFF_LINE_ADDITION && op != GIT_DIFF_LINE_DELETION)
        return 0;
    if (c.listed >= c.max_lines) {
        c.diff.truncated = true;
        return 0;
    }
    c.listed += 1;
    std::string_view text(line->content, line->content_len);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    DiffLine l;
    l.op = op;
    l.old_line = line->old_lineno > 0 ? std::uint32_t(line->old_lineno) : 0;
    l.new_line = line->new_lineno > 0 ? std::uint32_t(line->new_lineno) : 0;
    l.text = std::string(text);
    lines.push_back(std::move(l));
    return 0;
}

Result<blob_ptr> lookup(git_repository* repo, git_odb* odb, const git_oid& id,
                        std::uint64_t max_size) {
    if (Status s = check_blob_header(odb, id, max_size); !s) return s;
    git_blob* raw = nullptr;
    if (Status s = git_status(git_blob_lookup(&raw, repo, &id), "reading a blob"); !s) return s;
    return blob_ptr(raw);
}

}  // namespace

Result<BlobDiff> diff_blobs(HandlePool& pool, std::string_view from, std::string_view to,
                            const DiffOptions& options) {
    auto old_id = parse_oid(from);
    if (!old_id) return old_id.status();
    auto new_id = parse_oid(to);
    if (!new_id) return new_id.status();
    return with_retry<BlobDiff>(pool, [&](HandlePool::Lease& lease) -> Result<BlobDiff> {
        auto old_blob = lookup(lease.repo(), lease.odb(), *old_id, options.max_blob_size);
        if (!old_blob) return old_blob.status();
        auto new_blob = lookup(lease.repo(), lease.odb(), *new_id, options.max_blob_size);
        if (!new_blob) return new_blob.status();
        // Not GIT_DIFF_OPTIONS_INIT: clang warns about the fields the macro leaves out.
        git_diff_options opts;
        if (Status s =
                git_status(git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION), "diff options");
            !s)
            return s;
        opts.context_lines = options.context;
        opts.interhunk_lines = 0;
        // git diff's default since git 2.14 (diff.indentHeuristic).
        opts.flags = GIT_DIFF_INDENT_HEURISTIC;
        Collector c;
        c.max_lines = options.max_lines;
        if (Status s = git_status(git_diff_blobs(old_blob->get(), nullptr, new_blob->get(), nullptr,
                                                 &opts, nullptr, on_binary, on_hunk, on_line, &c),
                                  "diffing two blobs");
            !s)
            return s;
        if (c.diff.binary) c.diff.hunks.clear();
        return std::move(c.diff);
    });
}

}  // namespace repo

std::string unified_diff_text(const BlobDiff& diff) {
    if (diff.binary) return "Binary files differ\n";
    std::string out;
    for (const DiffHunk& h : diff.hunks) {
        out += h.header;
        out += '\n';
        for (const DiffLine& l : h.lines) {
            out += l.op;
            out += l.text;
            out += '\n';
            if (l.no_newline) out += "\\ No newline at end of file\n";
        }
    }
    if (diff.truncated) out += "[diff truncated: more lines than the limit]\n";
    return out;
}

}  // namespace netkeep
