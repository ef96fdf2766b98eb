#include "overlay.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lossyfs {

int Overlay::read_backing(int fd, char* out, std::size_t len, std::uint64_t offset) const {
    std::size_t current = 0;
    if (offset < valid_)
        current = static_cast<std::size_t>(std::min<std::uint64_t>(len, valid_ - offset));
    std::size_t done = 0;
    while (done < current) {
        ssize_t n = ::pread(fd, out + done, current - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) break;  // shorter than recorded: the rest reads as zeros
        done += static_cast<std::size_t>(n);
    }
    std::memset(out + done, 0, len - done);
    return 0;
}

ssize_t Overlay::read(int fd, char* out, std::size_t len, std::uint64_t offset) const {
    if (offset >= size_) return 0;
    len = static_cast<std::size_t>(std::min<std::uint64_t>(len, size_ - offset));
    std::size_t done = 0;
    while (done < len) {
        std::uint64_t at = offset + done;
        std::uint64_t index = at / k_page_size;
        auto it = pages_.lower_bound(index);
        if (it != pages_.end() && it->first == index) {
            std::size_t in_page = static_cast<std::size_t>(at % k_page_size);
            std::size_t n = std::min<std::size_t>(len - done, k_page_size - in_page);
            std::memcpy(out + done, it->second->data() + in_page, n);
            done += n;
            continue;
        }
        // Clean run up to the next dirty page: one backing read.
        std::uint64_t run_end = offset + len;
        if (it != pages_.end()) run_end = std::min(run_end, it->first * k_page_size);
        std::size_t n = static_cast<std::size_t>(run_end - at);
        if (int rc = read_backing(fd, out + done, n, at); rc != 0) return rc;
        done += n;
    }
    return static_cast<ssize_t>(len);
}

Overlay::Page& Overlay::page_for_write(int fd, std::uint64_t index, int& error) {
    auto& slot = pages_[index];
    if (!slot) {
        slot = std::make_unique<Page>();
        error = read_backing(fd, slot->data(), k_page_size, index * k_page_size);
        // Bytes past the logical size are zeros whatever the backing file still holds.
        std::uint64_t start = index * k_page_size;
        if (size_ < start + k_page_size) {
            std::size_t keep = size_ > start ? static_cast<std::size_t>(size_ - start) : 0;
            std::memset(slot->data() + keep, 0, k_page_size - keep);
        }
    }
    return *slot;
}

ssize_t Overlay::write(int fd, const char* data, std::size_t len, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < len) {
        std::uint64_t at = offset + done;
        int error = 0;
        Page& page = page_for_write(fd, at / k_page_size, error);
        if (error != 0) {
            pages_.erase(at / k_page_size);
            return error;
        }
        std::size_t in_page = static_cast<std::size_t>(at % k_page_size);
        std::size_t n = std::min<std::size_t>(len - done, k_page_size - in_page);
        std::memcpy(page.data() + in_page, data + done, n);
        done += n;
    }
    size_ = std::max<std::uint64_t>(size_, offset + len);
    return static_cast<ssize_t>(len);
}

void Overlay::truncate(std::uint64_t size) {
    if (size < size_) {
        truncated_ = true;
        valid_ = std::min(valid_, size);
        std::uint64_t first_gone = (size + k_page_size - 1) / k_page_size;
        pages_.erase(pages_.lower_bound(first_gone), pages_.end());
        // The page holding the new end keeps only the bytes before it: growing the file
        // later must show zeros there, as on a real file system.
        if (size % k_page_size != 0) {
            auto it = pages_.find(size / k_page_size);
            if (it != pages_.end()) {
                std::size_t keep = static_cast<std::size_t>(size % k_page_size);
                std::memset(it->second->data() + keep, 0, k_page_size - keep);
            }
        }
    }
    size_ = size;
}

int Overlay::flush_to(int fd) const {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -errno;
    if (static_cast<std::uint64_t>(st.st_size) > valid_ &&
        ::ftruncate(fd, static_cast<off_t>(valid_)) != 0)
        return -errno;
    for (const auto& [index, page] : pages_) {
        std::uint64_t start = index * k_page_size;
        if (start >= size_) break;
        std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(k_page_size, size_ - start));
        std::size_t done = 0;
        while (done < n) {
            ssize_t w =
                ::pwrite(fd, page->data() + done, n - done, static_cast<off_t>(start + done));
            if (w < 0) {
                if (errno == EINTR) continue;
                return -errno;
            }
            done += static_cast<std::size_t>(w);
        }
    }
    if (::ftruncate(fd, static_cast<off_t>(size_)) != 0) return -errno;
    return 0;
}

}  // namespace lossyfs
