#pragma once
// Making directories durable before anything relies on them (docs/security.md "Faults:
// storage"). A directory created by mkdir(2) exists, after a power cut, only once the
// directory holding its entry has been fsync'd; a file renamed into a directory, only once
// that directory has. netkeepd and netkeepctl create their directories through here.

#include <string>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep {

// fsync(2) of the directory itself: makes the entries created, renamed or removed in it
// durable. A failure is never retried on the same descriptor (after a failed fsync the
// kernel may have dropped the dirty pages and report success next time).
Status sync_directory(const std::string& path);

// mkdir -p that is durable when it returns: each component it creates is fsync'd together
// with the directory that holds it (mode 0777 through the umask, like mkdir -p). Existing
// components are left as they are. An error that is a full file system is no_space.
Status create_directories_durably(const std::string& path);

// fsync of every file and directory under path, path included, children first: for a
// tree built aside (a new repository) before it is renamed into place.
Status sync_tree(const std::string& path);

struct DurableFileOptions {
    unsigned mode = 0666;  // of the new file, through the umask (0600 for a secret)
    // Run as root over an existing file, the new file gets the old one's owner and group:
    // `sudo netkeepctl token add` must not leave the service's user a root-owned file.
    bool keep_owner = false;
};

// Replaces path with content so that a reader finds the old content or the new, never an
// empty or partial file: <path>.tmp-<pid>, fsync, rename, fsync of the parent.
Status write_file_durably(const std::string& path, std::string_view content,
                          const DurableFileOptions& options = {});

}  // namespace netkeep
