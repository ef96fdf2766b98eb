#pragma once
// The UI's files, embedded at build time: src/ui/gen_assets.py turns src/ui/assets/* into
// one generated source that defines assets(). Immutable data; any thread.

#include <span>
#include <string_view>

namespace netkeep::ui {

struct Asset {
    std::string_view name;          // base name: served as /ui/assets/<name>
    std::string_view content_type;  // with charset for text
    std::string_view body;
    std::string_view gzip;       // the gzip-encoded body, empty when it would not be smaller
    std::string_view etag;       // strong, quoted: a hash of body
    std::string_view gzip_etag;  // the gzip representation's own tag: "<hash>-gzip"
};

// Every embedded file, sorted by name.
std::span<const Asset> assets();

}  // namespace netkeep::ui
