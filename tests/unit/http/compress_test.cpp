#include "http/compress.hpp"

#include <zlib.h>

#include <string>

#include <doctest/doctest.h>

using namespace netkeep::http;

namespace {

Headers accept(std::string value) {
    Headers h;
    h.add("Accept-Encoding", std::move(value));
    return h;
}

// Inflates a gzip member with zlib: the test's own reading of what the client gets.
std::string gunzip(const std::string& packed) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = uInt(packed.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    const int rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    REQUIRE(rc == Z_STREAM_END);
    out.resize(z.total_out);
    return out;
}

Response json_of(std::size_t bytes) {
    std::string body = "[";
    while (body.size() < bytes) body += R"({"device":"r1","job":"show_run"},)";
    body.back() = ']';
    return json_response(200, body);
}

}  // namespace

TEST_CASE("accepts_gzip reads Accept-Encoding lists and q values") {
    CHECK(accepts_gzip(accept("gzip")));
    CHECK(accepts_gzip(accept("br, GZIP;q=0.5")));
    CHECK(accepts_gzip(accept("deflate, *")));
    CHECK(accepts_gzip(accept("x-gzip")));
    CHECK_FALSE(accepts_gzip(accept("gzip;q=0")));
    CHECK_FALSE(accepts_gzip(accept("gzip; q=0.000")));
    CHECK_FALSE(accepts_gzip(accept("br, deflate")));
    CHECK_FALSE(accepts_gzip(Headers{}));
}

TEST_CASE("compress_response gzips large text answers the client accepts, and only those") {
    Response r = json_of(10'000);
    const std::string plain = r.body;
    r.headers.set("ETag", "\"abc\"");
    compress_response(r, true);
    CHECK(r.headers.get("Content-Encoding") == "gzip");
    CHECK(r.headers.get("Vary") == "Accept-Encoding");
    CHECK(r.headers.get("ETag") == "\"abc-gzip\"");
    CHECK(r.body.size() < plain.size() / 4);
    CHECK(gunzip(r.body) == plain);

    Response refused = json_of(10'000);
    compress_response(refused, false);
    CHECK_FALSE(refused.headers.contains("Content-Encoding"));
    CHECK(refused.headers.get("Vary") == "Accept-Encoding");  // a cache must tell them apart

    Response small = json_of(100);
    compress_response(small, true);
    CHECK_FALSE(small.headers.contains("Content-Encoding"));

    Response error = json_of(10'000);
    error.status = 404;
    compress_response(error, true);
    CHECK_FALSE(error.headers.contains("Content-Encoding"));

    Response binary = json_of(10'000);
    binary.content_type = "application/octet-stream";
    compress_response(binary, true);
    CHECK_FALSE(binary.headers.contains("Content-Encoding"));

    Response already = json_of(10'000);
    already.headers.set("Content-Encoding", "gzip");
    const std::string as_is = already.body;
    compress_response(already, true);
    CHECK(already.body == as_is);
}

TEST_CASE("gzip is deterministic and an incompressible body stays as it is") {
    CHECK(*gzip("hello hello hello", 1) == *gzip("hello hello hello", 1));
    std::string noise;
    std::uint32_t x = 2463534242u;
    for (int i = 0; i < 4096; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise += char(x & 0xff);
    }
    Response r = text_response(200, noise);
    compress_response(r, true);
    CHECK_FALSE(r.headers.contains("Content-Encoding"));
    CHECK(r.body == noise);
}
