#include "replay/synthetic_drivers.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numbers>
#include <utility>

namespace pricing {

double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kStepMs = 1'000;

int HourOf(int64_t ts_ms) {
  return static_cast<int>(((ts_ms % (24 * kHourMs)) + 24 * kHourMs) % (24 * kHourMs) / kHourMs);
}

struct Driver {
  std::string id;
  double lat = 0, lon = 0;
  DriverStatus status = DriverStatus::kOffline;
  bool on_duty = false;
  bool signed_off = false;  // its offline ping is due, then it stops pinging
  int64_t busy_until = 0;
  int64_t next_ping = 0;
};

// Where and how much demand usually is, by hour of the day. Idle drivers wait in a
// cell of the city (0.01 degree squares) drawn with a weight of its usual pickups to the
// power `coverage`, then near one of those pickups: 1 puts them exactly where demand
// is, smaller values spread them out, as drivers spread out to be near the next
// request rather than queue where the last ones were.
class UsualDemand {
 public:
  UsualDemand(std::span<const Pickup> usual, double coverage) {
    std::array<std::map<std::pair<int, int>, std::vector<const Pickup*>>, 24> cells;
    for (const Pickup& p : usual) {
      const auto hour = static_cast<std::size_t>(HourOf(p.ts_ms));
      ++count_[hour];
      cells[hour]
           [{static_cast<int>(std::floor(p.lat * 100)), static_cast<int>(std::floor(p.lon * 100))}]
               .push_back(&p);
    }
    for (std::size_t h = 0; h < 24; ++h) {
      busiest_ = std::max(busiest_, count_[h]);
      double total = 0;
      for (auto& [key, pickups] : cells[h]) {
        total += std::pow(static_cast<double>(pickups.size()), coverage);
        cumulative_[h].push_back(total);
        cells_[h].push_back(std::move(pickups));
      }
    }
  }
  // Drivers on duty in `hour` for a fleet of `drivers` at the busiest hour.
  int OnDuty(int hour, int drivers) const {
    const std::size_t n = count_[static_cast<std::size_t>(hour)];
    if (busiest_ == 0 || n == 0) return 0;
    return std::max(
        1, static_cast<int>(std::lround(static_cast<double>(drivers) * static_cast<double>(n) /
                                        static_cast<double>(busiest_))));
  }
  // A usual pickup spot of `hour` (of the busiest hour when that one has none).
  const Pickup& Spot(int hour, Rng& rng) const {
    auto h = static_cast<std::size_t>(hour);
    if (cells_[h].empty()) h = busiest_hour();
    const std::vector<double>& cum = cumulative_[h];
    const double u = rng.Uniform() * cum.back();
    const auto cell =
        static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
    const auto& pickups = cells_[h][std::min(cell, cells_[h].size() - 1)];
    return *pickups[static_cast<std::size_t>(rng.Next() % pickups.size())];
  }
  bool empty() const { return busiest_ == 0; }

 private:
  std::size_t busiest_hour() const {
    return static_cast<std::size_t>(std::max_element(count_.begin(), count_.end()) -
                                    count_.begin());
  }
  std::array<std::size_t, 24> count_{};
  std::array<std::vector<std::vector<const Pickup*>>, 24> cells_;
  std::array<std::vector<double>, 24> cumulative_;
  std::size_t busiest_ = 0;
};

}  // namespace

struct Fleet::State {
  State(const FleetOptions& o, std::span<const Pickup> usual)
      : options(o), demand(usual, o.coverage), rng(o.seed) {}
  FleetOptions options;
  UsualDemand demand;
  Rng rng;
  std::vector<Driver> drivers;
  int on_duty = 0;
  int64_t now = INT64_MIN;
  int64_t last_shift = INT64_MIN;
  std::size_t next_ping = 0;  // round robin of NextPing

  void Place(Driver& d, double spread) {
    const Pickup& spot = demand.Spot(HourOf(now), rng);
    d.lat = spot.lat + rng.Normal() * spread;
    d.lon = spot.lon + rng.Normal() * spread;
  }
  int64_t PingOffset() {
    return static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(options.ping_interval_ms));
  }
  void ChangeShifts() {
    const int want = demand.OnDuty(HourOf(now), options.drivers);
    for (Driver& d : drivers) {
      if (on_duty >= want) break;
      if (d.on_duty || d.signed_off) continue;
      d.on_duty = true;
      d.status = DriverStatus::kAvailable;
      Place(d, 0.003);
      d.next_ping = now + PingOffset();
      ++on_duty;
    }
    while (on_duty < want) {
      Driver d;
      d.id = "sim-d-" + std::to_string(drivers.size());
      d.on_duty = true;
      d.status = DriverStatus::kAvailable;
      Place(d, 0.003);
      d.next_ping = now + PingOffset();
      drivers.push_back(std::move(d));
      ++on_duty;
    }
    for (Driver& d : drivers) {
      if (on_duty <= want) break;
      if (!d.on_duty || d.status != DriverStatus::kAvailable) continue;
      d.on_duty = false;
      d.signed_off = true;
      d.status = DriverStatus::kOffline;
      --on_duty;
    }
  }
  // An idle driver between two pings drifts, or heads to a usual spot.
  void Wander(Driver& d) {
    if (d.status != DriverStatus::kAvailable) return;
    if (rng.Uniform() < options.p_reposition) {
      Place(d, 0.002);
    } else {
      d.lat = std::clamp(d.lat + rng.Normal() * options.step_deg, -90.0, 90.0);
      d.lon = std::clamp(d.lon + rng.Normal() * options.step_deg, -180.0, 180.0);
    }
  }
};

Fleet::Fleet(const FleetOptions& options, std::span<const Pickup> usual)
    : s_(std::make_unique<State>(options, usual)) {}

Fleet::~Fleet() = default;

int Fleet::on_duty() const { return s_->on_duty; }

void Fleet::AdvanceTo(int64_t t_ms) {
  State& s = *s_;
  if (s.demand.empty() || s.options.drivers <= 0) return;
  if (s.now != INT64_MIN && t_ms < s.now - 3'600'000) {
    // Back to an earlier time (the live generator's next lap over the pickups): the
    // clock starts again there, and trips in progress end.
    for (Driver& d : s.drivers) d.busy_until = std::min(d.busy_until, t_ms);
    s.now = t_ms;
    s.last_shift = INT64_MIN;
  }
  if (s.now == INT64_MIN) s.now = t_ms;
  s.now = std::max(s.now, t_ms);
  if (s.last_shift == INT64_MIN || s.now - s.last_shift >= 60'000) {
    s.last_shift = s.now;
    s.ChangeShifts();
  }
  for (Driver& d : s.drivers) {
    if (d.on_duty && d.status == DriverStatus::kBusy && d.busy_until <= s.now) {
      d.status = DriverStatus::kAvailable;
      s.Place(d, 0.002);
    }
  }
}

bool Fleet::Answer(double lat, double lon) {
  State& s = *s_;
  const double k = std::cos(lat * std::numbers::pi / 180.0);
  Driver* best = nullptr;
  double best_d2 = s.options.match_radius_deg * s.options.match_radius_deg;
  for (Driver& d : s.drivers) {
    if (!d.on_duty || d.status != DriverStatus::kAvailable) continue;
    const double dy = d.lat - lat, dx = (d.lon - lon) * k;
    const double d2 = dy * dy + dx * dx;
    if (d2 <= best_d2) {
      best_d2 = d2;
      best = &d;
    }
  }
  if (best == nullptr) return false;
  best->status = DriverStatus::kBusy;
  // The drive there (about 2 minutes a km) and the trip.
  const int64_t approach = static_cast<int64_t>(std::sqrt(best_d2) * 111.0 * 120'000.0);
  const int64_t trip =
      s.options.trip_min_ms +
      static_cast<int64_t>(s.rng.Uniform() *
                           static_cast<double>(s.options.trip_max_ms - s.options.trip_min_ms));
  best->busy_until = s.now + approach + trip;
  best->lat = lat;
  best->lon = lon;
  return true;
}

void Fleet::DuePings(std::vector<DriverPingRecord>* out) {
  State& s = *s_;
  for (Driver& d : s.drivers) {
    if (d.next_ping > s.now || (!d.on_duty && !d.signed_off)) continue;
    out->push_back({s.now, d.id, d.lat, d.lon, d.status});
    d.next_ping = s.now + s.options.ping_interval_ms;
    if (d.signed_off) {
      d.signed_off = false;  // one offline ping, then silence
      continue;
    }
    s.Wander(d);
  }
}

std::optional<DriverPingRecord> Fleet::NextPing() {
  State& s = *s_;
  for (std::size_t tried = 0; tried < s.drivers.size(); ++tried) {
    Driver& d = s.drivers[s.next_ping++ % s.drivers.size()];
    if (!d.on_duty && !d.signed_off) continue;
    DriverPingRecord ping{s.now, d.id, d.lat, d.lon, d.status};
    if (d.signed_off) {
      d.signed_off = false;
    } else {
      s.Wander(d);
    }
    return ping;
  }
  return std::nullopt;
}

std::vector<DriverPingRecord> SimulateFleet(const FleetOptions& o, std::span<const Pickup> usual,
                                            std::span<const Pickup> requests, int64_t start_ms,
                                            int64_t end_ms) {
  std::vector<DriverPingRecord> out;
  if (usual.empty() || o.drivers <= 0 || end_ms <= start_ms) return out;
  Fleet fleet(o, usual);
  std::size_t next_request = 0;
  while (next_request < requests.size() && requests[next_request].ts_ms < start_ms) ++next_request;
  for (int64_t t = start_ms; t < end_ms; t += kStepMs) {
    fleet.AdvanceTo(t);
    for (; next_request < requests.size() && requests[next_request].ts_ms <= t; ++next_request) {
      const Pickup& r = requests[next_request];
      if (r.ts_ms >= end_ms) break;
      fleet.Answer(r.lat, r.lon);
    }
    fleet.DuePings(&out);
  }
  return out;
}

}  // namespace pricing
