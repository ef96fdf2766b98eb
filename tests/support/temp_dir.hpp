#pragma once
// A fresh directory under the system temp dir, removed with everything in it when the
// TempDir goes away.

#include <filesystem>
#include <string_view>

#include "netkeep/status.hpp"

namespace netkeep::testing {

class TempDir {
public:
    static Result<TempDir> create(std::string_view prefix = "netkeep-test");

    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
    void remove();

    std::filesystem::path path_;
};

}  // namespace netkeep::testing
