// known_hosts-line parsing for the inventory's pinned host keys (docs/devices.md#host-keys).
// The keys are real ones made with ssh-keygen, so a blob check that is too strict shows up.
#include <doctest/doctest.h>

#include <string>

#include "netkeep/host_key.hpp"

using namespace netkeep;

namespace {

const std::string k_ed25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIJf4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZ"
    "fLL7";
const std::string k_ecdsa256 =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBE5kCFaqmH/e"
    "rU+RosLWO65OpNUa+6A112uxSKflfUX0g/Bu2KVec237dtYreX6tamwJA79xbu8h"
    "2Mn2kFKl/fI=";
const std::string k_ecdsa384 =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBM0TkrCY57Da"
    "j+6APM96szVKjN2C4RwLH1I+5PS+juE1a+C+Au2+s4Ar9hOe7J4dZYEqo8Kh0f0X"
    "rNVBuiOngpoeQmbLHwxxsPVTzBNHNTW9rN3Sp13JHJYRH7DOcXBV4w==";
const std::string k_ecdsa521 =
    "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBACgJM05qOe1"
    "SeucdNUb09+56NAiLIGPYIR2MwNFLiKwuyBTKUQaI1P1AlHP2eQNLCeppPPD2Nq5"
    "xlhAPbHnRTl2HgHdRPZSW1LSafez508n3IEYJgWwfQNKCyAz+STOuIv7gsc6rm+7"
    "T5KtPtOIn34FAMrHTvepw5vsyUGSzyZvnK+iuA==";
const std::string k_rsa =
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCaIx+sy1yA76nCkU+ri4aRNRjdj2v1B2um"
    "xxzEhIgCs7YMhQ2YIiMZcEQ/0z9UNcSdCUUSO0B62cSGd84lsPv0CYzbOpemeTf8"
    "ISepoHHXuyv5RlfiVjbk8A7zkYIIvpmTjnUMPwhhBU/cfYZR7i4Rp43Ypg+Ud8s9"
    "ZFauCtE/mw==";

std::string error_of(std::string_view line) {
    auto k = parse_host_key_line(line);
    REQUIRE_FALSE(k.is_ok());
    CHECK(k.status().code() == Status::Code::invalid_argument);
    return k.status().message();
}

}  // namespace

TEST_CASE("a key with or without the host field, with or without a comment") {
    const HostKey want{"ssh-ed25519", k_ed25519};
    for (const std::string& line :
         {"ssh-ed25519 " + k_ed25519, "ssh-ed25519 " + k_ed25519 + " root@r1",
          "ssh-ed25519 " + k_ed25519 + " a comment with spaces",
          "[10.20.0.1]:2222 ssh-ed25519 " + k_ed25519, "10.20.0.1 ssh-ed25519 " + k_ed25519,
          "r1,10.20.0.1 ssh-ed25519 " + k_ed25519 + " comment",
          "|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 " + k_ed25519,
          "  \tssh-ed25519\t" + k_ed25519 + "  "}) {
        INFO(line);
        auto k = parse_host_key_line(line);
        REQUIRE_MESSAGE(k.is_ok(), k.status().to_string());
        CHECK(*k == want);
        CHECK(k->line() == "ssh-ed25519 " + k_ed25519);
    }
}

TEST_CASE("every supported key type") {
    for (const auto& [type, b64] :
         {std::pair{"ssh-ed25519", k_ed25519}, std::pair{"ecdsa-sha2-nistp256", k_ecdsa256},
          std::pair{"ecdsa-sha2-nistp384", k_ecdsa384},
          std::pair{"ecdsa-sha2-nistp521", k_ecdsa521}, std::pair{"ssh-rsa", k_rsa}}) {
        INFO(type);
        auto k = parse_host_key_line(std::string(type) + " " + b64);
        REQUIRE_MESSAGE(k.is_ok(), k.status().to_string());
        CHECK(k->type == type);
        CHECK(k->base64 == b64);
    }
}

TEST_CASE("malformed lines are refused with the reason") {
    CHECK(error_of("") == "must not be empty");
    CHECK(error_of("   ") == "must not be empty");
    CHECK(error_of("# a comment") == "is a comment, not a key");
    CHECK(error_of("@cert-authority *.example.net ssh-ed25519 " + k_ed25519) ==
          "'@cert-authority' lines are not supported: pin the device's own key");
    CHECK(error_of("@revoked r1 ssh-ed25519 " + k_ed25519).starts_with("'@revoked' lines"));
    // Not a type anywhere: unsupported (DSA), certificates, misspellings, a bare blob.
    const std::string not_a_line =
        "not a known_hosts line: expected '[HOST]:PORT TYPE BASE64' or 'TYPE BASE64' with TYPE "
        "one of ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, "
        "ssh-rsa";
    CHECK(error_of("ssh-dss AAAAB3NzaC1kc3MAAACBAP") == not_a_line);
    CHECK(error_of("ssh-ed25519-cert-v01@openssh.com " + k_ed25519) == not_a_line);
    CHECK(error_of("ssh-ed22519 " + k_ed25519) == not_a_line);
    CHECK(error_of(k_ed25519) == not_a_line);
    CHECK(error_of("r1 " + k_ed25519) == not_a_line);
    CHECK(error_of("ssh-ed25519") == "'ssh-ed25519' without the key data after it");
    CHECK(error_of("[r1]:22 ssh-ed25519") == not_a_line);  // the type must not be last
}

TEST_CASE("the key data must be strict base64 of a whole key of the named type") {
    const std::string bad64 = "the key data is not valid base64";
    CHECK(error_of("ssh-ed25519 " + k_ed25519.substr(0, k_ed25519.size() - 1)) == bad64);
    CHECK(error_of("ssh-ed25519 " + k_ed25519 + "=") == bad64);
    CHECK(error_of("ssh-ed25519 " + k_ed25519.substr(0, 10) + "*" + k_ed25519.substr(11)) == bad64);
    CHECK(error_of("ssh-ed25519 " + k_ed25519.substr(0, k_ed25519.size() - 4) + "AA=A") == bad64);
    // Non-zero bits after the last byte: another spelling of the same blob.
    std::string sloppy = k_ecdsa256;
    sloppy[sloppy.size() - 2] = 'J';  // "fI=" -> "fJ=": the last 2 bits are not zero
    CHECK(error_of("ecdsa-sha2-nistp256 " + sloppy) == bad64);

    // The right encoding of the wrong thing.
    CHECK(error_of("ssh-rsa " + k_ed25519) ==
          "the key data is of type 'ssh-ed25519', not 'ssh-rsa'");
    CHECK(error_of("ecdsa-sha2-nistp384 " + k_ecdsa256) ==
          "the key data is of type 'ecdsa-sha2-nistp256', not 'ecdsa-sha2-nistp384'");
    CHECK(error_of("ssh-ed25519 AAAA") == "the key data is too short to be an SSH key");
    CHECK(error_of("ssh-ed25519 c3NoLWVkMjU1MTk=") == "the key data is too short to be an SSH key");
    // "ssh-ed25519" then a 31-byte key: truncated.
    CHECK(error_of(
              "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH5f4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZfLI=") ==
          "the key data is not a complete key of its type");
    // A whole key with a byte appended.
    CHECK(error_of("ssh-ed25519 "
                   "AAAAC3NzaC1lZDI1NTE5AAAAIJf4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZfLL7AA==") ==
          "the key data has bytes after the key");
}
