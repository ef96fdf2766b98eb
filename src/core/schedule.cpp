#include "netkeep/schedule.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace netkeep {

namespace {

// ---------------------------------------------------------------------------------------
// Civil-date arithmetic in the proleptic Gregorian calendar (Howard Hinnant,
// "chrono-Compatible Low-Level Date Algorithms"). Own code rather than timegm/gmtime:
// pure, no TZ state, and defined for every day an int64 of seconds can reach.

struct CivilDate {
    std::int64_t year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

constexpr std::int64_t k_seconds_per_day = 86400;

// Days since 1970-01-01 of the given date.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr CivilDate civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
    const unsigned mp = (5 * doy + 2) / 153;                       // [0, 11]
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;               // [1, 31]
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;                  // [1, 12]
    return {y + (m <= 2 ? 1 : 0), m, d};
}

// 0 = Sunday; 1970-01-01 was a Thursday.
constexpr unsigned weekday_from_days(std::int64_t z) {
    return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

constexpr bool is_leap(std::int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
    constexpr std::array<unsigned, 13> k_days{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : k_days[m];
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11016).month == 2 && civil_from_days(11016).day == 29);
static_assert(weekday_from_days(0) == 4 && weekday_from_days(-1) == 3 &&
              weekday_from_days(-5) == 6);

// Division and remainder rounding toward minus infinity, so times before 1970 work.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    const std::int64_t r = a % b;
    return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}

// ---------------------------------------------------------------------------------------
// Parsing.

struct FieldSpec {
    std::string_view name;
    unsigned min;
    unsigned max;
    // Three-letter names; names[i] stands for first_named + i. Empty: the field takes none.
    std::span<const std::string_view> names;
    unsigned first_named;
};

constexpr std::array<std::string_view, 12> k_month_names{"jan", "feb", "mar", "apr", "may", "jun",
                                                         "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> k_day_names{"sun", "mon", "tue", "wed",
                                                      "thu", "fri", "sat"};

// Day-of-week runs to 7 because 7 is Sunday too (folded into bit 0 after parsing).
constexpr std::array<FieldSpec, 5> k_fields{{
    {"minute", 0, 59, {}, 0},
    {"hour", 0, 23, {}, 0},
    {"day-of-month", 1, 31, {}, 0},
    {"month", 1, 12, k_month_names, 1},
    {"day-of-week", 0, 7, k_day_names, 0},
}};

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    out += s;
    out += '"';
    return out;
}

// Reads one field's text; reports errors as "<field> field "<text>": <what>".
class FieldParser {
public:
    FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

    // Bit v set for every allowed value v.
    Result<std::bitset<60>> parse() {
        std::bitset<60> bits;
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = text_.find(',', start);
            const std::string_view item = text_.substr(
                start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
            if (item.empty()) return error("empty list item");
            Status s = parse_item(item, bits);
            if (!s) return s;
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        return bits;
    }

private:
    Status error(std::string_view what) const {
        std::string msg(spec_.name);
        msg += " field ";
        msg += quoted(text_);
        msg += ": ";
        msg += what;
        return Status::invalid_argument(std::move(msg));
    }

    std::string range_text() const {
        return std::to_string(spec_.min) + "-" + std::to_string(spec_.max);
    }

    enum class Role { value, range_end, step };

    static std::string_view role_name(Role role) {
        switch (role) {
            case Role::value:
                return "value";
            case Role::range_end:
                return "range end";
            case Role::step:
                return "step";
        }
        return "value";
    }

    // A number or (except for a step) a name at the front of `rest`, consumed and checked
    // against the field's range.
    Result<unsigned> parse_value(std::string_view& rest, Role role) const {
        std::size_t n = 0;
        if (!rest.empty() && is_digit(rest[0])) {
            while (n < rest.size() && is_digit(rest[n])) ++n;
            const std::string_view digits = rest.substr(0, n);
            rest.remove_prefix(n);
            // More than 3 digits is out of range for every field; stop before overflow.
            unsigned v = 1000;
            if (digits.size() <= 3) {
                v = 0;
                for (char c : digits) v = v * 10 + static_cast<unsigned>(c - '0');
            }
            if (role == Role::step) {
                if (v == 0) return error("step must be at least 1");
                if (v > spec_.max) {
                    return error("step " + std::string(digits) + " is out of range 1-" +
                                 std::to_string(spec_.max));
                }
            } else if (v < spec_.min || v > spec_.max) {
                return error(std::string(digits) + " is out of range " + range_text());
            }
            return v;
        }
        if (!rest.empty() && is_alpha(rest[0])) {
            while (n < rest.size() && is_alpha(rest[n])) ++n;
            const std::string_view word = rest.substr(0, n);
            rest.remove_prefix(n);
            if (role != Role::step) {
                for (std::size_t i = 0; i < spec_.names.size(); ++i)
                    if (iequals(word, spec_.names[i]))
                        return spec_.first_named + static_cast<unsigned>(i);
            }
            return error("unknown name " + quoted(word));
        }
        const std::string what(role_name(role));
        if (rest.empty()) return error("missing " + what + " at end of item");
        return error("unexpected " + quoted(rest.substr(0, 1)) + " where a " + what + " belongs");
    }

    // item := ( '*' | value [ '-' value ] ) [ '/' step ]
    // A lone value with a step ("5/10") runs to the field's maximum, as in Vixie cron.
    Status parse_item(std::string_view item, std::bitset<60>& bits) const {
        std::string_view rest = item;
        unsigned first = spec_.min;
        unsigned last = spec_.max;
        bool single = false;
        if (rest[0] == '*') {
            rest.remove_prefix(1);
        } else {
            Result<unsigned> a = parse_value(rest, Role::value);
            if (!a) return a.status();
            first = last = *a;
            single = true;
            if (!rest.empty() && rest[0] == '-') {
                rest.remove_prefix(1);
                Result<unsigned> b = parse_value(rest, Role::range_end);
                if (!b) return b.status();
                if (*b < first) {
                    return error("range " + std::to_string(first) + "-" + std::to_string(*b) +
                                 " is reversed");
                }
                last = *b;
                single = false;
            }
        }
        unsigned step = 1;
        if (!rest.empty() && rest[0] == '/') {
            rest.remove_prefix(1);
            Result<unsigned> s = parse_value(rest, Role::step);
            if (!s) return s.status();
            step = *s;
            if (single) last = spec_.max;
        }
        if (!rest.empty()) return error("unexpected " + quoted(rest) + " in item " + quoted(item));
        for (unsigned v = first; v <= last; v += step) bits.set(v);
        return Status::ok();
    }

    const FieldSpec& spec_;
    std::string_view text_;
};

struct Macro {
    std::string_view name;
    std::string_view fields;
};

constexpr std::array<Macro, 7> k_macros{{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split_fields(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_blank(s[i])) ++i;
        const std::size_t begin = i;
        while (i < s.size() && !is_blank(s[i])) ++i;
        if (i > begin) out.push_back(s.substr(begin, i - begin));
    }
    return out;
}

template <std::size_t N>
std::bitset<N> narrow(const std::bitset<60>& wide) {
    std::bitset<N> out;
    for (std::size_t i = 0; i < N; ++i) out[i] = wide[i];
    return out;
}

// True if the expression has at least one slot. Minutes, hours and months are never
// empty after parsing, and every (month, day) date falls on each weekday somewhere in
// the 400-year cycle, so only an AND of day fields whose day-of-month set has no day
// that any allowed month has (Feb counted as 29 days) can never fire.
bool can_fire(const CronSchedule& c) {
    if (c.dom_restricted && c.dow_restricted) return true;
    for (unsigned m = 1; m <= 12; ++m) {
        if (!c.months[m]) continue;
        const unsigned longest = days_in_month(2000, m);  // 2000 is a leap year
        for (unsigned d = 1; d <= longest; ++d)
            if (c.days_of_month[d]) return true;
    }
    return false;
}

bool day_matches(const CronSchedule& c, unsigned day, unsigned weekday) {
    const bool dom = c.days_of_month[day];
    const bool dow = c.days_of_week[weekday];
    return (c.dom_restricted && c.dow_restricted) ? (dom || dow) : (dom && dow);
}

// First set bit >= from, or nullopt.
template <std::size_t N>
std::optional<unsigned> next_set(const std::bitset<N>& bits, unsigned from) {
    for (unsigned i = from; i < N; ++i)
        if (bits[i]) return i;
    return std::nullopt;
}

unix_time next_cron_slot(const CronSchedule& c, unix_time t) {
    if (c.minutes.none() || c.hours.none() || c.months.none() || c.days_of_month.none() ||
        c.days_of_week.none())
        return k_no_slot;

    // Start at the first whole minute after t; floor first so negative t works.
    const std::int64_t start_minute = floor_div(t, 60) + 1;
    std::int64_t days = floor_div(start_minute, 1440);
    const auto minute_of_day = static_cast<unsigned>(start_minute - days * 1440);
    CivilDate date = civil_from_days(days);
    unsigned hour = minute_of_day / 60;
    unsigned minute = minute_of_day % 60;
    const std::int64_t last_year = date.year + 401;

    // Each step either returns or moves (date, hour, minute) forward to the earliest
    // moment that could still match, dropping to the start of the next month, day or
    // hour when the current one cannot.
    auto next_month = [&] {
        if (std::optional<unsigned> m = next_set(c.months, date.month + 1)) {
            date.month = *m;
        } else {
            ++date.year;
            date.month = *next_set(c.months, 1);
        }
        date.day = 1;
        days = days_from_civil(date.year, date.month, 1);
        hour = minute = 0;
    };
    auto next_day = [&] {
        if (date.day == days_in_month(date.year, date.month)) {
            // next_month() recomputes days from the date.
            next_month();
            return;
        }
        ++date.day;
        ++days;
        hour = minute = 0;
    };

    while (date.year <= last_year) {
        if (!c.months[date.month]) {
            next_month();
            continue;
        }
        if (!day_matches(c, date.day, weekday_from_days(days))) {
            next_day();
            continue;
        }
        const std::optional<unsigned> h = next_set(c.hours, hour);
        if (!h) {
            next_day();
            continue;
        }
        if (*h != hour) {
            hour = *h;
            minute = 0;
        }
        const std::optional<unsigned> m = next_set(c.minutes, minute);
        if (!m) {
            if (hour == 23) {
                next_day();
            } else {
                ++hour;
                minute = 0;
            }
            continue;
        }
        // Counted in minutes, which cannot overflow for any day reachable from an int64 t;
        // only the final conversion to seconds can, and then the slot is not a unix_time.
        const std::int64_t slot_minute = days * 1440 + static_cast<std::int64_t>(*h) * 60 + *m;
        if (slot_minute > k_no_slot / 60) return k_no_slot;
        return slot_minute * 60;
    }
    return k_no_slot;
}

unix_time next_interval_slot(const IntervalSchedule& s, std::string_view task_key, unix_time t) {
    const std::int64_t n = s.seconds >= 1 ? s.seconds : 1;
    const std::int64_t phase = interval_phase(task_key, n);
    // behind = (t - phase) mod n, computed without forming t - phase (it could overflow).
    const std::int64_t behind = floor_mod(floor_mod(t, n) - phase, n);
    const std::int64_t ahead = n - behind;  // in [1, n]: strictly after t
    if (t > k_no_slot - ahead) return k_no_slot;
    return t + ahead;
}

}  // namespace

Result<CronSchedule> parse_cron(std::string_view expression) {
    const std::string_view written = trim(expression);
    auto fail = [&](std::string_view what) {
        return Status::invalid_argument("cron expression " + quoted(written) + ": " +
                                        std::string(what));
    };

    std::string_view body = written;
    if (!body.empty() && body[0] == '@') {
        const Macro* found = nullptr;
        for (const Macro& m : k_macros)
            if (iequals(body, m.name)) found = &m;
        if (found == nullptr) {
            return fail(
                "unknown macro (expected @hourly, @daily, @midnight, @weekly, @monthly, "
                "@yearly or @annually)");
        }
        body = found->fields;
    }

    const std::vector<std::string_view> fields = split_fields(body);
    if (fields.size() != k_fields.size()) {
        return fail("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                    std::to_string(fields.size()));
    }

    std::array<std::bitset<60>, 5> bits;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        Result<std::bitset<60>> r = FieldParser(k_fields[i], fields[i]).parse();
        if (!r) return fail(r.status().message());
        bits[i] = *r;
    }

    CronSchedule c;
    c.minutes = narrow<60>(bits[0]);
    c.hours = narrow<24>(bits[1]);
    c.days_of_month = narrow<32>(bits[2]);
    c.months = narrow<13>(bits[3]);
    c.days_of_week = narrow<7>(bits[4]);
    if (bits[4][7]) c.days_of_week.set(0);  // 7 is Sunday too
    c.dom_restricted = fields[2][0] != '*';
    c.dow_restricted = fields[4][0] != '*';
    c.expression = std::string(written);

    if (!can_fire(c)) {
        return fail(
            "can never fire: none of the allowed months has any of the allowed days of the "
            "month");
    }
    return c;
}

bool cron_matches(const CronSchedule& c, unix_time t) {
    const std::int64_t days = floor_div(t, k_seconds_per_day);
    const auto second_of_day = static_cast<unsigned>(floor_mod(t, k_seconds_per_day));
    const CivilDate date = civil_from_days(days);
    return c.months[date.month] && day_matches(c, date.day, weekday_from_days(days)) &&
           c.hours[second_of_day / 3600] && c.minutes[second_of_day % 3600 / 60];
}

std::int64_t interval_phase(std::string_view task_key, std::int64_t interval_seconds) {
    if (interval_seconds <= 1) return 0;
    // FNV-1a 64: fixed constants, so the phase is the same on every machine and release.
    std::uint64_t h = 14695981039346656037ULL;
    for (char c : task_key) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(interval_seconds));
}

unix_time next_slot(const Schedule& schedule, std::string_view task_key, unix_time t) {
    if (const auto* cron = std::get_if<CronSchedule>(&schedule)) return next_cron_slot(*cron, t);
    return next_interval_slot(std::get<IntervalSchedule>(schedule), task_key, t);
}

}  // namespace netkeep
