#include "http/compress.hpp"

#include <zlib.h>

#include <memory>

namespace netkeep::http {

namespace {

// "gzip;q=0" refuses; any other q (or none) accepts.
bool coding_accepted(std::string_view item, std::string_view& coding) {
    const std::size_t semi = item.find(';');
    coding = trim_ows(item.substr(0, semi));
    if (semi == std::string_view::npos) return true;
    std::string_view params = item.substr(semi + 1);
    const std::size_t q = params.find("q=");
    if (q == std::string_view::npos) return true;
    std::string_view value = trim_ows(params.substr(q + 2));
    value = value.substr(0, value.find(';'));
    return trim_ows(value).find_first_not_of("0.") != std::string_view::npos;
}

bool compressible(std::string_view content_type) {
    return content_type.starts_with("text/") || content_type.starts_with("application/json") ||
           content_type.starts_with("application/javascript") ||
           content_type.starts_with("image/svg+xml");
}

struct DeflateStream {
    z_stream z{};
    bool open = false;
    ~DeflateStream() {
        if (open) deflateEnd(&z);
    }
};

}  // namespace

bool accepts_gzip(const Headers& headers) {
    for (std::string_view field : headers.get_all("Accept-Encoding")) {
        while (!field.empty()) {
            const std::size_t comma = field.find(',');
            std::string_view item = field.substr(0, comma);
            field = comma == std::string_view::npos ? std::string_view{} : field.substr(comma + 1);
            std::string_view coding;
            const bool accepted = coding_accepted(item, coding);
            if (iequals(coding, "gzip") || iequals(coding, "x-gzip") || coding == "*")
                return accepted;
        }
    }
    return false;
}

Result<std::string> gzip(std::string_view data, int level) {
    DeflateStream s;
    // 15 + 16: a 32 KiB window with a gzip header and trailer.
    if (deflateInit2(&s.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return Status::unavailable("zlib: deflateInit2 failed");
    s.open = true;
    std::string out(deflateBound(&s.z, uLong(data.size())) + 32, '\0');
    s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    s.z.avail_in = uInt(data.size());
    s.z.next_out = reinterpret_cast<Bytef*>(out.data());
    s.z.avail_out = uInt(out.size());
    if (deflate(&s.z, Z_FINISH) != Z_STREAM_END) return Status::unavailable("zlib: deflate failed");
    out.resize(s.z.total_out);
    return out;
}

void compress_response(Response& response, bool client_accepts_gzip,
                       const CompressOptions& options) {
    if (response.status != 200 || !compressible(response.content_type) ||
        response.headers.contains("Content-Encoding"))
        return;
    response.headers.set("Vary", "Accept-Encoding");
    if (!client_accepts_gzip || response.body.size() < options.min_bytes ||
        response.body.size() > options.max_bytes)
        return;
    auto packed = gzip(response.body, options.level);
    if (!packed || packed->size() >= response.body.size()) return;
    response.body = std::move(*packed);
    response.headers.set("Content-Encoding", "gzip");
    if (auto etag = response.headers.get("ETag"); etag && etag->size() >= 2 && etag->back() == '"')
        response.headers.set("ETag", std::string(etag->substr(0, etag->size() - 1)) + "-gzip\"");
}

}  // namespace netkeep::http
