// The snapshot file format (docs/snapshots.md):
//
//   +------------------------------+  offset
//   | magic "NKSNAP\n\x1a"  8 B    |  0
//   | version u32 LE (1)           |  8
//   | flags u32 LE (bit 0: zstd)   |  12
//   | seq u64 LE                   |  16
//   | at i64 LE                    |  24
//   | tasks u64 LE                 |  32
//   | inventory_generation u64 LE  |  40
//   | event_check u32 LE           |  48
//   | reserved u32 (0)             |  52
//   | body_bytes u64 LE (raw)      |  56
//   | stored_bytes u64 LE          |  64
//   | body_crc u32 LE              |  72   CRC-32C of the stored body
//   | header_crc u32 LE            |  76   CRC-32C of bytes 0..75
//   +------------------------------+  80
//   | stored body (zstd frame)     |
//   +------------------------------+
//
// Raw body: the applied inventory files (two strings), the task count, then per task its
// state (encode_task). Integers are LEB128 varints (signed ones zigzag), strings a varint
// length then the bytes, a bool or an optional's presence one byte (0 or 1).

#include <zstd.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "core/crc32c.hpp"
#include "core/event_format.hpp"
#include "core/little_endian.hpp"
#include "netkeep/snapshot.hpp"

namespace netkeep {

namespace {

constexpr char k_magic[8] = {'N', 'K', 'S', 'N', 'A', 'P', '\n', '\x1a'};
constexpr std::uint32_t k_version = 1;
constexpr std::uint32_t k_flag_zstd = 1;
constexpr std::size_t k_header_size = 80;
constexpr int k_zstd_level = 3;

struct Writer {
    std::string& out;
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out.push_back(char((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out.push_back(char(v));
    }
    void svarint(std::int64_t v) { varint((std::uint64_t(v) << 1) ^ std::uint64_t(v >> 63)); }
    void flag(bool b) { out.push_back(b ? 1 : 0); }
    void str(std::string_view s) {
        varint(s.size());
        out += s;
    }
    void outcome(const std::optional<Outcome>& o) {
        flag(o.has_value());
        if (!o) return;
        svarint(o->at);
        varint(o->seq);
        str(o->failure);
    }
};

// Reads until the first error; afterwards every read returns a zero value and the caller
// checks ok() once. Nothing is allocated beyond what the input holds.
class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool at_end() const { return in_.empty(); }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64 && ok_; shift += 7) {
            if (in_.empty()) break;
            const auto b = std::uint8_t(in_.front());
            in_.remove_prefix(1);
            v |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        ok_ = false;
        return 0;
    }
    std::int64_t svarint() {
        const std::uint64_t v = varint();
        return std::int64_t(v >> 1) ^ -std::int64_t(v & 1);
    }
    std::uint32_t u32() {
        const std::uint64_t v = varint();
        if (v > 0xffffffffu) ok_ = false;
        return ok_ ? std::uint32_t(v) : 0;
    }
    bool flag() {
        if (in_.empty() || std::uint8_t(in_.front()) > 1) {
            ok_ = false;
            return false;
        }
        const bool b = in_.front() == 1;
        in_.remove_prefix(1);
        return b;
    }
    std::string_view view() {
        const std::uint64_t n = varint();
        if (!ok_ || n > in_.size()) {
            ok_ = false;
            return {};
        }
        std::string_view s = in_.substr(0, n);
        in_.remove_prefix(n);
        return s;
    }
    std::string str() { return std::string(view()); }
    std::optional<Outcome> outcome() {
        if (!flag()) return std::nullopt;
        Outcome o;
        o.at = svarint();
        o.seq = varint();
        o.failure = str();
        return o;
    }

private:
    std::string_view in_;
    bool ok_ = true;
};

void encode_task(Writer& w, const TaskState& t) {
    w.varint(t.device_index);
    w.varint(t.job_index);
    w.svarint(t.timestamp);
    w.svarint(t.due);
    w.varint(t.failed_attempts);
    w.flag(t.lease.has_value());
    if (t.lease) {
        w.svarint(t.lease->granted_at);
        w.svarint(t.lease->deadline);
        w.varint(t.lease->attempt);
        w.str(t.lease->worker);
        w.str(t.lease->holder);
    }
    w.flag(t.leased_once);
    w.str(t.newest_holder);
    w.flag(t.closed);
    w.str(t.changed_by);
    w.str(t.trigger);
    w.flag(t.follow_up);
    w.str(t.follow_up_changed_by);
    w.str(t.follow_up_trigger);
    w.outcome(t.last_success);
    w.outcome(t.last_failure);
    // The event log's own record encoding: versioned and checksummed like a log record.
    w.flag(t.last_completion.has_value());
    if (t.last_completion) w.str(event_format::encode(Event(*t.last_completion)));
    w.varint(t.last_completion_seq);
}

Result<TaskState> decode_task(Reader& r, const Inventory& inventory, task_id id) {
    TaskState t;
    t.device_index = r.u32();
    t.job_index = r.u32();
    const TaskSpec& spec = inventory.tasks[id];
    if (r.ok() && (t.device_index != spec.device || t.job_index != spec.job))
        return Status::corruption(fmt::format("task {} does not match the inventory's", id));
    t.timestamp = r.svarint();
    t.due = r.svarint();
    t.failed_attempts = r.u32();
    if (r.flag()) {
        Lease lease;
        lease.granted_at = r.svarint();
        lease.deadline = r.svarint();
        lease.attempt = r.u32();
        lease.worker = r.str();
        lease.holder = r.str();
        t.lease = std::move(lease);
    }
    t.leased_once = r.flag();
    t.newest_holder = r.str();
    t.closed = r.flag();
    t.changed_by = r.str();
    t.trigger = r.str();
    t.follow_up = r.flag();
    t.follow_up_changed_by = r.str();
    t.follow_up_trigger = r.str();
    t.last_success = r.outcome();
    t.last_failure = r.outcome();
    const bool has_completion = r.flag();
    const std::string_view completion = has_completion ? r.view() : std::string_view();
    t.last_completion_seq = r.varint();
    if (!r.ok()) return Status::corruption(fmt::format("task {} is truncated or malformed", id));
    if (has_completion) {
        auto event = event_format::decode(t.last_completion_seq, completion);
        if (!event) return event.status();
        auto* c = std::get_if<CompletionRecorded>(&*event);
        if (!c)
            return Status::corruption(fmt::format("task {}: last completion of another type", id));
        t.last_completion = std::move(*c);
    }
    return t;
}

// zstd, growing the output only as the frame really produces it: a header that claims a
// huge body allocates nothing until the compressed bytes deliver it.
Result<std::string> decompress(std::string_view stored, std::uint64_t raw_bytes) {
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!ctx) return Status::unavailable("zstd: out of memory");
    std::string out;
    ZSTD_inBuffer in{stored.data(), stored.size(), 0};
    std::size_t done = 0;
    for (;;) {
        const std::size_t chunk =
            std::size_t(std::min<std::uint64_t>(raw_bytes - done + 1, 1 << 20));
        out.resize(done + chunk);
        ZSTD_outBuffer o{out.data() + done, chunk, 0};
        const std::size_t rc = ZSTD_decompressStream(ctx.get(), &o, &in);
        if (ZSTD_isError(rc))
            return Status::corruption(fmt::format("body: {}", ZSTD_getErrorName(rc)));
        done += o.pos;
        if (done > raw_bytes) return Status::corruption("body is longer than its header says");
        if (rc == 0) break;  // frame complete
        if (in.pos == in.size && o.pos < chunk)
            return Status::corruption("body is truncated (zstd frame incomplete)");
    }
    if (in.pos != in.size) return Status::corruption("bytes after the body's zstd frame");
    if (done != raw_bytes) return Status::corruption("body is shorter than its header says");
    out.resize(done);
    return out;
}

Result<std::shared_ptr<const InventoryIndex>> decode_inventory(const InventoryFiles& files,
                                                               std::uint64_t generation) {
    if (generation == 0) {
        if (!files.devices_json.empty() || !files.jobs_json.empty())
            return Status::corruption("inventory files without an inventory generation");
        return InventoryIndex::build(Inventory{});
    }
    // Exactly as Projection::apply parses an InventoryApplied.
    auto parsed =
        parse_inventory(files, InventoryLoadOptions{.resolve_secrets = false, .secrets_dir = {}});
    if (!parsed)
        return Status::corruption(
            fmt::format("applied inventory does not load: {}", parsed.status().message()));
    return InventoryIndex::build(std::move(*parsed));
}

Result<Projection> decode_body(std::string_view raw, const SnapshotHeader& h) {
    Reader r(raw);
    InventoryFiles files;
    files.devices_json = r.str();
    files.jobs_json = r.str();
    const std::uint64_t count = r.varint();
    if (!r.ok()) return Status::corruption("body is truncated before the tasks");
    if (count != h.tasks)
        return Status::corruption(fmt::format("body has {} tasks, header {}", count, h.tasks));
    auto index = decode_inventory(files, h.inventory_generation);
    if (!index) return index.status();
    const Inventory& inventory = (*index)->inventory();
    if (count != inventory.tasks.size())
        return Status::corruption(fmt::format("{} task states for an inventory of {} tasks", count,
                                              inventory.tasks.size()));
    std::vector<TaskState> tasks;
    tasks.reserve(count);  // bounded: the inventory, parsed from the body, has as many
    for (task_id id = 0; id < count; ++id) {
        auto t = decode_task(r, inventory, id);
        if (!t) return t.status();
        tasks.push_back(std::move(*t));
    }
    if (!r.at_end()) return Status::corruption("bytes after the last task");
    return Projection::restore(h.seq, h.inventory_generation, std::move(files), std::move(*index),
                               std::move(tasks));
}

Result<SnapshotHeader> decode_header(std::string_view bytes, std::uint64_t* raw_bytes,
                                     std::uint64_t* stored_bytes, std::uint32_t* body_crc) {
    if (bytes.size() < k_header_size)
        return Status::corruption(fmt::format("{} bytes: shorter than a header", bytes.size()));
    if (std::memcmp(bytes.data(), k_magic, sizeof k_magic) != 0)
        return Status::corruption("not a netkeep snapshot (bad magic)");
    if (crc32c(bytes.substr(0, k_header_size - 4)) != get_le(bytes, 76, 4))
        return Status::corruption("header checksum mismatch");
    const auto version = std::uint32_t(get_le(bytes, 8, 4));
    if (version != k_version)
        return Status::not_supported(
            fmt::format("snapshot version {} (this build reads {})", version, k_version));
    if (get_le(bytes, 12, 4) != k_flag_zstd)
        return Status::not_supported("snapshot flags this build does not know");
    SnapshotHeader h;
    h.seq = get_le(bytes, 16, 8);
    h.at = std::int64_t(get_le(bytes, 24, 8));
    h.tasks = get_le(bytes, 32, 8);
    h.inventory_generation = get_le(bytes, 40, 8);
    h.event_check = std::uint32_t(get_le(bytes, 48, 4));
    *raw_bytes = get_le(bytes, 56, 8);
    *stored_bytes = get_le(bytes, 64, 8);
    *body_crc = std::uint32_t(get_le(bytes, 72, 4));
    if (*raw_bytes > k_snapshot_max_body)
        return Status::corruption(fmt::format("body of {} bytes is over the limit", *raw_bytes));
    return h;
}

}  // namespace

std::uint32_t snapshot_event_check(const Event& event) {
    // The record's own checksum (its trailer): a CRC over the whole record, trailer
    // included, would be the same constant for every record.
    const std::string record = event_format::encode(event);
    const auto crc = std::uint32_t(get_le(record, record.size() - event_format::k_trailer_size, 4));
    return crc == 0 ? 1 : crc;
}

std::string encode_snapshot(const Projection& p, unix_time at, std::uint32_t event_check) {
    std::string raw;
    Writer w{raw};
    w.str(p.applied_files().devices_json);
    w.str(p.applied_files().jobs_json);
    w.varint(p.task_count());
    for (task_id id = 0; id < p.task_count(); ++id) encode_task(w, p.task(id));

    std::string out(k_header_size, '\0');
    out.resize(k_header_size + ZSTD_compressBound(raw.size()));
    const std::size_t stored = ZSTD_compress(out.data() + k_header_size, out.size() - k_header_size,
                                             raw.data(), raw.size(), k_zstd_level);
    // Compressing into a buffer of ZSTD_compressBound bytes cannot fail.
    out.resize(k_header_size + (ZSTD_isError(stored) ? 0 : stored));
    std::string header(k_magic, sizeof k_magic);
    put_le(header, k_version, 4);
    put_le(header, k_flag_zstd, 4);
    put_le(header, p.last_seq(), 8);
    put_le(header, std::uint64_t(at), 8);
    put_le(header, p.task_count(), 8);
    put_le(header, p.inventory_generation(), 8);
    put_le(header, event_check, 4);
    put_le(header, 0, 4);
    put_le(header, raw.size(), 8);
    put_le(header, out.size() - k_header_size, 8);
    put_le(header, crc32c(std::string_view(out).substr(k_header_size)), 4);
    put_le(header, crc32c(header), 4);
    out.replace(0, k_header_size, header);
    return out;
}

Result<SnapshotHeader> decode_snapshot_header(std::string_view bytes) {
    std::uint64_t raw = 0, stored = 0;
    std::uint32_t crc = 0;
    return decode_header(bytes, &raw, &stored, &crc);
}

Result<Projection> decode_snapshot(std::string_view bytes, SnapshotHeader* header) {
    std::uint64_t raw_bytes = 0, stored_bytes = 0;
    std::uint32_t body_crc = 0;
    auto h = decode_header(bytes, &raw_bytes, &stored_bytes, &body_crc);
    if (!h) return h.status();
    const std::string_view stored = bytes.substr(k_header_size);
    if (stored.size() != stored_bytes)
        return Status::corruption(fmt::format("body is {} bytes, header says {} (truncated?)",
                                              stored.size(), stored_bytes));
    if (crc32c(stored) != body_crc) return Status::corruption("body checksum mismatch");
    auto raw = decompress(stored, raw_bytes);
    if (!raw) return raw.status();
    auto p = decode_body(*raw, *h);
    if (!p) return p.status();
    if (header) *header = *h;
    return p;
}

}  // namespace netkeep
