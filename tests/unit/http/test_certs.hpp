#pragma once
// Certificates for TLS unit tests, made in-process with OpenSSL (EC P-256, valid for a
// day) and written as PEM files into a temp directory that goes away with the object.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace netkeep::testing {

struct TestKey {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
    std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, &X509_free};
};

class TestCerts {
public:
    TestCerts() {
        static std::atomic<int> counter{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("netkeep-unit-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(dir_);
    }
    ~TestCerts() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    TestCerts(const TestCerts&) = delete;
    TestCerts& operator=(const TestCerts&) = delete;

    // A CA certificate; written as NAME.crt / NAME.key.
    TestKey ca(const std::string& name) {
        TestKey k = make(name, nullptr, "critical,CA:TRUE", "critical,keyCertSign,cRLSign", "", "");
        write(name, k);
        return k;
    }
    // A leaf signed by `issuer`: `san` like "DNS:localhost,IP:127.0.0.1" (server) or
    // empty; `eku` "serverAuth" or "clientAuth".
    TestKey leaf(const std::string& name, const TestKey& issuer, const std::string& san,
                 const std::string& eku) {
        TestKey k = make(name, &issuer, "critical,CA:FALSE", "critical,digitalSignature", san, eku);
        write(name, k);
        return k;
    }

    std::string path(const std::string& file) const { return (dir_ / file).string(); }
    const std::filesystem::path& dir() const { return dir_; }

private:
    static void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
        if (value.empty()) return;
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        if (!ext) throw std::runtime_error("bad extension " + value);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }

    TestKey make(const std::string& cn, const TestKey* issuer, const std::string& basic,
                 const std::string& usage, const std::string& san, const std::string& eku) {
        static std::atomic<long> serial{1};
        TestKey k;
        k.key.reset(EVP_EC_gen("P-256"));
        k.cert.reset(X509_new());
        X509* c = k.cert.get();
        X509_set_version(c, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
        X509_gmtime_adj(X509_getm_notBefore(c), -3600);
        X509_gmtime_adj(X509_getm_notAfter(c), 86400);
        X509_set_pubkey(c, k.key.get());
        X509_NAME* name = X509_get_subject_name(c);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509* issuer_cert = issuer ? issuer->cert.get() : c;
        X509_set_issuer_name(c, X509_get_subject_name(issuer_cert));
        add_ext(c, issuer_cert, NID_basic_constraints, basic);
        add_ext(c, issuer_cert, NID_key_usage, usage);
        add_ext(c, issuer_cert, NID_subject_alt_name, san);
        add_ext(c, issuer_cert, NID_ext_key_usage, eku);
        add_ext(c, issuer_cert, NID_subject_key_identifier, "hash");
        if (issuer) add_ext(c, issuer_cert, NID_authority_key_identifier, "keyid");
        X509_sign(c, issuer ? issuer->key.get() : k.key.get(), EVP_sha256());
        return k;
    }

    void write(const std::string& name, const TestKey& k) const {
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> crt(
            std::fopen(path(name + ".crt").c_str(), "w"), &std::fclose);
        PEM_write_X509(crt.get(), k.cert.get());
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> key(
            std::fopen(path(name + ".key").c_str(), "w"), &std::fclose);
        PEM_write_PrivateKey(key.get(), k.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    }

    std::filesystem::path dir_;
};

}  // namespace netkeep::testing
