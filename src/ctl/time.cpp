#include "ctl/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>

namespace netkeep::ctl {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in(std::int64_t y, unsigned m) {
    static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : k_days[m - 1];
}

// Reads exactly n digits at text[pos..].
bool digits(std::string_view text, std::size_t& pos, std::size_t n, unsigned& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return true;
}

}  // namespace

std::string format_time(unix_time t) {
    using namespace std::chrono;
    const sys_seconds tp{seconds{t}};
    const auto day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss hms{tp - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", int(ymd.year()),
                       unsigned(ymd.month()), unsigned(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count());
}

std::optional<std::uint64_t> parse_seq(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return v;
}

Result<unix_time> parse_time(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Status::invalid_argument(fmt::format(
            "bad time '{}': {} (want e.g. 2026-11-28T03:00:00Z, 2026-11-28 or @1700000000)", text,
            why));
    };
    if (text.starts_with('@')) {
        auto rest = text.substr(1);
        bool negative = rest.starts_with('-');
        auto v = parse_seq(negative ? rest.substr(1) : rest);
        if (!v || *v > std::uint64_t(INT64_MAX)) return bad("not a number of seconds");
        return negative ? -static_cast<unix_time>(*v) : static_cast<unix_time>(*v);
    }
    std::size_t pos = 0;
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!digits(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-' ||
        !digits(text, pos, 2, mo) || pos >= text.size() || text[pos++] != '-' ||
        !digits(text, pos, 2, d))
        return bad("expected YYYY-MM-DD");
    if (mo < 1 || mo > 12) return bad("month out of range");
    if (d < 1 || d > days_in(y, mo)) return bad("day out of range");
    std::int64_t offset = 0;
    if (pos < text.size()) {
        if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')
            return bad("expected T after the date");
        ++pos;
        if (!digits(text, pos, 2, h) || pos >= text.size() || text[pos++] != ':' ||
            !digits(text, pos, 2, mi))
            return bad("expected HH:MM after the date");
        if (pos < text.size() && text[pos] == ':') {
            ++pos;
            if (!digits(text, pos, 2, s)) return bad("expected two digits of seconds");
        }
        if (h > 23 || mi > 59 || s > 59) return bad("time of day out of range");
        if (pos < text.size()) {
            char c = text[pos++];
            if (c == 'Z' || c == 'z') {
            } else if (c == '+' || c == '-') {
                unsigned oh = 0, om = 0;
                if (!digits(text, pos, 2, oh)) return bad("expected an offset +HH:MM");
                if (pos < text.size() && text[pos] == ':') ++pos;
                if (!digits(text, pos, 2, om) || oh > 23 || om > 59)
                    return bad("expected an offset +HH:MM");
                offset = (c == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
            } else {
                return bad("unexpected text after the time");
            }
            if (pos != text.size()) return bad("unexpected text after the time");
        }
    }
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
}

}  // namespace netkeep::ctl
