// Fuzz target: syslog messages and their TCP framing (src/syslog/message), and every
// built-in platform's "syslog" patterns (src/syslog/trigger), on what any host on the
// network may send netkeepd --syslog-listen.
//
// Input: [split seed][mode] bytes of a TCP stream (or one datagram)...
//   mode bit 0: a small frame limit (64 bytes) to reach the limit paths quickly.
//
// Checks (syslog/message.hpp, syslog/trigger.hpp): cutting the stream anywhere changes
// neither the frames nor whether the stream went bad; a frame is never longer than the
// limit and buffering stays within it; once bad, nothing more is framed; every view a parsed
// message holds lies inside the bytes parsed, its priority is -1 or in [0, 191] and its
// hostname is printable ASCII; a user name taken from a match is at most k_max_user bytes
// of printable ASCII without ','.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "netkeep/inventory.hpp"
#include "netkeep/platform.hpp"
#include "syslog/message.hpp"
#include "syslog/trigger.hpp"

namespace sl = netkeep::syslog;
using netkeep::fuzz::Chunker;

namespace {

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

const std::vector<sl::PatternSet>& all_patterns() {
    static const std::vector<sl::PatternSet> sets = [] {
        std::vector<sl::PatternSet> out;
        for (const netkeep::BuiltinPlatform& p : netkeep::builtin_platforms()) {
            auto spec = netkeep::parse_platform_definition(p.name, p.json);
            if (!spec) continue;
            auto set = sl::PatternSet::compile(spec->syslog);
            FUZZ_CHECK(set.is_ok());
            out.push_back(std::move(*set));
        }
        return out;
    }();
    return sets;
}

void check_message(std::string_view bytes) {
    const sl::Message m = sl::parse_message(bytes);
    FUZZ_CHECK(inside(m.text, bytes));
    FUZZ_CHECK(inside(m.hostname, bytes));
    FUZZ_CHECK(inside(m.app, bytes));
    FUZZ_CHECK(m.priority >= -1 && m.priority <= 191);
    for (char c : m.hostname) FUZZ_CHECK(c > 0x20 && c < 0x7f);
    for (const sl::PatternSet& set : all_patterns()) {
        std::string user;
        if (!set.match(m.text, user)) continue;
        FUZZ_CHECK(user.size() <= sl::k_max_user);
        for (char c : user) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != ',');
    }
}

struct framed {
    std::vector<std::string> frames;
    bool bad = false;
};

framed frame(std::string_view stream, std::uint8_t seed, std::size_t max) {
    sl::Framer framer(max);
    framed out;
    auto sink = [&](std::string_view f) {
        FUZZ_CHECK(!out.bad);
        FUZZ_CHECK(f.size() <= max);
        out.frames.emplace_back(f);
    };
    Chunker chunks(stream, seed);
    while (!chunks.done()) {
        const bool ok = framer.feed(chunks.next(), sink);
        FUZZ_CHECK(ok == !framer.bad());
        // The count's digits (at most 20 of a u64 beyond the limit are refused early).
        FUZZ_CHECK(framer.buffered() <= max);
        if (!ok) out.bad = true;
    }
    framer.finish(sink);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t seed = data[0];
    const std::size_t max = (data[1] & 1) ? 64 : sl::k_max_frame;
    const std::string stream(netkeep::fuzz::as_text(data + 2, size - 2));

    check_message(stream);  // as one datagram
    const framed whole = frame(stream, 0xff, max);
    const framed cut = frame(stream, seed, max);
    FUZZ_CHECK(whole.bad == cut.bad);
    FUZZ_CHECK(whole.frames == cut.frames);
    for (const std::string& f : whole.frames) check_message(f);
    return 0;
}
