#pragma once
// Request-target helpers: percent-decoding, query strings, splitting path from query.
// Pure functions; the server uses them to build a Request.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netkeep/status.hpp"

namespace netkeep::http {

// Query parameters in the order they were sent; a name may repeat ("tag=a&tag=b").
using QueryParams = std::vector<std::pair<std::string, std::string>>;

enum class PlusMeans { plus, space };

// "%41" -> "A". A '%' not followed by two hex digits is an error (invalid_argument), so a
// malformed target is answered with 400 instead of guessed at. With PlusMeans::space
// (query strings, form encoding) '+' decodes to ' '.
Result<std::string> percent_decode(std::string_view in, PlusMeans plus = PlusMeans::plus);

// "a=1&b=x+y&a=%32&flag" -> {a,1} {b,"x y"} {a,2} {flag,""}. Empty pieces ("a=1&&b=2")
// are skipped.
Result<QueryParams> parse_query(std::string_view query);

struct Target {
    std::string raw_path;  // as sent, still percent-encoded ("/api/v1/tasks/a%2Fb")
    std::string path;      // percent-decoded ("/api/v1/tasks/a/b")
    std::string raw_query;
    QueryParams query;
};

// Accepts origin-form ("/p?q") and absolute-form ("http://host/p?q", which RFC 9112 3.2.2
// says a server must accept); "*" (OPTIONS) gives the path "*". A fragment is dropped.
Result<Target> parse_target(std::string_view target);

}  // namespace netkeep::http
