// The environment's notion of time, injected so that the core and its tests never
// read clocks directly. Implementations must be safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace pricing {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (UTC).
  virtual int64_t NowMs() const = 0;
  // Monotonic nanoseconds from an arbitrary origin, for measuring durations.
  virtual int64_t MonotonicNs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to; for tests and deterministic replays.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 0) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_; }
  int64_t MonotonicNs() const override { return now_ms_ * 1'000'000; }
  void SetMs(int64_t now_ms) { now_ms_ = now_ms; }

 private:
  int64_t now_ms_;
};

// Monotonic milliseconds, for deadlines and timeouts inside adapters.
inline int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Floor division for possibly negative times: bucket of `ts` for width `width`.
constexpr int64_t FloorDiv(int64_t ts, int64_t width) {
  const int64_t q = ts / width;
  return (ts % width != 0 && ((ts < 0) != (width < 0))) ? q - 1 : q;
}

}  // namespace pricing
