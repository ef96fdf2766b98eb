#include "core/event_format.hpp"

#include <fmt/format.h>

#include "core/crc32c.hpp"
#include "netkeep/event_schema.hpp"

namespace netkeep::event_format {

namespace {

void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(char(v & 0xff));
    out.push_back(char(v >> 8));
}
void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(const unsigned char* p) {
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
           std::uint32_t(p[3]) << 24;
}

// The field lists are netkeep/event_schema.hpp's: the encoder (const event) and the
// decoder (mutable event) visit the same list, so they cannot disagree about order. The
// bytes depend only on each member's C++ type, not on its kind.
struct writer {
    std::string& out;
    std::uint16_t version;

    template <field::Kind K, typename T>
    void operator()(field::Descriptor<K> f, const T& value) {
        if (version >= f.since) put(value);
    }

    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out.push_back(char((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out.push_back(char(v));
    }
    void put(std::int64_t v) { varint((std::uint64_t(v) << 1) ^ std::uint64_t(v >> 63)); }
    void put(std::uint64_t v) { varint(v); }
    void put(std::uint32_t v) { varint(v); }
    void put(const std::string& s) {
        varint(s.size());
        out += s;
    }
    void put(const std::optional<std::string>& s) {
        out.push_back(s ? 1 : 0);
        if (s) put(*s);
    }
    void put(CloseReason r) { out.push_back(char(r)); }
};

// Reads fields until the first error; afterwards every read is a no-op, and the caller
// checks ok() once. Keeps the per-field code free of error plumbing.
struct reader {
    const unsigned char* p;
    const unsigned char* end;
    std::uint16_t version;  // of the record: old versions lack the fields added since
    const char* error = nullptr;

    // A field added after the record's version is not in it: the member keeps its default.
    template <field::Kind K, typename T>
    void operator()(field::Descriptor<K> f, T& value) {
        if (version >= f.since) get(value);
    }

    bool ok() const { return error == nullptr; }
    void fail(const char* why) {
        if (!error) error = why;
        p = end;
    }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) {
                fail("payload ends inside a number");
                return 0;
            }
            unsigned char b = *p++;
            v |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        fail("number longer than 64 bits");
        return 0;
    }
    void get(std::int64_t& v) {
        std::uint64_t z = varint();
        v = std::int64_t(z >> 1) ^ -std::int64_t(z & 1);
    }
    void get(std::uint64_t& v) { v = varint(); }
    void get(std::uint32_t& v) {
        std::uint64_t z = varint();
        if (z > UINT32_MAX) fail("number out of range");
        v = std::uint32_t(z);
    }
    void get(std::string& s) {
        std::uint64_t n = varint();
        if (n > std::uint64_t(end - p)) {
            fail("string runs past the payload");
            return;
        }
        s.assign(reinterpret_cast<const char*>(p), n);
        p += n;
    }
    void get(std::optional<std::string>& s) {
        if (p == end) return fail("payload ends inside an optional");
        unsigned char flag = *p++;
        if (flag > 1) return fail("bad optional flag");
        if (flag == 0) {
            s.reset();
            return;
        }
        s.emplace();
        get(*s);
    }
    void get(CloseReason& r) {
        if (p == end) return fail("payload ends inside an enum");
        unsigned char b = *p++;
        if (b < 1 || b > 3) return fail("unknown close reason");
        r = CloseReason(b);
    }
};

template <typename T>
Result<Event> decode_payload(std::uint64_t seq, std::string_view payload, std::uint16_t version) {
    T event{};
    reader r{reinterpret_cast<const unsigned char*>(payload.data()),
             reinterpret_cast<const unsigned char*>(payload.data() + payload.size()), version};
    visit_fields(event, r);
    if (!r.ok()) return Status::corruption(fmt::format("seq {}: {}", seq, r.error));
    if (r.p != r.end)
        return Status::corruption(
            fmt::format("seq {}: {} trailing payload bytes", seq, r.end - r.p));
    return Event{std::move(event)};
}

}  // namespace

std::string encode(const Event& event) {
    std::string out;
    out.reserve(64);
    EventType type = type_of(event);
    out.push_back(char(type));
    put_u16(out, current_version(type));
    put_u32(out, 0);  // payload length, patched below
    writer w{out, current_version(type)};
    visit_fields(event, w);
    std::uint32_t len = std::uint32_t(out.size() - k_header_size);
    for (int i = 0; i < 4; ++i) out[3 + i] = char((len >> (8 * i)) & 0xff);
    put_u32(out, crc32c(out));
    return out;
}

Result<Event> decode(std::uint64_t seq, std::string_view record) {
    if (record.size() < k_header_size + k_trailer_size)
        return Status::corruption(
            fmt::format("seq {}: truncated record ({} bytes)", seq, record.size()));
    auto b = reinterpret_cast<const unsigned char*>(record.data());
    std::uint32_t len = get_u32(b + 3);
    if (std::uint64_t(len) + k_header_size + k_trailer_size != record.size())
        return Status::corruption(fmt::format("seq {}: record is {} bytes, header says {}", seq,
                                              record.size(),
                                              std::uint64_t(len) + k_header_size + k_trailer_size));
    std::uint32_t stored = get_u32(b + k_header_size + len);
    std::uint32_t actual = crc32c(record.substr(0, k_header_size + len));
    if (stored != actual) return Status::corruption(fmt::format("seq {}: checksum mismatch", seq));

    auto type = EventType(b[0]);
    std::uint16_t version = std::uint16_t(b[1] | b[2] << 8);
    std::string_view payload = record.substr(k_header_size, len);
    auto check_version = [&](EventType t) -> Status {
        if (version == 0 || version > current_version(t))
            return Status::not_supported(fmt::format(
                "seq {}: {} schema version {} is newer than this netkeep understands ({})", seq,
                event_type_name(t), version, current_version(t)));
        return Status::ok();
    };
    switch (type) {
        case EventType::inventory_applied:
        case EventType::lease_granted:
        case EventType::lease_expired:
        case EventType::completion_recorded:
        case EventType::occurrence_closed:
        case EventType::run_requested:
            if (Status s = check_version(type); !s) return s;
            break;
        default:
            return Status::not_supported(fmt::format(
                "seq {}: unknown event type {} (written by a newer netkeep?)", seq, int(b[0])));
    }
    switch (type) {
        case EventType::inventory_applied:
            return decode_payload<InventoryApplied>(seq, payload, version);
        case EventType::lease_granted:
            return decode_payload<LeaseGranted>(seq, payload, version);
        case EventType::lease_expired:
            return decode_payload<LeaseExpired>(seq, payload, version);
        case EventType::completion_recorded:
            return decode_payload<CompletionRecorded>(seq, payload, version);
        case EventType::occurrence_closed:
            return decode_payload<OccurrenceClosed>(seq, payload, version);
        case EventType::run_requested:
            return decode_payload<RunRequested>(seq, payload, version);
    }
    return Status::corruption(fmt::format("seq {}: unreachable", seq));
}

std::string encode_key(std::uint64_t seq) {
    std::string key(k_key_size, '\0');
    for (std::size_t i = 0; i < k_key_size; ++i)
        key[i] = char((seq >> (8 * (k_key_size - 1 - i))) & 0xff);
    return key;
}

Result<std::uint64_t> decode_key(std::string_view key) {
    if (key.size() != k_key_size)
        return Status::corruption(
            fmt::format("event key of {} bytes, expected {}", key.size(), k_key_size));
    std::uint64_t seq = 0;
    for (unsigned char c : key) seq = (seq << 8) | c;
    return seq;
}

}  // namespace netkeep::event_format
