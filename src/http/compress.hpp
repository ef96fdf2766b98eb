#pragma once
// gzip for answers (RFC 9110 8.4): the server compresses a text answer when the client
// accepts gzip and the body is large enough for it to pay. Pure functions over a Response.

#include <cstddef>
#include <string>
#include <string_view>

#include "http/headers.hpp"
#include "http/response.hpp"
#include "netkeep/status.hpp"

namespace netkeep::http {

// Whether an Accept-Encoding field list allows gzip ("gzip", "x-gzip" or "*", not with q=0).
bool accepts_gzip(const Headers& headers);

// The gzip member of `data` (zlib's deflate with a gzip header, no file name or time, so
// the same input always gives the same bytes).
Result<std::string> gzip(std::string_view data, int level);

struct CompressOptions {
    std::size_t min_bytes = 1024;  // smaller bodies gain less than the header costs
    // Larger ones are sent as they are: compressing runs on the io thread, and at the fast
    // level 8 MiB takes tens of milliseconds. Routes whose answers can be larger bound them.
    std::size_t max_bytes = 8 * 1024 * 1024;
    int level = 1;  // zlib's fastest: most of the gain on text, a fraction of the time
};

// Compresses `response` in place when it pays: a 200 answer with a text, JSON or
// JavaScript content type, no Content-Encoding of its own (the web UI's assets come
// compressed at build time), a body within the bounds, and a smaller result. Adds
// "Vary: Accept-Encoding" to every answer it could have compressed, and suffixes a strong
// ETag ("x" -> "x-gzip") since the compressed bytes are another representation.
void compress_response(Response& response, bool client_accepts_gzip,
                       const CompressOptions& options = {});

}  // namespace netkeep::http
