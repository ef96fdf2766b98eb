#pragma once
// Notifications as a durable consumer of the event log (docs/notifications.md).
//
// One thread per target ("netkeep-notify"), each reading the log in order from its own
// cursor (meta "consumer.notify.<target>.cursor") and never past the git writer's durable
// cursor (meta "gitwriter.cursor"): a config change is known only once the writer's record
// of it ("gitwriter.applied.<seq>") is durable. A target's cursor, with its failure counts
// (meta "consumer.notify.<target>.failures"), is written in one batch after the
// notifications of the events it covers were delivered: at least once, and a kill -9
// repeats at most the notifications of one event per target (the one in flight).
// A target that is down retries with doubling backoff on its own thread: it delays only
// its own deliveries, never ingest, the git writer or another target.
//
// Threads: configure(), stop() and health() from any thread. The targets' threads read the
// log, its meta and the repository (RepoReader is thread-safe), and write only their own
// meta keys.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "netkeep/consumer.hpp"
#include "netkeep/event_log.hpp"
#include "netkeep/inventory.hpp"
#include "notify/config.hpp"
#include "notify/deliver.hpp"
#include "notify/select.hpp"

namespace netkeep::notify {

// The tags and groups of the inventory in force, for rules that filter on them.
using DeviceMap = std::unordered_map<std::string, DeviceInfo>;
// Empty (nullptr) unless `config` has a rule with tags or groups.
std::shared_ptr<const DeviceMap> device_map(const NotifyConfig& config, const Inventory& inventory);

// The meta key of a target's failure counts (FailureState::encode()).
std::string failures_key(std::string_view target);
// "notify.<target>": the consumer's name (ConsumerHealth::name, the cursor key).
std::string consumer_name(std::string_view target);

struct NotifyEngineOptions {
    // <data-dir>/repo.git, for the diffs; empty (no git writer): no config_changed, and the
    // targets follow the log itself.
    std::string repo_path;
    std::chrono::milliseconds poll{250};  // how long one wait for new events sleeps
    std::chrono::milliseconds retry_first{std::chrono::seconds(1)};
    std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
    // A notification the target refuses for good (DeliveryResult::permanent) is dropped
    // after this many attempts.
    std::uint32_t permanent_attempts = 3;
    std::size_t batch = 256;  // events read at once
    Deliver deliver = notify::deliver;
    std::function<unix_time()> now;  // unset: the system clock
};

class NotifyEngine {
public:
    NotifyEngine(EventLog& log, NotifyEngineOptions options);
    ~NotifyEngine();
    NotifyEngine(const NotifyEngine&) = delete;
    NotifyEngine& operator=(const NotifyEngine&) = delete;

    // Installs a configuration (nullptr: none) and the devices' tags and groups: threads
    // of targets no longer listed stop (a delivery in flight is cancelled); a target listed
    // again starts once its old thread ended; new targets start at the end of what the git
    // writer applied (not at the start of the log).
    void configure(std::shared_ptr<const NotifyConfig> config,
                   std::shared_ptr<const DeviceMap> devices);
    // Stops every target's thread: a delivery in flight is cancelled (within about a
    // second) unless it completes first; a cancelled one is made again after a restart.
    void stop();
    std::vector<ConsumerHealth> health() const;

    struct Runner;  // one target's thread and health (engine.cpp)
    struct Shared;  // what the targets' threads share (engine.cpp)

private:
    void reap_finished();

    std::shared_ptr<Shared> shared_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Runner>> runners_;
    std::vector<std::unique_ptr<Runner>> retired_;  // stopping; joined later
};

}  // namespace netkeep::notify
