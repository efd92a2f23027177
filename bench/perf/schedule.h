// The open-loop schedule: message i is due at t0 + i / rate, whatever happened to the
// messages before it. A sender that falls behind sends late messages at once (it never
// skips or re-plans), and latency measured from the due time then includes the wait
// the late sender imposed: the correction for coordinated omission.
#pragma once

#include <time.h>

#include <cmath>
#include <cstdint>

namespace pricing::perf {

// CLOCK_MONOTONIC in nanoseconds: one clock for sender, receiver and acks, all in the
// harness's own process.
inline int64_t MonoNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class OpenLoopSchedule {
 public:
  // `rate` messages per second, > 0.
  OpenLoopSchedule(int64_t t0_ns, double rate) : t0_ns_(t0_ns), period_ns_(1e9 / rate) {}

  // Computed from i, not accumulated: no drift over billions of messages.
  int64_t IntendedNs(uint64_t i) const {
    return t0_ns_ + static_cast<int64_t>(std::llround(static_cast<double>(i) * period_ns_));
  }

  // How many messages are due at `now_ns` (those with IntendedNs(i) <= now_ns).
  uint64_t DueBy(int64_t now_ns) const {
    if (now_ns < t0_ns_) return 0;
    auto n = static_cast<uint64_t>(static_cast<double>(now_ns - t0_ns_) / period_ns_) + 1;
    // Rounding may put the estimate one off either way: settle it exactly.
    while (n > 0 && IntendedNs(n - 1) > now_ns) --n;
    while (IntendedNs(n) <= now_ns) ++n;
    return n;
  }

  int64_t t0_ns() const { return t0_ns_; }
  double period_ns() const { return period_ns_; }

 private:
  int64_t t0_ns_;
  double period_ns_;
};

}  // namespace pricing::perf
