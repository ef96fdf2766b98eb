#include "http/tls.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace netkeep::http {

namespace {

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only, ECDSA before RSA, AES-128 first
// (fast everywhere with AES-NI); ChaCha20 for clients without it. TLS 1.3 keeps
// OpenSSL's default suites, which are all AEAD.
constexpr const char* k_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* k_groups = "X25519:P-256:P-384";
// Client certificates are verified against the client CA through at most this many
// intermediates.
constexpr int k_verify_depth = 4;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// OpenSSL keeps a per-thread error queue; a failed call leaves its reasons there (Asio
// has taken one of them into `ec`). All of them are reported, the queue is emptied so
// the next call starts clean.
std::string openssl_error(const asio::error_code& ec) {
    std::string out = ec.message();
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        std::string text = reason ? reason : fmt::format("OpenSSL error {:x}", e);
        if (out.find(text) == std::string::npos) out += ", " + text;
    }
    return out;
}

// A readable regular file, checked first so that "no such file" reads as such instead of
// OpenSSL's "system lib".
Status check_readable(const std::string& path, std::string_view what) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f)
        return Status::invalid_argument(
            fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
    return Status::ok();
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, std::size_t(n)) : std::string();
}

CertInfo describe(X509* cert) {
    CertInfo info;
    BioPtr subject(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(subject.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    info.subject = bio_text(subject.get());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
        for (unsigned int i = 0; i < len; ++i)
            info.sha256_fingerprint += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
    }
    BioPtr not_after(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(not_after.get(), X509_get0_notAfter(cert));
    info.not_after = bio_text(not_after.get());
    return info;
}

// Loads the private key in `key_file` into `ctx`, whose certificate came from
// `cert_file`. Parsed apart from the context so that a key that is not a key and a key
// of another certificate get different messages.
Status use_key(SSL_CTX* ctx, const std::string& key_file, const std::string& cert_file,
               std::string_view what) {
    if (auto s = check_readable(key_file, what); !s) return s;
    BioPtr bio(BIO_new_file(key_file.c_str(), "r"));
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    ERR_clear_error();
    if (!key) {
        return Status::invalid_argument(
            fmt::format("{} '{}': no unencrypted PEM private key in it", what, key_file));
    }
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (!cert || X509_check_private_key(cert, key.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
        ERR_clear_error();
        return Status::invalid_argument(
            fmt::format("{} '{}' does not belong to certificate '{}'", what, key_file, cert_file));
    }
    return Status::ok();
}

// The parts of the policy both sides share.
Status apply_policy(asio::ssl::context& ctx) {
    SSL_CTX* native = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
        return Status::not_supported("cannot set the minimum TLS version");
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_cipher_list(native, k_tls12_ciphers) != 1 ||
        SSL_CTX_set1_groups_list(native, k_groups) != 1) {
        ERR_clear_error();
        return Status::not_supported(
            "this OpenSSL lacks the TLS 1.2 ciphers or groups netkeep needs");
    }
    return Status::ok();
}

}  // namespace

Result<CertInfo> read_cert_info(const std::string& pem_file) {
    if (auto s = check_readable(pem_file, "certificate"); !s) return s;
    BioPtr bio(BIO_new_file(pem_file.c_str(), "r"));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert) {
        ERR_clear_error();
        return Status::invalid_argument(
            fmt::format("certificate '{}': no PEM certificate in it", pem_file));
    }
    return describe(cert.get());
}

Result<std::shared_ptr<asio::ssl::context>> make_server_context(const TlsServerFiles& files) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    if (auto s = apply_policy(*ctx); !s) return s;
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);

    asio::error_code ec;
    if (auto s = check_readable(files.cert, "certificate"); !s) return s;
    if (ctx->use_certificate_chain_file(files.cert, ec); ec) {
        return Status::invalid_argument(
            fmt::format("certificate '{}': {}", files.cert, openssl_error(ec)));
    }
    if (auto s = use_key(native, files.key, files.cert, "private key"); !s) return s;

    if (!files.client_ca.empty()) {
        if (auto s = check_readable(files.client_ca, "client CA"); !s) return s;
        if (ctx->load_verify_file(files.client_ca, ec); ec) {
            return Status::invalid_argument(
                fmt::format("client CA '{}': {}", files.client_ca, openssl_error(ec)));
        }
        // Tells clients which CAs are accepted, so one with several certificates picks
        // the right one.
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
        if (!names) {
            ERR_clear_error();
            return Status::invalid_argument(
                fmt::format("client CA '{}': no PEM certificate in it", files.client_ca));
        }
        SSL_CTX_set_client_CA_list(native, names);
        ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        SSL_CTX_set_verify_depth(native, k_verify_depth);
    } else {
        ctx->set_verify_mode(asio::ssl::verify_none);
    }
    // Resumed sessions (tickets) must carry this context's id; with client certificates
    // OpenSSL refuses to resume without one.
    static constexpr unsigned char k_session_context[] = "netkeepd";
    SSL_CTX_set_session_id_context(native, k_session_context, sizeof k_session_context - 1);
    return ctx;
}

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::load(TlsServerFiles files) {
    auto holder = std::make_shared<TlsServerContext>(Key{}, std::move(files));
    if (auto s = holder->reload(); !s) return s;
    return holder;
}

Status TlsServerContext::reload() {
    auto ctx = make_server_context(files_);
    if (!ctx) return ctx.status();
    X509* cert = SSL_CTX_get0_certificate((*ctx)->native_handle());
    if (!cert) return Status::invalid_argument(fmt::format("certificate '{}': empty", files_.cert));
    info_ = describe(cert);
    context_ = std::move(ctx.value());
    return Status::ok();
}

Result<std::shared_ptr<asio::ssl::context>> make_client_context(const TlsClientFiles& files) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    if (auto s = apply_policy(*ctx); !s) return s;
    asio::error_code ec;
    if (files.ca_file.empty()) {
        if (ctx->set_default_verify_paths(ec); ec)
            return Status::invalid_argument(fmt::format("system CA store: {}", openssl_error(ec)));
    } else {
        if (auto s = check_readable(files.ca_file, "CA file"); !s) return s;
        if (ctx->load_verify_file(files.ca_file, ec); ec) {
            return Status::invalid_argument(
                fmt::format("CA file '{}': {}", files.ca_file, openssl_error(ec)));
        }
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);

    if (files.cert.empty() != files.key.empty())
        return Status::invalid_argument(
            "a client certificate needs its key, and a key its certificate");
    if (!files.cert.empty()) {
        if (auto s = check_readable(files.cert, "client certificate"); !s) return s;
        if (ctx->use_certificate_chain_file(files.cert, ec); ec) {
            return Status::invalid_argument(
                fmt::format("client certificate '{}': {}", files.cert, openssl_error(ec)));
        }
        if (auto s = use_key(ctx->native_handle(), files.key, files.cert, "client key"); !s)
            return s;
    }
    return ctx;
}

}  // namespace netkeep::http
