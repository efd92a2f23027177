// A reproducible synthetic driver fleet, so replays of demand-only data (the NYC
// pickups) have supply too. The same options and seed give the same pings on every
// machine. Pure; thread-safe.
//
// The fleet follows where and when pickups usually happen: `usual` (a month of pickups)
// gives, per hour of the day (UTC), how many drivers are on duty (in proportion to that
// hour's pickups, `drivers` at the busiest hour) and where an idle driver waits (near a
// pickup of that hour). Drivers answer the replayed requests: a request takes the
// nearest idle driver within `match_radius_deg`, who is busy for the drive there and
// the trip, then idle again near a usual pickup spot. So supply thins where demand
// outruns it, as on the street, rather than where a random fleet happened not to be.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "events/event.h"
#include "replay/nyc_pickups.h"

namespace pricing {

struct FleetOptions {
  int drivers = 300;  // on duty at the busiest hour of the day
  int64_t ping_interval_ms = 30'000;
  uint64_t seed = 42;
  double match_radius_deg = 0.025;  // about 2.5 km north-south
  int64_t trip_min_ms = 8 * 60'000;
  int64_t trip_max_ms = 25 * 60'000;
  double step_deg = 0.0008;    // an idle driver's drift per ping (one standard deviation)
  double p_reposition = 0.05;  // chance per ping that an idle driver heads to a usual spot
  // How closely idle drivers follow the usual pickups: a city cell's share of them goes
  // with its pickups to this power (1: in proportion; 0: every cell alike).
  double coverage = 0.7;
};

struct DriverPingRecord {
  int64_t ts_ms;
  std::string driver_id;
  double lat, lon;
  DriverStatus status;
};

// The fleet as it moves: the replay's SimulateFleet below and the live generator
// (`pricing simulate --pickups`) drive the same one. Its clock is the pickups' own time.
class Fleet {
 public:
  Fleet(const FleetOptions& options, std::span<const Pickup> usual);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Moves the clock on to `t_ms`: shifts change once a minute (drivers come on duty, or
  // idle ones sign off), and trips that ended leave their drivers idle near a usual
  // pickup spot of the hour.
  void AdvanceTo(int64_t t_ms);
  // A request at (lat, lon), now: the nearest idle driver within reach takes it. False
  // when none is in reach (the request goes unserved).
  bool Answer(double lat, double lon);
  // The pings due up to the clock, each driver every ping_interval_ms (the replay).
  void DuePings(std::vector<DriverPingRecord>* out);
  // The next driver on duty, round robin, as a ping at the clock (the live generator,
  // which sends at its own rate); nullopt when nobody is on duty.
  std::optional<DriverPingRecord> NextPing();
  int on_duty() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Pings for [start_ms, end_ms), answering `requests` (time-ordered).
std::vector<DriverPingRecord> SimulateFleet(const FleetOptions& options,
                                            std::span<const Pickup> usual,
                                            std::span<const Pickup> requests, int64_t start_ms,
                                            int64_t end_ms);
// The same with `anchors` as both the usual pickups and the requests.
inline std::vector<DriverPingRecord> SimulateFleet(const FleetOptions& options,
                                                   std::span<const Pickup> anchors,
                                                   int64_t start_ms, int64_t end_ms) {
  return SimulateFleet(options, anchors, anchors, start_ms, end_ms);
}

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
