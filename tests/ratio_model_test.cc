#include "pricing/ratio_model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace pricing {
namespace {

using test::RectZone;

// Three zones in a row: 1 - 2 - 3 (1 and 3 are not neighbours), plus an island 4.
ZoneSet Row() {
  return ZoneSet::FromZones({RectZone("1", 0, 0, 1, 1), RectZone("2", 1, 0, 2, 1),
                             RectZone("3", 2, 0, 3, 1), RectZone("4", 9, 9, 10, 10)},
                            1e-4);
}

ModelOutput Tick(RatioModel& m, std::vector<int32_t> supply, std::vector<int32_t> demand) {
  return m.Compute(supply, demand);
}

TEST(RatioModel, Step1SpatialSmoothingAveragesOverNeighbours) {
  const ZoneSet zones = Row();
  RatioModel model(zones, ModelParams{}, {});
  const auto out = Tick(model, {2, 0, 4, 3}, {0, 6, 0, 1});
  // S~ = (S + w * sum of neighbours) / (1 + w * |N|), w = 0.5
  EXPECT_DOUBLE_EQ(out.supply_smoothed[0], (2 + 0.5 * 0) / 1.5);
  EXPECT_DOUBLE_EQ(out.supply_smoothed[1], (0 + 0.5 * 6) / 2.0);
  EXPECT_DOUBLE_EQ(out.supply_smoothed[2], (4 + 0.5 * 0) / 1.5);
  EXPECT_DOUBLE_EQ(out.supply_smoothed[3], 3.0);  // no neighbours
  EXPECT_DOUBLE_EQ(out.demand_smoothed[0], (0 + 0.5 * 6) / 1.5);
  EXPECT_DOUBLE_EQ(out.demand_smoothed[1], 6 / 2.0);
}

TEST(RatioModel, Step1WeightZeroTurnsSmoothingOff) {
  const ZoneSet zones = Row();
  ModelParams p;
  p.spatial_weight = 0;
  RatioModel model(zones, p, {});
  const auto out = Tick(model, {2, 0, 4, 3}, {0, 6, 0, 1});
  EXPECT_EQ(out.supply_smoothed, out.supply);
  EXPECT_EQ(out.demand_smoothed, out.demand);
}

TEST(RatioModel, Steps2And3RatioWithPriorAndTargetAboveThreshold) {
  const ZoneSet zones = Row();
  RatioModel model(zones, ModelParams{}, {});
  const auto out = Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  EXPECT_DOUBLE_EQ(out.ratio[3], (5 + 1.0) / (1 + 1.0));   // 3
  EXPECT_DOUBLE_EQ(out.target[3], 1 + 0.5 * (3.0 - 1.2));  // 1.9
  EXPECT_DOUBLE_EQ(out.ratio[0], 1.0);                     // nothing: prior only
  EXPECT_DOUBLE_EQ(out.target[0], 1.0);                    // below threshold
}

TEST(RatioModel, Steps4And5SmoothUpwardsThenRateLimit) {
  const ZoneSet zones = Row();
  RatioModel model(zones, ModelParams{}, {});
  auto out = Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  // e = 1 + 0.5 * (1.9 - 1) = 1.45, limited to 1 + 0.25.
  EXPECT_DOUBLE_EQ(out.raw[3], 1.25);
  EXPECT_EQ(out.bound[3], Bound::kRateLimit);
  EXPECT_DOUBLE_EQ(out.multiplier[3], 1.3);
  // Next tick from m = 1.25: e = 1.25 + 0.5 * 0.65 = 1.575, limited to 1.5.
  out = Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  EXPECT_DOUBLE_EQ(out.raw[3], 1.5);
  EXPECT_DOUBLE_EQ(out.previous[3], 1.3);
  // From 1.5: e = 1.5 + 0.5 * 0.4 = 1.7, within the step.
  out = Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  EXPECT_DOUBLE_EQ(out.raw[3], 1.5 + 0.5 * (1.9 - 1.5));
  EXPECT_EQ(out.bound[3], Bound::kNone);
}

TEST(RatioModel, Step4SmoothsDownwardsWithAlphaDown) {
  const ZoneSet zones = Row();
  ModelParams p;
  p.max_step = 10;
  RatioModel model(zones, p, {});
  Tick(model, {0, 0, 0, 0}, {0, 0, 0, 9});  // m = 1 + 0.5 * (5.4 - 1) = 3.2, capped at 3
  auto out = Tick(model, {0, 0, 0, 0}, {0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(out.raw[3], 3.0 + 0.2 * (1.0 - 3.0));
  EXPECT_EQ(out.bound[3], Bound::kNone);
}

TEST(RatioModel, Step6FloorAndCapWithPerZoneOverrides) {
  const ZoneSet zones = Row();
  ModelParams p;
  p.max_step = 10;
  std::map<std::string, ZoneOverride> overrides;
  overrides["4"].cap = 1.4;
  overrides["1"].floor = 1.5;
  RatioModel model(zones, p, overrides);
  const auto out = Tick(model, {0, 0, 0, 0}, {0, 0, 0, 9});
  EXPECT_DOUBLE_EQ(out.raw[3], 1.4);
  EXPECT_EQ(out.bound[3], Bound::kCap);
  EXPECT_DOUBLE_EQ(out.raw[0], 1.5);
  EXPECT_EQ(out.bound[0], Bound::kFloor);
  EXPECT_EQ(out.bound[1], Bound::kNone);
}

TEST(RatioModel, Step7FixedAndDisabledWinOverEverything) {
  const ZoneSet zones = Row();
  std::map<std::string, ZoneOverride> overrides;
  overrides["4"].fixed = 2.37;
  overrides["2"].disabled = true;
  RatioModel model(zones, ModelParams{}, overrides);
  const auto out = Tick(model, {0, 0, 0, 0}, {0, 9, 0, 9});
  EXPECT_DOUBLE_EQ(out.raw[3], 2.37);
  EXPECT_EQ(out.bound[3], Bound::kOverride);
  EXPECT_DOUBLE_EQ(out.multiplier[3], 2.4);
  EXPECT_DOUBLE_EQ(out.raw[1], 1.0);
  EXPECT_EQ(out.bound[1], Bound::kDisabled);
}

TEST(RatioModel, Step8RoundsToTheStepWithTheSpecEpsilon) {
  EXPECT_DOUBLE_EQ(PublishedMultiplier(1.25, 0.1), 1.3);
  EXPECT_DOUBLE_EQ(PublishedMultiplier(1.2499, 0.1), 1.2);
  // 1.15 / 0.1 is 11.499999999999998 in binary: the 1e-9 of the spec rounds it up.
  EXPECT_DOUBLE_EQ(PublishedMultiplier(1.15, 0.1), 1.2);
  EXPECT_DOUBLE_EQ(PublishedMultiplier(0.35, 0.1), 0.4);
  EXPECT_DOUBLE_EQ(PublishedMultiplier(1.37, 0.25), 1.25);
  EXPECT_DOUBLE_EQ(PublishedMultiplier(1.375, 0.25), 1.5);
  // Published as the decimal value: 12 * 0.1 would otherwise be 1.2000000000000002.
  EXPECT_EQ(PublishedMultiplier(1.2, 0.1), 1.2);
  EXPECT_EQ(PublishedMultiplier(2.9, 0.1), 2.9);
}

TEST(RatioModel, CarriesRawNotPublishedValueToTheNextTick) {
  const ZoneSet zones = Row();
  RatioModel model(zones, ModelParams{}, {});
  Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  EXPECT_DOUBLE_EQ(model.state()[3], 1.25);  // q was 1.3
}

TEST(RatioModel, ReconfigureKeepsState) {
  const ZoneSet zones = Row();
  RatioModel model(zones, ModelParams{}, {});
  Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  ModelParams p;
  p.cap = 1.1;
  model.Configure(p, {});
  const auto out = Tick(model, {0, 0, 0, 1}, {0, 0, 0, 5});
  EXPECT_DOUBLE_EQ(out.raw[3], 1.1);
  EXPECT_EQ(out.bound[3], Bound::kCap);
  EXPECT_DOUBLE_EQ(out.previous[3], 1.3);
}

// A direct, scalar transcription of pricing-model.md, written without the model's code.
struct SpecModel {
  const ZoneSet& zones;
  ModelParams p;
  std::vector<double> m;

  std::vector<double> Tick(const std::vector<int32_t>& s, const std::vector<int32_t>& d,
                           std::vector<std::string>* bounds) {
    const std::size_t n = zones.size();
    std::vector<double> q(n);
    bounds->assign(n, "none");
    for (std::size_t z = 0; z < n; ++z) {
      double ssum = 0, dsum = 0;
      const auto nb = zones.neighbors(static_cast<ZoneIndexT>(z));
      for (ZoneIndexT o : nb) {
        ssum += s[o];
        dsum += d[o];
      }
      const double ss = (s[z] + p.spatial_weight * ssum) / (1 + p.spatial_weight * nb.size());
      const double ds = (d[z] + p.spatial_weight * dsum) / (1 + p.spatial_weight * nb.size());
      const double r = (ds + p.prior) / (ss + p.prior);
      const double target = 1 + p.sensitivity * std::max(0.0, r - p.threshold);
      const double alpha = target > m[z] ? p.alpha_up : p.alpha_down;
      double e = m[z] + alpha * (target - m[z]);
      const double lo = m[z] - p.max_step, hi = m[z] + p.max_step;
      if (e < lo || e > hi) (*bounds)[z] = "rate_limit";
      e = std::clamp(e, lo, hi);
      if (e < p.floor) (*bounds)[z] = "floor";
      if (e > p.cap) (*bounds)[z] = "cap";
      m[z] = std::clamp(e, p.floor, p.cap);
      q[z] = p.step * std::floor(m[z] / p.step + 0.5 + 1e-9);
    }
    return q;
  }
};

TEST(RatioModel, MatchesAScalarTranscriptionOfTheSpecOnNycZones) {
  const auto nyc = test::NycZones();
  ModelParams p;
  RatioModel model(nyc->zones, p, {});
  SpecModel spec{nyc->zones, p, std::vector<double>(nyc->zones.size(), 1.0)};
  uint64_t state = 99;
  const auto rnd = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int32_t>((state >> 33) % n);
  };
  for (int tick = 0; tick < 60; ++tick) {
    std::vector<int32_t> s(nyc->zones.size()), d(nyc->zones.size());
    for (std::size_t z = 0; z < s.size(); ++z) {
      s[z] = rnd(tick < 30 ? 4 : 12);  // surge, then recovery
      d[z] = rnd(tick < 30 ? 14 : 3);
    }
    std::vector<std::string> bounds;
    const auto q = spec.Tick(s, d, &bounds);
    const auto out = model.Compute(s, d);
    for (std::size_t z = 0; z < q.size(); ++z) {
      ASSERT_EQ(out.raw[z], spec.m[z]) << "tick " << tick << " zone " << z;
      ASSERT_NEAR(out.multiplier[z], q[z], 1e-12);
      ASSERT_EQ(ToString(out.bound[z]), bounds[z]);
    }
  }
}

}  // namespace
}  // namespace pricing
