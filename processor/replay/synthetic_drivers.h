// A reproducible synthetic driver fleet, so replays of demand-only data (the NYC
// pickups) have supply too. The same options and seed give the same pings on every
// machine. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "events/event.h"
#include "replay/nyc_pickups.h"

namespace pricing {

struct FleetOptions {
  int drivers = 300;
  int64_t ping_interval_ms = 30'000;
  uint64_t seed = 42;
  // Per-ping status changes (a small Markov chain).
  double p_available_to_busy = 0.12;
  double p_busy_to_available = 0.25;
  double p_available_to_offline = 0.005;
  double p_offline_to_available = 0.05;
  double step_deg = 0.0015;    // random-walk step (one standard deviation)
  double p_reposition = 0.03;  // chance per ping to drive to a recent pickup spot
};

struct DriverPingRecord {
  int64_t ts_ms;
  std::string driver_id;
  double lat, lon;
  DriverStatus status;
};

// Pings for [start_ms, end_ms). Drivers start near random pickups from `anchors` and
// drift back towards them, so supply sits where demand is, but not in step with it.
std::vector<DriverPingRecord> SimulateFleet(const FleetOptions& options,
                                            std::span<const Pickup> anchors, int64_t start_ms,
                                            int64_t end_ms);

// splitmix64: tiny, fast and the same everywhere (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal();                                                            // N(0, 1)

 private:
  uint64_t state_;
};

}  // namespace pricing
