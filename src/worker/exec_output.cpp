#include "worker/exec_output.hpp"

#include <fmt/format.h>

namespace netkeep::worker {

Status ExecOutput::feed(std::string_view bytes) {
    if (strip_ansi_) {
        filtered_.clear();
        ansi_.filter(bytes, filtered_);
        bytes = filtered_;
    }
    folded_.clear();
    for (char c : bytes) {
        if (cr_pending_) {
            cr_pending_ = false;
            if (c != '\n') folded_ += '\r';
        }
        if (c == '\r') {
            cr_pending_ = true;
            continue;
        }
        folded_ += c;
    }
    return emit(folded_);
}

Status ExecOutput::finish() {
    if (!cr_pending_) return Status::ok();
    cr_pending_ = false;
    return emit("\r");
}

Status ExecOutput::emit(std::string_view bytes) {
    if (discard_ || bytes.empty()) return Status::ok();
    if (bytes.size() > max_output_ - total_)
        return Status::too_large(
            fmt::format("too large: more than {} bytes of output (--max-output)", max_output_));
    total_ += bytes.size();
    if (auto s = sink_(bytes); !s) return Status::io_error("output error: " + s.message());
    return Status::ok();
}

void FirstLine::feed(std::string_view bytes) {
    for (char c : bytes) {
        if (done_) return;
        if (c == '\n') {
            // A stream that starts with empty lines: the first line with text counts.
            done_ = !text_.empty();
            continue;
        }
        if (c == '\r') continue;
        if (text_.size() < k_max) text_ += c;
    }
}

}  // namespace netkeep::worker
