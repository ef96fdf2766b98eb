#include <doctest/doctest.h>

#include <string>

#include "netkeep/sha256.hpp"

using namespace netkeep;

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 gives the same digest however the input is split") {
    std::string data;
    for (int i = 0; i < 300; ++i) data.push_back(char(i * 7));
    std::string whole = sha256_hex(data);
    for (std::size_t split = 0; split <= data.size(); ++split) {
        Sha256 h;
        h.update(std::string_view(data).substr(0, split));
        h.update(std::string_view(data).substr(split));
        auto d = h.finish();
        CHECK(to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())) == whole);
    }
}
