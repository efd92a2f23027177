#include "window/sliding_window.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace pricing {
namespace {

constexpr int64_t kI = 5000;
constexpr int64_t kW = 30000;
constexpr int64_t kT = 1'700'000'000'000;  // a tick: a multiple of kI
static_assert(kT % kI == 0);

using Counts = std::vector<int32_t>;
Counts Supply(const SlidingWindow& w) { return {w.supply().begin(), w.supply().end()}; }
Counts Demand(const SlidingWindow& w) { return {w.demand().begin(), w.demand().end()}; }

SlidingWindow Started(int64_t first_tick = kT, std::size_t zones = 3) {
  SlidingWindow w(kI, kW, zones);
  w.Start(first_tick);
  return w;
}

constexpr auto kAvailable = DriverStatus::kAvailable;
constexpr auto kBusy = DriverStatus::kBusy;

TEST(SlidingWindow, EventAtWindowStartIsInAndAtTickIsOut) {
  auto w = Started();
  w.AddDriverPing("in", kT - kW, 0, kAvailable, 0);
  w.AddDriverPing("out", kT, 1, kAvailable, 0);
  w.AddRideRequest("r-in", kT - kW, 0, 0);
  w.AddRideRequest("r-out", kT, 1, 0);
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
  EXPECT_EQ(Demand(w), (Counts{1, 0, 0}));
  w.Advance();  // tick kT + I: window [kT - W + I, kT + I)
  EXPECT_EQ(Supply(w), (Counts{0, 1, 0}));
  EXPECT_EQ(Demand(w), (Counts{0, 1, 0}));
}

// A processor that stood by restores a newer checkpoint over the one it read at start:
// a window that holds nothing may be started again, at another tick.
TEST(SlidingWindow, AnEmptyWindowMayStartAgainAtAnotherTick) {
  auto w = Started();
  w.Start(kT + 4 * kI);
  EXPECT_EQ(w.next_tick(), kT + 4 * kI);
  EXPECT_EQ(w.late_before(), kT + 4 * kI - kW);
  EXPECT_FALSE(w.AddDriverPing("d", kT + 4 * kI - kW - 1, 0, kAvailable, 1).ok());  // late
  EXPECT_TRUE(w.AddDriverPing("d", kT + 4 * kI - 1, 0, kAvailable, 2).ok());
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
}

TEST(SlidingWindow, EventJustBeforeTheWindowIsLate) {
  auto w = Started();
  EXPECT_EQ(w.late_before(), kT - kW);
  EXPECT_EQ(w.AddDriverPing("d", kT - kW - 1, 0, kAvailable, 0).reason, RejectReason::kLate);
  EXPECT_EQ(w.AddRideRequest("r", kT - kW - 1, 0, 0).reason, RejectReason::kLate);
  EXPECT_EQ(w.AddDriverPing("d", kT - kW, 0, kAvailable, 0).reason, RejectReason::kNone);
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
}

TEST(SlidingWindow, DriverMovingZonesCountsOnceInNewZone) {
  auto w = Started();
  w.AddDriverPing("d", kT - 20000, 0, kAvailable, 0);
  w.AddDriverPing("d", kT - 10000, 1, kAvailable, 0);
  w.AddDriverPing("d", kT - 1, 2, kAvailable, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 1}));
}

TEST(SlidingWindow, DriverWhoTurnsBusyStopsCounting) {
  auto w = Started();
  w.AddDriverPing("d", kT - 20000, 0, kAvailable, 0);
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
  w.AddDriverPing("d", kT - 10000, 0, kBusy, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
  w.AddDriverPing("d", kT - 5000, 1, DriverStatus::kOffline, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, LatestPingDecidesEvenWhenReadOutOfOrder) {
  auto w = Started();
  w.AddDriverPing("d", kT - 1000, 1, kBusy, 0);
  w.AddDriverPing("d", kT - 20000, 0, kAvailable, 0);  // older, read later
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, EqualTsIsResolvedByReadOrder) {
  auto w = Started();
  w.AddDriverPing("d", kT - 3000, 0, kAvailable, 0);
  w.AddDriverPing("d", kT - 3000, 1, kAvailable, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 1, 0}));
  w.AddDriverPing("d", kT - 3000, 1, kBusy, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, UnzonedLatestPingStopsCounting) {
  auto w = Started();
  w.AddDriverPing("d", kT - 20000, 0, kAvailable, 0);
  w.AddDriverPing("d", kT - 10000, kUnzoned, kAvailable, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, DriverLeavesWhenAllPingsAgeOut) {
  auto w = Started();
  w.AddDriverPing("d", kT - kW, 0, kAvailable, 0);
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
  w.Advance();
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
  EXPECT_EQ(w.active_drivers(), 0u);
}

TEST(SlidingWindow, EarlierPingStillCountsWhenTheLatestIsAheadOfTheTick) {
  auto w = Started();
  w.AddDriverPing("d", kT - 10000, 0, kAvailable, 0);
  w.AddDriverPing("d", kT + 2000, 1, kBusy, 0);  // for the next tick, not this one
  EXPECT_EQ(Supply(w), (Counts{1, 0, 0}));
  w.Advance();
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, RiderWithTwoRequestsCountsOnce) {
  auto w = Started();
  w.AddRideRequest("u", kT - 20000, 0, 0);
  w.AddRideRequest("u", kT - 2000, 0, 0);
  w.AddRideRequest("u", kT - 2000, 0, 0);
  EXPECT_EQ(Demand(w), (Counts{1, 0, 0}));
  // The later request keeps the rider in the window after the first ages out.
  for (int i = 0; i < 2; ++i) w.Advance();
  EXPECT_EQ(Demand(w), (Counts{1, 0, 0}));
  for (int i = 0; i < 5; ++i) w.Advance();
  EXPECT_EQ(Demand(w), (Counts{0, 0, 0}));
  EXPECT_EQ(w.active_riders(), 0u);
}

TEST(SlidingWindow, RiderWithRequestsInTwoZonesCountsInEach) {
  auto w = Started();
  w.AddRideRequest("u", kT - 20000, 0, 0);
  w.AddRideRequest("u", kT - 10000, 2, 0);
  EXPECT_EQ(Demand(w), (Counts{1, 0, 1}));
}

TEST(SlidingWindow, UnzonedRequestsCountNowhere) {
  auto w = Started();
  w.AddRideRequest("u", kT - 20000, kUnzoned, 0);
  EXPECT_EQ(Demand(w), (Counts{0, 0, 0}));
  EXPECT_EQ(w.active_riders(), 0u);
}

TEST(SlidingWindow, DistinctEntitiesAddUp) {
  auto w = Started();
  for (int i = 0; i < 5; ++i)
    w.AddDriverPing("d" + std::to_string(i), kT - 1000 * i - 1, 1, kAvailable, 0);
  for (int i = 0; i < 4; ++i) w.AddRideRequest("u" + std::to_string(i), kT - 1000 * i - 1, 1, 0);
  EXPECT_EQ(Supply(w), (Counts{0, 5, 0}));
  EXPECT_EQ(Demand(w), (Counts{0, 4, 0}));
}

TEST(SlidingWindow, CountsMatchABruteForceRecountOverManyTicks) {
  // Random pings and requests, some out of order; after every tick the incremental
  // counts must equal a recount from the full event log by the spec's definitions.
  struct Ev {
    bool driver;
    std::string id;
    int64_t ts;
    ZoneIndexT zone;
    DriverStatus status;
    int order;
  };
  std::vector<Ev> log;
  auto w = Started(kT, 4);
  uint64_t state = 12345;
  const auto rnd = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  int order = 0;
  for (int tick = 0; tick < 40; ++tick) {
    for (int k = 0; k < 60; ++k) {
      const bool driver = rnd(2) == 0;
      const int64_t ts = w.next_tick() - kW + static_cast<int64_t>(rnd(kW + 3 * kI));
      const ZoneIndexT zone = static_cast<ZoneIndexT>(rnd(5)) - 1;  // -1 is unzoned
      const auto status = static_cast<DriverStatus>(rnd(3));
      const std::string id = (driver ? "d" : "u") + std::to_string(rnd(15));
      const auto r =
          driver ? w.AddDriverPing(id, ts, zone, status, 0) : w.AddRideRequest(id, ts, zone, 0);
      if (r.ok()) log.push_back({driver, id, ts, zone, status, order++});
    }
    const int64_t t = w.next_tick();
    Counts supply(4, 0), demand(4, 0);
    std::map<std::string, const Ev*> latest;
    std::set<std::pair<std::string, ZoneIndexT>> riders;
    for (const Ev& e : log) {
      if (e.ts < t - kW || e.ts >= t) continue;
      if (e.driver) {
        auto& l = latest[e.id];
        if (l == nullptr || e.ts >= l->ts) l = &e;
      } else if (e.zone != kUnzoned) {
        riders.insert({e.id, e.zone});
      }
    }
    for (const auto& [id, e] : latest) {
      if (e->status == kAvailable && e->zone != kUnzoned) ++supply[e->zone];
    }
    for (const auto& [id, zone] : riders) ++demand[zone];
    ASSERT_EQ(Supply(w), supply) << "tick " << tick;
    ASSERT_EQ(Demand(w), demand) << "tick " << tick;
    w.Advance();
  }
}

TEST(SlidingWindow, SequenceRangeCoversEventsInTheWindow) {
  auto w = Started();
  EXPECT_EQ(w.input_seqs().last, 0u);
  w.AddDriverPing("a", kT - kW, 0, kAvailable, 10);
  w.AddRideRequest("b", kT - 1, kUnzoned, 12);
  w.AddDriverPing("c", kT + 1, 0, kAvailable, 11);  // ahead of the window
  EXPECT_EQ(w.input_seqs().first, 10u);
  EXPECT_EQ(w.input_seqs().last, 12u);
  w.Advance();
  EXPECT_EQ(w.input_seqs().first, 11u);
  EXPECT_EQ(w.input_seqs().last, 12u);
}

TEST(SlidingWindow, ForgetsEverythingOnceTheWindowHasPassed) {
  auto w = Started();
  for (int i = 0; i < 1000; ++i) {
    w.AddDriverPing("d" + std::to_string(i), kT - 1, i % 3, kAvailable, 0);
    w.AddRideRequest("u" + std::to_string(i), kT - 1, i % 3, 0);
  }
  EXPECT_EQ(w.active_drivers(), 1000u);
  for (int i = 0; i < kW / kI + 1; ++i) w.Advance();
  EXPECT_EQ(w.active_drivers(), 0u);
  EXPECT_EQ(w.active_riders(), 0u);
  EXPECT_EQ(Supply(w), (Counts{0, 0, 0}));
}

TEST(SlidingWindow, AMillionActiveDriversFitWellUnder500MB) {
  // Allocator bytes in use, measured, not timed: deterministic for a given build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers replace malloc, so mallinfo2 does not see the window";
#endif
  const auto in_use = [] { return mallinfo2().uordblks; };
  const std::size_t before = in_use();
  {
    SlidingWindow w(kI, kW, 263);
    w.Start(kT);
    // Every driver pings in every interval of the window, like a 5 s ping rate.
    for (int64_t ts = kT - kW; ts < kT; ts += kI) {
      for (int d = 0; d < 1'000'000; ++d) {
        w.AddDriverPing("driver-" + std::to_string(d), ts + d % kI, d % 263, kAvailable, 0);
      }
    }
    const std::size_t used = in_use() - before;
    EXPECT_EQ(w.active_drivers(), 1'000'000u);
    std::printf("window memory for 1M drivers: %.1f MB (%.0f bytes/driver)\n", used / 1e6,
                used / 1e6);
    EXPECT_LT(used, 300u * 1000 * 1000);
  }
}

}  // namespace
}  // namespace pricing
