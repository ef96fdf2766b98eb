#pragma once
// For tests of the log's fault handling only: open_event_log with RocksDB's Env replaced,
// so that a test can fail the Nth WAL append or sync through a rocksdb::FileSystemWrapper
// (tests/unit/store/log_faults_test.cpp). Not part of include/netkeep: no production
// program can inject a fault.

#include <memory>
#include <string>

#include <rocksdb/env.h>

#include "netkeep/event_log.hpp"

namespace netkeep::store {

// `env` must outlive the log.
Result<std::unique_ptr<EventLog>> open_event_log_with_env(const std::string& path,
                                                          const EventLogOptions& options,
                                                          rocksdb::Env* env);

}  // namespace netkeep::store
