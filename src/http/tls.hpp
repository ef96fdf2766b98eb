#pragma once
// TLS for the HTTP server and client: OpenSSL contexts built to one policy, loaded from
// PEM files, and a holder that swaps the server's context on reload.
//
// Policy (both sides): TLS 1.2 minimum; for 1.2 only ECDHE key exchange with AES-GCM or
// ChaCha20-Poly1305, for 1.3 OpenSSL's defaults (all AEAD); no compression; no
// renegotiation. The server prefers its own cipher order. Client certificates (mTLS) are
// required and verified when a client CA file is given.
//
// The SSL stream lives in connection.cpp and client.cpp; this header exposes Asio's
// ssl::context because both need it, so http_dep carries libssl.

#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "netkeep/status.hpp"

namespace netkeep::http {

struct TlsServerFiles {
    std::string cert;       // PEM: the server certificate, then any intermediates
    std::string key;        // PEM: its private key (unencrypted)
    std::string client_ca;  // PEM: CAs whose client certificates are accepted; empty: no mTLS
};

// What a loaded certificate says about itself, for log lines and tests.
struct CertInfo {
    std::string subject;             // one line, e.g. "CN=localhost"
    std::string sha256_fingerprint;  // "AB:CD:..." as `openssl x509 -fingerprint -sha256`
    std::string not_after;           // e.g. "Jan  1 00:00:00 2030 GMT"
};

// A server context from `files`. invalid_argument naming the file and what it should hold
// when a file cannot be read or parsed, or the key does not match the certificate.
Result<std::shared_ptr<asio::ssl::context>> make_server_context(const TlsServerFiles& files);

// The server's current context. Each new connection takes current() and keeps that
// shared_ptr for its life, so a reload never pulls a context from under a handshake.
//
// Threads: not synchronised; call reload() and current() from the server's io thread
// (netkeepd's SIGHUP handler runs there).
class TlsServerContext {
    struct Key {};  // only load() constructs one, so a holder always has a context

public:
    TlsServerContext(Key, TlsServerFiles files) : files_(std::move(files)) {}
    static Result<std::shared_ptr<TlsServerContext>> load(TlsServerFiles files);

    // Re-reads the files. On any error the old context stays in use and the error is
    // returned; on success new connections get the new context.
    Status reload();

    std::shared_ptr<asio::ssl::context> current() const { return context_; }
    const TlsServerFiles& files() const { return files_; }
    bool requires_client_cert() const { return !files_.client_ca.empty(); }
    // The current server certificate.
    const CertInfo& cert_info() const { return info_; }

private:
    TlsServerFiles files_;
    std::shared_ptr<asio::ssl::context> context_;
    CertInfo info_;
};

struct TlsClientFiles {
    std::string ca_file;  // PEM: trusted CAs; empty: the system store
    std::string cert;     // PEM: client certificate for mTLS; empty: none
    std::string key;      // PEM: its private key; set exactly when `cert` is
};

// A client context: the policy above, peer verification on, CAs from `ca_file` or the
// system store, and the client certificate if given. The server name is checked per
// connection (Client does it). invalid_argument naming the file on errors.
Result<std::shared_ptr<asio::ssl::context>> make_client_context(const TlsClientFiles& files);

// The certificate in a PEM file, described. For tests and start-up log lines.
Result<CertInfo> read_cert_info(const std::string& pem_file);

}  // namespace netkeep::http
