#pragma once
// Files that must survive a power cut once they are relied on: written to a temporary
// name, fsync'd, renamed into place, and the directory fsync'd, so that after a crash a
// reader finds either the old content or the new, never an empty or partial file.
// Used for the repository's creation, netkeep-pack.config and the retry requests
// netkeepctl leaves for the writer (docs/git.md#durability-of-the-files-netkeep-creates).

#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep::gitwriter {

// fsync of a directory (its entries: a rename or a create in it is then durable).
Status fsync_dir(const std::string& path);

// fsync of every file and directory under path, path included, children first.
Status fsync_tree(const std::string& path);

// Replaces path with content: <path>.tmp-<pid>, fsync, rename, fsync of the parent.
Status write_file_durably(const std::string& path, std::string_view content);

// mkdir -p, then fsync of each directory created and of its parent.
Status make_dirs_durably(const std::string& path);

}  // namespace netkeep::gitwriter
