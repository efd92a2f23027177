// A processor's health, for every backend: liveness from the processing loop's
// heartbeat, and readiness evaluated every health_check_interval_seconds from what
// the transport's probe finds (connection, streams or topics, the consumer's lag) and
// the age of each city's last stored tick.
//
// Threads: Start() runs the evaluation on a thread of its own, which alone calls the
// probe (it has its own handles, with short timeouts: a round stays short without a
// quorum). The processing thread calls Beat() and Processing(); any thread calls
// readiness() and alive().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "observe/health.h"
#include "observe/liveness.h"
#include "observe/metrics.h"

namespace pricing {

// What a transport tells the health checks. Called on the monitor's thread only.
class HealthProbe {
 public:
  virtual ~HealthProbe() = default;
  // Fills the connection, the missing streams and the consumer's lag of `s`, and
  // exports what it learnt to the transport's metrics.
  virtual void Probe(HealthSnapshot* s) = 0;
};

class HealthMonitor {
 public:
  static constexpr int64_t kStallSeconds = Liveness::kStallSeconds;
  // By city: the last tick whose messages are all stored (0: none yet).
  using LastTicks = std::vector<std::pair<std::string, const std::atomic<int64_t>*>>;

  HealthMonitor(const Config& config, const Clock& clock, Metrics& metrics);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Starts evaluating; the counters behind `last_ticks` outlive Stop().
  void Start(std::unique_ptr<HealthProbe> probe, LastTicks last_ticks);
  void Stop();
  // The processing loop began (recovery is done): evaluate now, not an interval later.
  void Processing();
  // Once per turn of the processing loop.
  void Beat() { liveness_.Beat(); }
  // Active or standing by (processors sharing one consumer); evaluated at once.
  void SetRole(Role role, std::string detail);
  // Stage 2 of partitioned pricing: what holds a city's tick, "" when nothing does. A
  // city becoming held, or no longer held, is evaluated at once.
  void SetPartitionsHolding(std::string detail);

  Readiness readiness() const;  // the last evaluation (not ready before the first)
  bool alive() const { return liveness_.alive(); }

 private:
  void Loop();
  HealthSnapshot TakeSnapshot();

  const Config& config_;
  const Clock& clock_;
  Metrics& metrics_;
  std::unique_ptr<HealthProbe> probe_;
  LastTicks last_ticks_;
  Liveness liveness_;
  mutable std::mutex readiness_mu_;
  Readiness readiness_;
  Role role_ = Role::kNone;                        // under readiness_mu_
  std::string role_detail_;                        // under readiness_mu_
  std::optional<std::string> partitions_holding_;  // under readiness_mu_
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool role_changed_ = false;  // under mu_: evaluate again now (a role, or held or not)
  std::thread thread_;
};

}  // namespace pricing
