#include "replay/synthetic_drivers.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace pricing {

double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::vector<DriverPingRecord> SimulateFleet(const FleetOptions& o, std::span<const Pickup> anchors,
                                            int64_t start_ms, int64_t end_ms) {
  std::vector<DriverPingRecord> out;
  if (anchors.empty() || o.drivers <= 0 || end_ms <= start_ms) return out;
  Rng rng(o.seed);
  const auto pick_anchor = [&]() -> const Pickup& {
    return anchors[static_cast<std::size_t>(rng.Next() % anchors.size())];
  };
  for (int i = 0; i < o.drivers; ++i) {
    const Pickup& home = pick_anchor();
    double lat = home.lat + rng.Normal() * 0.003;
    double lon = home.lon + rng.Normal() * 0.003;
    DriverStatus status = rng.Uniform() < 0.8 ? DriverStatus::kAvailable : DriverStatus::kBusy;
    const std::string id = "sim-d-" + std::to_string(i);
    const int64_t offset =
        static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(o.ping_interval_ms));
    for (int64_t ts = start_ms + offset; ts < end_ms; ts += o.ping_interval_ms) {
      out.push_back({ts, id, lat, lon, status});
      const double u = rng.Uniform();
      switch (status) {
        case DriverStatus::kAvailable:
          if (u < o.p_available_to_busy) {
            status = DriverStatus::kBusy;
          } else if (u < o.p_available_to_busy + o.p_available_to_offline) {
            status = DriverStatus::kOffline;
          }
          break;
        case DriverStatus::kBusy:
          if (u < o.p_busy_to_available) status = DriverStatus::kAvailable;
          break;
        case DriverStatus::kOffline:
          if (u < o.p_offline_to_available) status = DriverStatus::kAvailable;
          break;
      }
      if (rng.Uniform() < o.p_reposition) {
        const Pickup& spot = pick_anchor();
        lat = spot.lat + rng.Normal() * 0.002;
        lon = spot.lon + rng.Normal() * 0.002;
      } else {
        lat = std::clamp(lat + rng.Normal() * o.step_deg, -90.0, 90.0);
        lon = std::clamp(lon + rng.Normal() * o.step_deg, -180.0, 180.0);
      }
    }
  }
  std::stable_sort(
      out.begin(), out.end(),
      [](const DriverPingRecord& a, const DriverPingRecord& b) { return a.ts_ms < b.ts_ms; });
  return out;
}

}  // namespace pricing
