#pragma once
// sim-year's generator: a year (or any number of days) of the event log a real netkeepd
// would have written for a fleet, at full speed, through the log API. A real Projection
// is driven with the real decide_* functions on a simulated clock, so every event is one
// the server would have appended (tools/README.md, docs/operations.md#capacity-planning).

#include <cstdint>
#include <string>

#include "netkeep/events.hpp"
#include "netkeep/status.hpp"

namespace netkeep::sim {

struct GenerateOptions {
    std::string data_dir;  // netkeepd's data dir; the inventory goes to <data_dir>/inventory
    int devices = 10'000;
    int jobs = 2;  // each hourly
    int days = 365;
    double change_rate = 0.05;   // runs whose config differs from the task's last one
    double failure_rate = 0.01;  // failed attempts (retried after the job's retry delay)
    double expiry_rate = 0.001;  // leases never completed (they expire)
    double runs_per_day = 20;    // operators' run-now requests, fleet-wide
    int reloads = 6;             // inventory reloads over the period: a device added or removed
    bool git_writer = false;     // write the spool files the git writer reads
    bool hot_device = false;     // the first device's first job changes at every run
    int config_bytes = 2000;     // size of a config
    std::uint64_t seed = 1;
    unix_time end = 0;  // the simulated clock stops here (the hour before now)
    // Snapshots during generation (when the snapshot library is built): one a simulated day
    // and one at the end, thinned as netkeepd thins them; 0: none.
    std::uint64_t snapshot_every_days = 1;
};

struct GenerateReport {
    std::uint64_t events = 0;
    std::uint64_t completions = 0;
    std::uint64_t changes = 0;
    std::uint64_t failures = 0;
    std::uint64_t expiries = 0;
    std::uint64_t runs = 0;
    std::uint64_t reloads = 0;
    std::uint64_t snapshots = 0;
    std::uint64_t spool_files = 0;
    double seconds = 0;
    unix_time start = 0;
    unix_time end = 0;
};

// Writes the inventory and the log into options.data_dir, which must hold no log yet.
Result<GenerateReport> generate(const GenerateOptions& options);

// For a log generated without them (a build before the snapshot library): replays the
// log of data_dir and writes the snapshots the generator would have written (the first
// event at or after each day boundary from `start`, and the last event), thinned the
// same way. The number written; NotSupported without the snapshot library.
Result<std::uint64_t> write_snapshots_from_log(const std::string& data_dir, unix_time start);

// Whether this build writes snapshots during generation (H1's snapshot API present).
bool generator_writes_snapshots();

// The device names the generator uses: rtr-000000.example.net, ...
std::string device_name(int index);

}  // namespace netkeep::sim
