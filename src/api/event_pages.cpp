// Pages of GET /api/v1/events (api/event_pages.hpp).

#include "api/event_pages.hpp"

#include <algorithm>
#include <deque>
#include <utility>

#include "netkeep/event_json.hpp"

namespace netkeep::api {

Result<EventsPage> read_events_forward(const EventLog& log, const EventsQuery& q,
                                       std::uint64_t last_seq, std::uint64_t max_scan) {
    EventsPage page;
    // After retention (docs/retention.md) the log starts at first_seq: a page asked from
    // below starts there (not at the records pinned below it).
    const std::uint64_t from = std::max(q.from, log.first_seq());
    page.next = from;
    if (from > last_seq) return page;
    // Unfiltered, every event examined is returned: the scan is the page.
    const std::uint64_t span = q.filtered() ? max_scan : q.limit;
    const std::uint64_t to = std::min(last_seq, from + span - 1);  // from <= last_seq
    Status s = log.scan(from, to, [&](EventRecord&& record) {
        page.scanned += 1;
        page.next = record.seq + 1;
        if (event_matches(q, record.event)) {
            if (page.count > 0) page.events += ',';
            page.events += event_json(record);
            page.count += 1;
        }
        return page.count < q.limit;
    });
    if (!s) return s;
    return page;
}

Result<EventsPage> read_events_tail(const EventLog& log, const EventsQuery& q,
                                    std::uint64_t last_seq, std::uint64_t max_scan) {
    EventsPage page;
    // Everything below `high` (exclusive) is still to be examined.
    std::uint64_t high = std::min(q.before.value_or(last_seq + 1), last_seq + 1);
    // Unfiltered, a window of `limit` events is exactly the page; filtered, windows grow,
    // as matches may be sparse.
    std::uint64_t window = q.filtered() ? std::max<std::uint64_t>(q.limit, 256) : q.limit;
    std::vector<std::string> newest_first;
    const std::uint64_t first = log.first_seq();  // retention: nothing below but pins
    while (high > first && page.scanned < max_scan && newest_first.size() < q.limit) {
        const std::uint64_t size = std::min({window, high - first, max_scan - page.scanned});
        const std::uint64_t low = high - size;
        // The newest `need` matches of the window, oldest first (a window is read forward).
        const std::size_t need = q.limit - newest_first.size();
        std::deque<std::pair<std::uint64_t, std::string>> kept;
        Status s = log.scan(low, high - 1, [&](EventRecord&& record) {
            page.scanned += 1;
            if (!event_matches(q, record.event)) return true;
            kept.emplace_back(record.seq, event_json(record));
            if (kept.size() > need) kept.pop_front();
            return true;
        });
        if (!s) return s;
        high = low;
        for (auto it = kept.rbegin(); it != kept.rend(); ++it)
            newest_first.push_back(std::move(it->second));
        // A full page: the next one starts below its oldest event, which may lie above
        // events of this window not returned.
        if (newest_first.size() == q.limit && !kept.empty()) high = kept.front().first;
        window = std::min<std::uint64_t>(window * 4, 16384);
    }
    if (high > first) page.next_before = high;
    for (std::string& e : newest_first) {
        if (page.count > 0) page.events += ',';
        page.events += e;
        page.count += 1;
    }
    return page;
}

}  // namespace netkeep::api
