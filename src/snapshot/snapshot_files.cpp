// Snapshot files in their directory: naming, atomic writes, verified loads, thinning.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "netkeep/durable.hpp"
#include "netkeep/logger.hpp"
#include "netkeep/snapshot.hpp"

namespace netkeep {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_prefix = "snap-";
constexpr std::string_view k_suffix = ".nks";
constexpr std::size_t k_seq_digits = 20;
constexpr std::size_t k_header_read = 80;

std::optional<std::uint64_t> seq_of_name(std::string_view name) {
    if (name.size() != k_prefix.size() + k_seq_digits + k_suffix.size()) return std::nullopt;
    if (!name.starts_with(k_prefix) || !name.ends_with(k_suffix)) return std::nullopt;
    const std::string_view digits = name.substr(k_prefix.size(), k_seq_digits);
    std::uint64_t seq = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return seq;
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// At most `limit` bytes of path (the whole file when limit is 0); a larger file is refused
// when `whole`.
Result<std::string> read_bounded(const std::string& path, std::uint64_t limit, bool whole) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) return Status::io_error(fmt::format("{}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode))
        return Status::io_error(fmt::format("{}: not a regular file", path));
    const auto size = std::uint64_t(st.st_size);
    if (whole && size > limit)
        return Status::too_large(fmt::format("{}: {} bytes is over the limit", path, size));
    std::string out(std::min(size, limit), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::read(f.fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::io_error(fmt::format("{}: {}", path, std::strerror(errno)));
        if (n == 0) break;
        done += std::size_t(n);
    }
    out.resize(done);
    return out;
}

}  // namespace

std::string snapshot_file_name(std::uint64_t seq) {
    return fmt::format("{}{:020}{}", k_prefix, seq, k_suffix);
}

std::vector<SnapshotInfo> list_snapshots(const std::string& dir) {
    std::vector<SnapshotInfo> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto seq = seq_of_name(it->path().filename().string());
        if (!seq) continue;
        std::error_code size_ec;
        const auto bytes = it->file_size(size_ec);
        out.push_back({it->path().string(), *seq, 0, size_ec ? 0 : std::uint64_t(bytes)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq > b.seq; });
    return out;
}

Result<SnapshotInfo> write_snapshot(const std::string& dir, const Projection& p, unix_time at,
                                    std::uint32_t event_check) {
    if (Status s = create_directories_durably(dir); !s) return s;
    const std::string bytes = encode_snapshot(p, at, event_check);
    const std::string path = (fs::path(dir) / snapshot_file_name(p.last_seq())).string();
    // Temp file, fsync, rename, fsync of the directory: a crash leaves the old set of
    // snapshots or the new one, never a partial file under a snapshot's name.
    if (Status s = write_file_durably(path, bytes, {.mode = 0640, .keep_owner = false}); !s)
        return s;
    return SnapshotInfo{path, p.last_seq(), at, bytes.size()};
}

Result<Projection> load_snapshot(const std::string& path, SnapshotHeader* header) {
    auto bytes = read_bounded(path, k_snapshot_max_file, true);
    if (!bytes) return bytes.status();
    return decode_snapshot(*bytes, header);
}

Result<SnapshotHeader> read_snapshot_header(const std::string& path) {
    auto bytes = read_bounded(path, k_header_read, false);
    if (!bytes) return bytes.status();
    return decode_snapshot_header(*bytes);
}

std::optional<LoadedSnapshot> load_newest_snapshot(const std::string& dir, std::uint64_t max_seq,
                                                   unix_time max_at, const SnapshotCheck& accept) {
    auto skip = [](const SnapshotInfo& info, const Status& why) {
        log_line(LogLevel::warn, "snapshot.skipped",
                 {{"path", info.path}, {"error", why.to_string()}});
    };
    for (SnapshotInfo& info : list_snapshots(dir)) {
        if (info.seq > max_seq) continue;
        // The header first: a snapshot after max_at is not read whole.
        auto header = read_snapshot_header(info.path);
        if (!header) {
            skip(info, header.status());
            continue;
        }
        if (header->at > max_at) continue;
        if (accept)
            if (Status s = accept(*header); !s) {
                skip(info, s);
                continue;
            }
        SnapshotHeader h;
        auto p = load_snapshot(info.path, &h);
        if (!p) {
            skip(info, p.status());
            continue;
        }
        if (h.seq != info.seq) {
            skip(info, Status::corruption(fmt::format("holds seq {}, not its name's", h.seq)));
            continue;
        }
        info.at = h.at;
        return LoadedSnapshot{std::move(info), h, std::move(*p)};
    }
    return std::nullopt;
}

SnapshotCheck snapshot_matches_log(const EventLog& log) {
    return [&log](const SnapshotHeader& h) -> Status {
        const std::uint64_t last = log.last_seq();
        if (h.seq > last)
            return Status::conflict(
                fmt::format("snapshot at seq {} is ahead of the log, which ends at seq {} (a log "
                            "restored from an older backup, or another log)",
                            h.seq, last));
        if (h.event_check == 0 || h.seq == 0 || h.seq < log.first_seq()) return Status::ok();
        std::optional<std::uint32_t> check;
        Status s = log.scan(h.seq, h.seq, [&](EventRecord&& r) {
            check = snapshot_event_check(r.event);
            return false;
        });
        if (!s) return s;
        if (check && *check != h.event_check)
            return Status::conflict(
                fmt::format("the log's event at seq {} is not the snapshot's: another log", h.seq));
        return Status::ok();
    };
}

Status thin_snapshots(const std::string& dir, int keep_days, unix_time now) {
    constexpr unix_time k_day = 86400;
    constexpr std::size_t k_keep_newest = 3;
    const unix_time horizon = now - unix_time(std::max(keep_days, 0)) * k_day;
    std::vector<SnapshotInfo> all = list_snapshots(dir);
    std::vector<std::optional<unix_time>> at(all.size());
    // The first (lowest seq) snapshot of each UTC day: `all` is newest first, so the last
    // one seen per day wins.
    std::map<unix_time, std::size_t> first_of_day;
    for (std::size_t i = 0; i < all.size(); ++i) {
        auto header = read_snapshot_header(all[i].path);
        if (!header) continue;
        at[i] = header->at;
        const unix_time day =
            header->at >= 0 ? header->at / k_day : (header->at - k_day + 1) / k_day;
        first_of_day[day] = i;
    }
    Status result = Status::ok();
    for (std::size_t i = k_keep_newest; i < all.size(); ++i) {
        bool keep = false;
        if (at[i] && *at[i] >= horizon) {
            const unix_time a = *at[i];
            const unix_time day = a >= 0 ? a / k_day : (a - k_day + 1) / k_day;
            keep = first_of_day[day] == i;
        }
        if (keep) continue;
        std::error_code ec;
        fs::remove(all[i].path, ec);
        if (ec && result)
            result = Status::io_error(fmt::format("{}: {}", all[i].path, ec.message()));
    }
    // Temp files of a write a crash interrupted (write_file_durably names them
    // <name>.tmp-<pid>); this thread is the directory's only writer.
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with(k_prefix) && name.find(".nks.tmp-") != std::string::npos &&
            name.find(fmt::format(".tmp-{}", ::getpid())) == std::string::npos) {
            std::error_code rm;
            fs::remove(it->path(), rm);
        }
    }
    if (Status s = sync_directory(dir); !s && result) result = s;
    return result;
}

}  // namespace netkeep
