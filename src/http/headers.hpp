#pragma once
// HTTP header fields in arrival order. Names compare case-insensitively (RFC 9110 5.1);
// repeated fields are kept as separate entries so nothing is lost or merged by accident.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netkeep::http {

struct Header {
    std::string name;
    std::string value;
};

// ASCII-only case-insensitive comparison: header names and methods are tokens.
bool iequals(std::string_view a, std::string_view b);

// RFC 9110 token (header names, methods): one or more of A-Z a-z 0-9 !#$%&'*+-.^_`|~
bool is_token(std::string_view s);

// `s` without the optional whitespace (spaces and tabs, RFC 9110 5.6.3) around it.
std::string_view trim_ows(std::string_view s);

// True when the comma-separated list `value` contains `token` (case-insensitive),
// e.g. has_token("keep-alive, Upgrade", "upgrade").
bool has_token(std::string_view value, std::string_view token);

class Headers {
public:
    Headers() = default;
    Headers(std::initializer_list<Header> fields) : fields_(fields) {}

    void add(std::string name, std::string value);
    // Replaces every field called `name` by one.
    void set(std::string name, std::string value);
    void remove(std::string_view name);

    // The first field called `name`, if any.
    std::optional<std::string_view> get(std::string_view name) const;
    std::vector<std::string_view> get_all(std::string_view name) const;
    bool contains(std::string_view name) const { return get(name).has_value(); }

    auto begin() const { return fields_.begin(); }
    auto end() const { return fields_.end(); }
    std::size_t size() const { return fields_.size(); }
    bool empty() const { return fields_.empty(); }
    void clear() { fields_.clear(); }

private:
    std::vector<Header> fields_;
};

}  // namespace netkeep::http
