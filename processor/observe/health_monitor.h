// The JetStream processor's health: liveness from the processing loop's heartbeat,
// and readiness evaluated every health_check_interval_seconds from the cluster's
// answers (connection, streams, the durable's lag) and the age of each city's last
// stored tick.
//
// Threads: Start() runs the evaluation on a thread of its own, with its own JetStream
// context (short timeouts: a round stays short without a quorum). The processing
// thread calls Beat() and Processing(); any thread calls readiness() and alive().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
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
#include "transport/nats_client.h"

namespace pricing {

class HealthMonitor {
 public:
  static constexpr int64_t kStallSeconds = Liveness::kStallSeconds;
  // By city: the last tick whose messages are all stored (0: none yet).
  using LastTicks = std::vector<std::pair<std::string, const std::atomic<int64_t>*>>;

  HealthMonitor(const Config& config, const Clock& clock, Metrics& metrics);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Starts evaluating; `client` and the counters behind `last_ticks` outlive Stop().
  void Start(const NatsClient* client, LastTicks last_ticks);
  void Stop();
  // The processing loop began (recovery is done): evaluate now, not an interval later.
  void Processing();
  // Once per turn of the processing loop.
  void Beat() { liveness_.Beat(); }

  Readiness readiness() const;  // the last evaluation (not ready before the first)
  bool alive() const { return liveness_.alive(); }

 private:
  void Loop();
  HealthSnapshot TakeSnapshot(jsCtx* js);

  const Config& config_;
  const Clock& clock_;
  Metrics& metrics_;
  const NatsClient* client_ = nullptr;
  LastTicks last_ticks_;
  Liveness liveness_;
  mutable std::mutex readiness_mu_;
  Readiness readiness_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pricing
