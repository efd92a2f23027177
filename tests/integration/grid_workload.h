// The small city the processor tests price, whatever the backend: a 3 x 3 grid of
// zones, a steady workload that makes its middle zone surge, and the check that what a
// live run published equals `pricing replay` of the same events.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "cluster_fixture.h"
#include "price_updates.h"

namespace pricing::test {

// A 3 x 3 grid of 0.01-degree zones in lower Manhattan, ids 1..9, named "cell N".
inline std::string GridGeoJson() {
  std::ostringstream os;
  os.precision(10);
  os << R"({"type":"FeatureCollection","features":[)";
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      const double x0 = -74.02 + c * 0.01, y0 = 40.70 + r * 0.01;
      os << (r || c ? "," : "") << R"({"type":"Feature","properties":{"id":)" << r * 3 + c + 1
         << R"(,"name":"cell )" << r * 3 + c + 1
         << R"("},"geometry":{"type":"Polygon","coordinates":[[[)" << x0 << "," << y0 << "],["
         << x0 + 0.01 << "," << y0 << "],[" << x0 + 0.01 << "," << y0 + 0.01 << "],[" << x0 << ","
         << y0 + 0.01 << "],[" << x0 << "," << y0 << "]]]}}";
    }
  }
  os << "]}";
  return os.str();
}

struct GridEvent {
  std::string subject, id, payload;
};

// Event number i of the grid workload, stamped ts, for city `city`: two in three are
// pings of 40 drivers that move over the grid, one in three a request of 60 riders,
// half of them in zone 5, so that it surges.
inline GridEvent GridWorkloadEvent(int i, int64_t ts, const std::string& city = "demo") {
  GridEvent e;
  if (i % 3 != 0) {
    const int d = i % 40;
    const int zone = (d + i / 40) % 9;
    const double lat = 40.705 + (zone / 3) * 0.01, lon = -74.015 + (zone % 3) * 0.01;
    e.id = "d" + std::to_string(d) + ":" + std::to_string(i);
    e.subject = "location.driver." + city;
    e.payload = R"({"driver_id":"d)" + std::to_string(d) + R"(","lat":)" + std::to_string(lat) +
                R"(,"lon":)" + std::to_string(lon) + R"(,"status":")" +
                (i % 7 == 0 ? "busy" : "available") + R"(","ts":)" + std::to_string(ts) + "}";
  } else {
    const bool hot = i % 2 == 0;
    const double lat = hot ? 40.715 : 40.705 + (i % 3) * 0.01, lon = hot ? -74.005 : -74.015;
    e.id = "r" + std::to_string(i);
    e.subject = "location.request." + city;
    e.payload = R"({"request_id":")" + e.id + R"(","rider_id":"u)" + std::to_string(i % 60) +
                R"(","lat":)" + std::to_string(lat) + R"(,"lon":)" + std::to_string(lon) +
                R"(,"ts":)" + std::to_string(ts) + "}";
  }
  return e;
}

// Calls send(i) for i in [first, first + count), evenly spread over `seconds`.
inline void Paced(int count, double seconds, int first, const std::function<void(int)>& send) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = first; i < first + count; ++i) {
    std::this_thread::sleep_until(
        start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(seconds * (i - first) / count)));
    send(i);
  }
}

// Every (tick, zone) of `replay` is in what read_live returns, once its last tick is
// there (it waits up to 20 s), with the same demand, supply and multiplier, and the
// workload made zone 5 surge. With exactly_once, no update was published twice.
// `missed` are ticks that some event reached the cluster too late for (its tick closed
// on the wall clock first, as the model says): they are not compared, but at least
// three ticks must be. A multiplier carries its previous tick's, so after the first
// missed tick only demand and supply are.
inline void ExpectLiveEqualsReplay(const PriceUpdates& replay,
                                   const std::function<PriceUpdates()>& read_live,
                                   bool exactly_once, const std::set<int64_t>& missed = {}) {
  ASSERT_GE(replay.size(), 9u * 3) << "the workload should span at least three ticks";
  const int64_t last_tick = replay.rbegin()->first.first;
  PriceUpdates live;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = read_live();
        return live.count({last_tick, "9"}) != 0;
      },
      20000))
      << "the processor did not publish tick " << last_tick;
  int surging = 0;
  std::set<int64_t> compared;
  const int64_t first_missed = missed.empty() ? INT64_MAX : *missed.begin();
  for (const auto& [key, want] : replay) {
    surging += want.multiplier > 1.0;
    if (missed.count(key.first) != 0) continue;
    compared.insert(key.first);
    const std::string where = "tick " + std::to_string(key.first) + " zone " + key.second;
    const auto it = live.find(key);
    ASSERT_NE(it, live.end()) << where << " missing";
    EXPECT_EQ(it->second.demand, want.demand) << where;
    EXPECT_EQ(it->second.supply, want.supply) << where;
    if (key.first < first_missed) {
      EXPECT_EQ(it->second.multiplier, want.multiplier) << where;
    }
  }
  EXPECT_GT(surging, 0) << "the workload should make zone 5 surge";
  EXPECT_GE(compared.size(), 3u) << missed.size()
                                 << " ticks closed before all their events were stored: "
                                    "the cluster acknowledged too slowly to compare";
  if (exactly_once) {
    for (const auto& [key, u] : live)
      EXPECT_EQ(u.count, 1) << "tick " << key.first << " zone " << key.second << " duplicated";
  }
}

}  // namespace pricing::test
