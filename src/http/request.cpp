#include "http/request.hpp"

#include <fmt/format.h>

namespace netkeep::http {

asio::awaitable<Result<std::string_view>> Body::read() {
    if (done_) co_return std::string_view{};
    if (source_ == nullptr) {
        done_ = true;
        bytes_read_ = text_.size();
        co_return std::string_view(text_);
    }
    auto chunk = co_await source_->next_body_chunk();
    if (!chunk) co_return chunk;
    if (chunk->empty()) done_ = true;
    bytes_read_ += chunk->size();
    co_return chunk;
}

asio::awaitable<Result<std::string>> Body::read_all(std::uint64_t limit) {
    std::string out;
    for (;;) {
        auto chunk = co_await read();
        if (!chunk) co_return chunk.status();
        if (chunk->empty()) break;
        if (out.size() + chunk->size() > limit) {
            co_return Status::too_large(fmt::format("request body exceeds {} bytes", limit));
        }
        out.append(*chunk);
    }
    co_return out;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
    for (const auto& [k, v] : target_.query) {
        if (k == name) return std::string_view(v);
    }
    return std::nullopt;
}

std::vector<std::string_view> Request::query_params(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [k, v] : target_.query) {
        if (k == name) out.emplace_back(v);
    }
    return out;
}

std::string_view Request::capture(std::string_view name) const {
    for (const auto& [k, v] : captures_) {
        if (k == name) return v;
    }
    return {};
}

}  // namespace netkeep::http
