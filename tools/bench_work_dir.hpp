#pragma once
// Where a benchmark that starts netkeepd keeps its data: `--work DIR` (a new directory,
// left behind for a look afterwards) or a temp dir removed when the benchmark ends.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "netkeep/status.hpp"
#include "support/temp_dir.hpp"

namespace netkeep::bench {

class WorkDir {
public:
    // `requested` empty: a new temp dir named after `name`; else `requested`, which must
    // not exist yet (a benchmark never runs over an earlier one's data).
    static Result<WorkDir> open(const std::string& requested, std::string_view name) {
        WorkDir dir;
        if (requested.empty()) {
            auto created = testing::TempDir::create(name);
            if (!created) return created.status();
            dir.path_ = created->path();
            dir.temp_.emplace(std::move(*created));
        } else if (std::filesystem::exists(requested)) {
            return Status::invalid_argument(
                fmt::format("{} exists; --work wants a new directory", requested));
        } else {
            dir.path_ = requested;
        }
        return dir;
    }

    const std::filesystem::path& path() const { return path_; }

private:
    std::optional<testing::TempDir> temp_;
    std::filesystem::path path_;
};

}  // namespace netkeep::bench
