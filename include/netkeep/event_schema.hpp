#pragma once
// The schema of the events: each event's fields, in record order, with their names and
// kinds. This one list drives the record encoder and decoder (src/core/event_format.cpp),
// the JSON of an event (event_json.hpp: GET /api/v1/events and `netkeepctl log --json`)
// and netkeepctl's text line (src/ctl/event_text.cpp), so that a new field is one line
// here and the outputs cannot disagree with the log. docs/event-log.md shows the result.
//
// A kind says how the outputs show a field; the record encoding depends only on the
// member's C++ type (varint, zigzag varint, length-prefixed bytes, flag + value, byte):
//
//   kind           member                      JSON                       text
//   time           unix_time                   integer unix seconds       ISO 8601, UTC
//   integer        unsigned integer            number                     decimal
//   text           std::string                 string                     key=value, quoted
//   text_if_set    std::string                 string; left out if empty  left out if empty
//   optional_text  std::optional<std::string>  string, or null if absent  left out if absent
//   sha256         std::string, 32 raw bytes   lowercase hex string       lowercase hex
//   enumerated     CloseReason                 its name ("succeeded")     its name
//   document       std::string (may hold       {"size":N,"sha256":"hex"}  NAME_bytes=N
//                  secrets: never shown)                                  NAME_sha256=hex
//
// A visitor is called as v(descriptor, member) for each field; the JSON and text writers
// overload on the descriptor's type, so a kind given to a member of the wrong C++ type
// does not compile.
//
// `since` is the schema version of the event type that added the field: a record of an
// older version lacks it and decodes with the member's default. Adding a field means
// appending it with the next version as `since` and bumping current_version() in
// src/core/event_format.hpp (the log is kept forever; old records must still decode).

#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

#include "netkeep/events.hpp"

namespace netkeep {

namespace field {

enum class Kind : std::uint8_t {
    time,
    integer,
    text,
    text_if_set,
    optional_text,
    sha256,
    enumerated,
    document,
};

template <Kind K>
struct Descriptor {
    std::string_view name;
    std::uint16_t since = 1;  // the event type's schema version that added this field
};

using time = Descriptor<Kind::time>;
using integer = Descriptor<Kind::integer>;
using text = Descriptor<Kind::text>;
using text_if_set = Descriptor<Kind::text_if_set>;
using optional_text = Descriptor<Kind::optional_text>;
using sha256 = Descriptor<Kind::sha256>;
using enumerated = Descriptor<Kind::enumerated>;
using document = Descriptor<Kind::document>;

// E is T or const T: the encoder and the outputs visit a const event, the decoder fills
// a mutable one, and both go through the same list.
template <typename E, typename T>
concept event_of = std::same_as<std::remove_const_t<E>, T>;

}  // namespace field

// Every event starts with `at` (netkeepctl's text line shows it as its time column).
template <field::event_of<InventoryApplied> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::document{"devices_json"}, e.devices_json);
    v(field::document{"jobs_json"}, e.jobs_json);
}

template <field::event_of<LeaseGranted> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::text{"device"}, e.device);
    v(field::text{"job"}, e.job);
    v(field::time{"timestamp"}, e.timestamp);
    v(field::time{"deadline"}, e.deadline);
    v(field::integer{"attempt"}, e.attempt);
    v(field::text{"worker"}, e.worker);
    // Version 1 was written before tokens existed; empty when granted without tokens.
    v(field::text_if_set{"holder", 2}, e.holder);
}

template <field::event_of<LeaseExpired> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::text{"device"}, e.device);
    v(field::text{"job"}, e.job);
    v(field::time{"timestamp"}, e.timestamp);
}

template <field::event_of<CompletionRecorded> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::text{"device"}, e.device);
    v(field::text{"job"}, e.job);
    v(field::time{"job_timestamp"}, e.job_timestamp);
    v(field::time{"start_timestamp"}, e.start_timestamp);
    v(field::time{"end_timestamp"}, e.end_timestamp);
    v(field::optional_text{"failure"}, e.failure);
    v(field::integer{"size"}, e.size);
    v(field::sha256{"sha256"}, e.sha256);
    v(field::text{"spool"}, e.spool);
    v(field::text{"worker"}, e.worker);
    // Version 2 (issue 14): the run-now this completion answers; empty without one.
    v(field::text_if_set{"changed_by", 2}, e.changed_by);
    v(field::text_if_set{"trigger", 2}, e.trigger);
}

template <field::event_of<OccurrenceClosed> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::text{"device"}, e.device);
    v(field::text{"job"}, e.job);
    v(field::time{"timestamp"}, e.timestamp);
    v(field::enumerated{"reason"}, e.reason);
}

template <field::event_of<RunRequested> E, typename Visitor>
void visit_fields(E& e, Visitor& v) {
    v(field::time{"at"}, e.at);
    v(field::text{"device"}, e.device);
    v(field::text{"job"}, e.job);
    v(field::time{"timestamp"}, e.timestamp);
    v(field::text{"requested_by"}, e.requested_by);
    // Version 2 (issue 14): empty for an operator's run-now.
    v(field::text_if_set{"changed_by", 2}, e.changed_by);
    v(field::text_if_set{"trigger", 2}, e.trigger);
}

// The fields of whichever event `event` holds.
template <typename Visitor>
void visit_fields(const Event& event, Visitor& v) {
    std::visit([&](const auto& e) { visit_fields(e, v); }, event);
}

}  // namespace netkeep
