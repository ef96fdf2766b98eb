// libcurl behind include/netkeep/http_client.hpp: the only file that includes <curl/curl.h>.

#include "netkeep/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace netkeep {

namespace {

// curl_global_init is not thread-safe; every call goes through here first.
void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlList = std::unique_ptr<curl_slist, SlistDeleter>;

Status append(CurlList& list, const std::string& item) {
    curl_slist* next = curl_slist_append(list.get(), item.c_str());
    if (next == nullptr) return Status::io_error("out of memory building a request");
    list.release();
    list.reset(next);
    return Status::ok();
}

// "https://hooks.example.com/services/T000/B000/XXXX" -> "hooks.example.com": error
// texts must not carry a URL's path or query (often the secret itself).
std::string host_of(const std::string& url) {
    auto start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    auto end = url.find_first_of("/?#", start);
    std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
    if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
    return authority;
}

bool starts_with_any(std::string_view url, std::initializer_list<std::string_view> schemes) {
    std::string lower(url.substr(0, 8));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::any_of(schemes.begin(), schemes.end(),
                       [&](std::string_view s) { return std::string_view(lower).starts_with(s); });
}

struct Transfer {
    std::string* body = nullptr;
    HttpHeaders* headers = nullptr;
    std::uint64_t limit = 0;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    if (t->body->size() + n > t->limit) {
        t->too_large = true;
        return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
    }
    t->body->append(data, n);
    return n;
}

constexpr std::size_t k_max_headers = 200;

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        t->headers->clear();  // a redirect or 100-continue: keep the last response's only
        return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || t->headers->size() >= k_max_headers) return n;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    t->headers->emplace_back(std::move(name), std::string(value));
    return n;
}

// Options shared by HTTP and SMTP: timeouts, TLS, no signals (threads), protocols.
void set_common(CURL* curl, const char* protocols, std::chrono::milliseconds timeout,
                std::chrono::milliseconds connect_timeout, const std::string& ca_file,
                bool verify_tls, char* error_buffer) {
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify_tls ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify_tls ? 2L : 0L);
}

// libcurl calls it about once a second even while nothing moves: a non-zero return
// aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

void set_cancel(CURL* curl, const std::atomic<bool>* cancel) {
    if (cancel == nullptr) return;
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

Status transport_error(CURLcode rc, const char* error_buffer, const std::string& url) {
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return Status::unavailable(fmt::format("{}: cancelled", host_of(url)));
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    return Status::unavailable(fmt::format("{}: {}", host_of(url), detail));
}

}  // namespace

std::string_view HttpResponse::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (key == name) return value;
    return {};
}

Result<HttpResponse> http_request(const HttpRequest& request) {
    if (!starts_with_any(request.url, {"http://", "https://"}))
        return Status::invalid_argument("only http:// and https:// URLs are allowed");
    init_curl_once();
    CurlHandle curl(curl_easy_init());
    if (!curl) return Status::io_error("cannot create a curl handle");
    char error_buffer[CURL_ERROR_SIZE] = {};
    set_common(curl.get(), "http,https", request.timeout, request.connect_timeout, request.ca_file,
               request.verify_tls, error_buffer);
    set_cancel(curl.get(), request.cancel);

    HttpResponse response;
    Transfer transfer{&response.body, &response.headers, request.max_response};
    curl_easy_setopt(curl.get(), CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "netkeep");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
    curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl.get(), CURLOPT_ACCEPT_ENCODING, "");  // gzip, deflate as curl has them
    if (request.method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    }
    CurlList headers;
    // Without this curl sends "Expect: 100-continue" for bodies over 1 KiB and waits a second.
    if (auto s = append(headers, "Expect:"); !s.is_ok()) return s;
    for (const auto& [name, value] : request.headers)
        if (auto s = append(headers, name + ": " + value); !s.is_ok()) return s;
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());

    CURLcode rc = curl_easy_perform(curl.get());
    if (transfer.too_large)
        return Status::too_large(fmt::format("{}: answer larger than {} bytes",
                                             host_of(request.url), request.max_response));
    if (rc != CURLE_OK) return transport_error(rc, error_buffer, request.url);
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

namespace {

struct MailReader {
    std::string_view rest;
};

std::size_t on_mail_read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* reader = static_cast<MailReader*>(user);
    std::size_t n = std::min(size * count, reader->rest.size());
    std::memcpy(buffer, reader->rest.data(), n);
    reader->rest.remove_prefix(n);
    return n;
}

// RFC 5321 addresses in MAIL FROM/RCPT TO: a line break would inject commands.
bool valid_address(std::string_view address) {
    return !address.empty() && address.size() <= 254 &&
           std::none_of(address.begin(), address.end(), [](char c) {
               return static_cast<unsigned char>(c) < 0x21 || c == '<' || c == '>';
           });
}

}  // namespace

Status send_mail(const MailRequest& mail) {
    if (!starts_with_any(mail.url, {"smtp://", "smtps://"}))
        return Status::invalid_argument("only smtp:// and smtps:// URLs are allowed");
    if (!valid_address(mail.from)) return Status::invalid_argument("bad sender address");
    if (mail.to.empty()) return Status::invalid_argument("no recipient");
    init_curl_once();
    CurlHandle curl(curl_easy_init());
    if (!curl) return Status::io_error("cannot create a curl handle");
    char error_buffer[CURL_ERROR_SIZE] = {};
    set_common(curl.get(), "smtp,smtps", mail.timeout, mail.connect_timeout, mail.ca_file,
               mail.verify_tls, error_buffer);
    set_cancel(curl.get(), mail.cancel);
    curl_easy_setopt(curl.get(), CURLOPT_URL, mail.url.c_str());
    std::string from = "<" + mail.from + ">";
    curl_easy_setopt(curl.get(), CURLOPT_MAIL_FROM, from.c_str());
    CurlList recipients;
    for (const auto& to : mail.to) {
        if (!valid_address(to)) return Status::invalid_argument("bad recipient address");
        if (auto s = append(recipients, "<" + to + ">"); !s.is_ok()) return s;
    }
    curl_easy_setopt(curl.get(), CURLOPT_MAIL_RCPT, recipients.get());
    switch (mail.tls) {
        case MailRequest::Tls::none:
            curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, CURLUSESSL_NONE);
            break;
        case MailRequest::Tls::starttls_if_offered:
            curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, CURLUSESSL_TRY);
            break;
        case MailRequest::Tls::starttls_required:
            curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, CURLUSESSL_ALL);
            break;
    }
    if (!mail.user.empty()) {
        curl_easy_setopt(curl.get(), CURLOPT_USERNAME, mail.user.c_str());
        curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, mail.password.c_str());
    }
    MailReader reader{mail.message};
    curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, on_mail_read);
    curl_easy_setopt(curl.get(), CURLOPT_READDATA, &reader);
    curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(curl.get());
    if (rc != CURLE_OK) return transport_error(rc, error_buffer, mail.url);
    return Status::ok();
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
    std::string hex;
    hex.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}

}  // namespace netkeep
