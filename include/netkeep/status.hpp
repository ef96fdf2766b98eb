#pragma once
// Errors as values at every module boundary (after LevelDB's Status).
// A Status is ok, or a code plus a message meant for a human operator.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace netkeep {

class [[nodiscard]] Status {
public:
    enum class Code {
        ok,
        not_found,
        corruption,
        invalid_argument,
        conflict,
        io_error,
        not_supported,
        unavailable,  // shutting down, or a dependency refused to work
        too_large,
        no_space,  // the file system is full (ENOSPC, EDQUOT): retry once space is freed
    };

    Status() = default;

    static Status ok() { return {}; }
    static Status not_found(std::string msg) { return {Code::not_found, std::move(msg)}; }
    static Status corruption(std::string msg) { return {Code::corruption, std::move(msg)}; }
    static Status invalid_argument(std::string msg) {
        return {Code::invalid_argument, std::move(msg)};
    }
    static Status conflict(std::string msg) { return {Code::conflict, std::move(msg)}; }
    static Status io_error(std::string msg) { return {Code::io_error, std::move(msg)}; }
    static Status not_supported(std::string msg) { return {Code::not_supported, std::move(msg)}; }
    static Status unavailable(std::string msg) { return {Code::unavailable, std::move(msg)}; }
    static Status too_large(std::string msg) { return {Code::too_large, std::move(msg)}; }
    static Status no_space(std::string msg) { return {Code::no_space, std::move(msg)}; }

    bool is_ok() const { return code_ == Code::ok; }
    explicit operator bool() const { return is_ok(); }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }

    // "corruption: seq 42: bad checksum"
    std::string to_string() const;

private:
    Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

    Code code_ = Code::ok;
    std::string message_;
};

std::string_view code_name(Status::Code code);

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status status) : status_(std::move(status)) { assert(!status_.is_ok()); }  // NOLINT

    bool is_ok() const { return value_.has_value(); }
    explicit operator bool() const { return is_ok(); }

    const Status& status() const { return status_; }
    T& value() & {
        assert(value_);
        return *value_;
    }
    const T& value() const& {
        assert(value_);
        return *value_;
    }
    T&& value() && {
        assert(value_);
        return std::move(*value_);
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace netkeep
