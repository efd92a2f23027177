// The what-if backtest against a case worked out by hand, and its reports' stability.
#include "backtest/backtest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "common/time_format.h"
#include "test_util.h"

namespace pricing {
namespace {

// Ticks on a 5 s grid from here (a multiple of 5,000 ms).
constexpr int64_t kT0 = 1'700'000'000'000;

// Two 0.01-degree squares side by side: zone "1" west, zone "2" east.
std::string TwoZonesGeoJson() {
  auto square = [](const char* id, double x0) {
    const std::string x = std::to_string(x0), x1 = std::to_string(x0 + 0.01);
    return std::string("{\"type\":\"Feature\",\"properties\":{\"LocationID\":") + id +
           ",\"zone\":\"Zone " + id + "\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[" +
           x + ",0],[" + x1 + ",0],[" + x1 + ",0.01],[" + x + ",0.01],[" + x + ",0]]]}}";
  };
  return "{\"type\":\"FeatureCollection\",\"features\":[" + square("1", 0) + "," +
         square("2", 0.01) + "]}";
}

// A model whose multiplier is its target at once: no spatial or time smoothing, no
// rate limit. Then m = 1 + 0.5 * max(0, (D + 1) / (S + 1) - 1.2), clamped to the cap.
EngineConfig Config(const std::filesystem::path& zones, double cap) {
  EngineConfig c;
  c.timing.interval_ms = 5000;
  c.timing.window_ms = 10000;
  c.timing.allowed_lateness_ms = 1000;
  CityConfig city;
  city.key = "test";
  city.zones_path = zones;
  city.model.spatial_weight = 0;
  city.model.alpha_up = 1;
  city.model.alpha_down = 1;
  city.model.max_step = 10;
  city.model.cap = cap;
  c.cities["test"] = city;
  return c;
}

std::string Request(const std::string& rider, double lon, int64_t ts) {
  return "{\"subject\":\"location.request.test\",\"data\":{\"request_id\":\"q-" + rider +
         "\",\"rider_id\":\"" + rider + "\",\"lat\":0.005,\"lon\":" + std::to_string(lon) +
         ",\"ts\":" + std::to_string(ts) + "}}\n";
}

// Five riders in zone 1 at +1 s, one in zone 1 at +11.5 s, one in zone 2 at +16 s.
// Ticks +5, +10, +15, +20 s (the last: the first tick after the last event). Window 10 s:
//   zone 1: D 5, 5, 1, 1 -> ratio 6, 6, 2, 2 -> m* 3.4, 3.4, 1.4, 1.4
//   zone 2: D 0, 0, 0, 1 -> m* 1, 1, 1, 1.4
// Under A (cap 3): zone 1 publishes 3.0 (cap), 3.0 (cap), 1.4, 1.4.
// Under B (cap 1.8): 1.8 (cap), 1.8 (cap), 1.4, 1.4. Zone 2 the same in both.
std::string Events() {
  std::string e;
  for (int r = 1; r <= 5; ++r) e += Request("r" + std::to_string(r), 0.005, kT0 + 1000);
  e += Request("r7", 0.005, kT0 + 11500);  // quoted tick +10 s: 3.0 under A, 1.8 under B
  e += Request("r6", 0.015, kT0 + 16000);  // quoted tick +15 s: 1.0
  e += "not a replay line\n";              // dead-lettered, not counted
  return e;
}

class BacktestTest : public ::testing::Test {
 protected:
  Backtest Run(double cap_b) {
    const auto zones = dir_.Write("zones.geojson", TwoZonesGeoJson());
    const std::string events = Events();
    PricedRun a = PriceEvents(Config(zones, 3.0), events);
    PricedRun b = PriceEvents(Config(zones, cap_b), events);
    const auto requests = ReadRequests(a, events);
    return CompareRuns(std::move(a), std::move(b), requests);
  }
  test::TempDir dir_;
};

TEST_F(BacktestTest, CityFiguresMatchTheHandComputedCase) {
  const Backtest bt = Run(1.8);
  ASSERT_EQ(bt.cities.size(), 1u);
  const CityComparison& c = bt.cities[0];
  EXPECT_EQ(bt.a.cities.at("test").ticks,
            (std::vector<int64_t>{kT0 + 5000, kT0 + 10000, kT0 + 15000, kT0 + 20000}));
  // 8 zone-ticks. A: 3, 3, 1.4, 1.4 and 1, 1, 1, 1.4; B: 1.8, 1.8, 1.4, 1.4 and the same.
  EXPECT_EQ(c.a.zone_ticks, 8u);
  EXPECT_NEAR(c.a.mean, 13.2 / 8, 1e-9);
  EXPECT_NEAR(c.b.mean, 10.8 / 8, 1e-9);
  EXPECT_NEAR(c.a.p95, 3.0, 1e-9);  // nearest rank: the 8th of 8
  EXPECT_NEAR(c.b.p95, 1.8, 1e-9);
  EXPECT_NEAR(c.a.max, 3.0, 1e-9);
  EXPECT_EQ(c.a.surging, 5u);
  EXPECT_EQ(c.b.surging, 5u);
  EXPECT_DOUBLE_EQ(c.a.surging_share(), 5.0 / 8);
  EXPECT_EQ(c.a.above_2, 2u);
  EXPECT_EQ(c.b.above_2, 0u);
  EXPECT_EQ(c.a.at_cap, 2u);
  EXPECT_EQ(c.b.at_cap, 2u);
  EXPECT_EQ(c.a.at_floor, 0u);
  // One change per zone (3 -> 1.4 and 1 -> 1.4) over 2 zones x 4 ticks x 5 s.
  EXPECT_EQ(c.a.changes, 2u);
  EXPECT_NEAR(c.a.changes_per_zone_hour(), 2 / (2 * 4 * 5 / 3600.0), 1e-9);
  // Requests: five quoted 1.0 (no tick yet), r7 3.0 (A) or 1.8 (B), r6 1.0.
  EXPECT_EQ(c.a.requests, 7u);
  EXPECT_EQ(c.a.requests_at_1_5, 1u);
  EXPECT_EQ(c.a.requests_at_2, 1u);
  EXPECT_EQ(c.b.requests_at_1_5, 1u);
  EXPECT_EQ(c.b.requests_at_2, 0u);
}

TEST_F(BacktestTest, ZoneFiguresAndTheZonesThatDiffer) {
  const Backtest bt = Run(1.8);
  const CityComparison& c = bt.cities[0];
  ASSERT_EQ(c.zones.size(), 2u);
  const ZoneComparison& z1 = c.zones[0];
  EXPECT_NEAR(z1.a.mean, (3 + 3 + 1.4 + 1.4) / 4, 1e-9);
  EXPECT_NEAR(z1.b.mean, (1.8 + 1.8 + 1.4 + 1.4) / 4, 1e-9);
  EXPECT_NEAR(z1.mean_abs_diff, 0.6, 1e-9);
  EXPECT_NEAR(z1.mean_diff, -0.6, 1e-9);
  EXPECT_NEAR(z1.max_abs_diff, 1.2, 1e-9);
  EXPECT_EQ(z1.a.requests, 6u);
  EXPECT_EQ(c.zones[1].a.requests, 1u);
  EXPECT_DOUBLE_EQ(c.zones[1].mean_abs_diff, 0);
  // Only zone 1 differs.
  EXPECT_EQ(c.most_different, (std::vector<ZoneIndexT>{0}));
}

TEST_F(BacktestTest, ReportsShowTheFiguresAndAreByteIdenticalWhenRunAgain) {
  auto render = [&] {
    const Backtest bt = Run(1.8);
    std::ostringstream md, csv, html;
    WriteBacktestSummary(bt, "a.yaml", "b.yaml", md);
    WriteBacktestDiffCsv(bt, csv);
    WriteBacktestHtml(bt, "a.yaml", "b.yaml", html);
    return std::vector<std::string>{md.str(), csv.str(), html.str()};
  };
  const auto first = render();
  EXPECT_EQ(render(), first);
  const std::string& md = first[0];
  EXPECT_NE(md.find("| mean published multiplier | 1.650 | 1.350 | -0.300 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| zone-ticks above 2.0 | 2 | 0 | -2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| requests quoted 2x or more | 1 | 0 | -1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | Zone 1 | 0.600 | 1.20 |"), std::string::npos) << md;
  // diff.csv: a header and one row per zone and tick.
  const std::string& csv = first[1];
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 4);
  EXPECT_NE(csv.find("test,1,Zone 1," + std::to_string(kT0 + 5000) +
                     ",2023-11-14T22:13:25Z,3.00,1.80,-1.20,cap,cap,5,0,5,0\n"),
            std::string::npos)
      << csv;
  // report.html: offline, with the three charts.
  const std::string& html = first[2];
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://www.w3.org/2000/svg") != std::string::npos, true);
  EXPECT_NE(html.find("mean published multiplier, test"), std::string::npos);
  EXPECT_NE(html.find("1 Zone 1</text>"), std::string::npos);  // the zone that differs
  EXPECT_NE(html.find("<path fill-rule"), std::string::npos);  // the map
}

TEST_F(BacktestTest, IdenticalConfigurationsDifferNowhere) {
  const Backtest bt = Run(3.0);
  EXPECT_TRUE(bt.cities[0].most_different.empty());
  std::ostringstream md;
  WriteBacktestSummary(bt, "a.yaml", "a.yaml", md);
  EXPECT_NE(md.str().find("Every zone published the same multiplier"), std::string::npos);
}

TEST_F(BacktestTest, RunsOnAnotherTickIntervalAreRefused) {
  const auto zones = dir_.Write("zones.geojson", TwoZonesGeoJson());
  EngineConfig other = Config(zones, 3.0);
  other.timing.interval_ms = 10000;
  PricedRun a = PriceEvents(Config(zones, 3.0), Events());
  PricedRun b = PriceEvents(other, Events());
  try {
    CompareRuns(std::move(a), std::move(b), {});
    FAIL() << "compared runs on different tick grids";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("interval_seconds 5 and 10"), std::string::npos)
        << e.what();
  }
}

TEST(ParseMoment, ReadsUtcTimesAndDurationsAgo) {
  EXPECT_EQ(ParseMoment("2023-11-14T22:13:25Z", 0), kT0 + 5000);
  EXPECT_EQ(ParseMoment("2023-11-14T22:13Z", 0), kT0 - 20000);
  EXPECT_EQ(ParseMoment("2000-02-29T00:00:00Z", 0), 951782400000);  // a leap day
  EXPECT_EQ(FormatUtc(*ParseMoment("2014-04-01T20:01:00Z", 0)), "2014-04-01T20:01:00Z");
  EXPECT_EQ(ParseMoment("90s", kT0), kT0 - 90000);
  EXPECT_EQ(ParseMoment("15m", kT0), kT0 - 900000);
  EXPECT_EQ(ParseMoment("2h", kT0), kT0 - 7200000);
  EXPECT_EQ(ParseMoment("1d", kT0), kT0 - 86400000);
  for (const char* bad : {"", "h", "5w", "2023-11-14 22:13Z", "2023-13-01T00:00Z",
                          "2023-11-14T22:13:25", "yesterday"})
    EXPECT_EQ(ParseMoment(bad, kT0), std::nullopt) << bad;
}

}  // namespace
}  // namespace pricing
