// Liveness, as /healthz reports it for every backend: alive while starting
// (connecting and recovering are bounded by their own deadlines), then alive while the
// processing loop keeps turning; a loop that has not turned for kStallSeconds is stuck,
// and restarting the process is the cure.
//
// Threads: the processing thread calls Processing() and Beat(); any thread alive().
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace pricing {

class Liveness {
 public:
  static constexpr int64_t kStallSeconds = 30;

  explicit Liveness(const Clock& clock) : clock_(clock) {}
  // The processing loop begins.
  void Processing() {
    Beat();
    since_ms_.store(clock_.NowMs(), std::memory_order_relaxed);
  }
  // Once per turn of the processing loop.
  void Beat() { heartbeat_ms_.store(clock_.NowMs(), std::memory_order_relaxed); }
  bool processing() const { return since_ms_.load(std::memory_order_relaxed) != 0; }
  int64_t processing_since_ms() const { return since_ms_.load(std::memory_order_relaxed); }
  bool alive() const {
    if (!processing()) return true;
    return clock_.NowMs() - heartbeat_ms_.load(std::memory_order_relaxed) < kStallSeconds * 1000;
  }

 private:
  const Clock& clock_;
  std::atomic<int64_t> since_ms_{0};  // 0 until the processing loop begins
  std::atomic<int64_t> heartbeat_ms_{0};
};

}  // namespace pricing
