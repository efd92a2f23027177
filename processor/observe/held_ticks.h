// Stage 2 of partitioned pricing, on any backend: which cities' next tick waits for a
// partition's counts past its close, said to /readyz (the check `partitions`), the
// metrics (pricing_partitions_missing, pricing_tick_held_seconds) and the log (when a
// city starts and stops being held).
//
// Threads: Report() runs on the operator's thread.
#pragma once

#include <cstdint>
#include <string>

#include "observe/health_monitor.h"
#include "observe/metrics.h"
#include "operator/pricing_operator.h"

namespace pricing {

class HeldTicksReporter {
 public:
  HeldTicksReporter(Metrics& metrics, HealthMonitor& health) : metrics_(metrics), health_(health) {}
  // At most once a second; cheap otherwise.
  void Report(const PricingOperator& op, int64_t now_ms);

 private:
  Metrics& metrics_;
  HealthMonitor& health_;
  int64_t last_report_ms_ = 0;
  std::string detail_;  // what it said last
};

}  // namespace pricing
