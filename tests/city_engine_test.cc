#include "engine/city_engine.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>

#include "common/json_writer.h"
#include "engine/outputs.h"
#include "engine/pricing_engine.h"
#include "test_util.h"

namespace pricing {
namespace {

constexpr int64_t kT = 1'700'000'000'000;

TimingParams Timing() { return {5000, 30000, 1000, 10000}; }

std::string Ping(const std::string& id, double x, double y, const char* status, int64_t ts) {
  return R"({"driver_id":")" + id + R"(","lat":)" + std::to_string(y) + R"(,"lon":)" +
         std::to_string(x) + R"(,"status":")" + status + R"(","ts":)" + std::to_string(ts) + "}";
}

std::string Request(const std::string& rider, double x, double y, int64_t ts) {
  return R"({"request_id":"r-)" + rider + std::to_string(ts) + R"(","rider_id":")" + rider +
         R"(","lat":)" + std::to_string(y) + R"(,"lon":)" + std::to_string(x) + R"(,"ts":)" +
         std::to_string(ts) + "}";
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : engine_(Timing(), clock_) {
    // Two 0.01-degree squares side by side: ids 1 (x 0..0.01) and 2 (x 0.01..0.02).
    engine_.AddCity("demo", test::MakeCityZones(test::GridZones(2, 1)), ModelParams{});
  }
  ManualClock clock_{kT};
  PricingEngine engine_;
};

TEST_F(EngineTest, FirstEventStartsTheClockAtTheNextTick) {
  ASSERT_TRUE(
      engine_.Ingest("location.request.demo", Request("u", 0.005, 0.005, kT + 1200), 1).ok());
  EXPECT_EQ(engine_.city("demo")->next_tick(), kT + 5000);
}

TEST_F(EngineTest, TickClosesOnceTheWatermarkReachesTickPlusLateness) {
  engine_.Ingest("location.request.demo", Request("u", 0.005, 0.005, kT + 1200), 1);
  EXPECT_TRUE(engine_.AdvanceWatermark(kT + 5000 + 999).empty());
  auto ticks = engine_.AdvanceWatermark(kT + 5000 + 1000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].tick, kT + 5000);
  EXPECT_EQ(ticks[0].window_start, kT + 5000 - 30000);
  EXPECT_EQ(ticks[0].zones.demand[0], 1);
  // Several ticks at once when the watermark jumps.
  EXPECT_EQ(engine_.AdvanceWatermark(kT + 26000).size(), 4u);
}

TEST_F(EngineTest, EventsWithinTheLatenessStillCountForTheTick) {
  engine_.Ingest("location.request.demo", Request("a", 0.005, 0.005, kT + 1000), 1);
  engine_.AdvanceWatermark(kT + 5500);  // tick kT+5000 not yet closed
  engine_.Ingest("location.request.demo", Request("b", 0.005, 0.005, kT + 4999), 2);
  auto ticks = engine_.AdvanceWatermark(kT + 6000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].zones.demand[0], 2);
  EXPECT_EQ(ticks[0].input_seqs.first, 1u);
  EXPECT_EQ(ticks[0].input_seqs.last, 2u);
}

TEST_F(EngineTest, LateEventsAreCountedAndDropped) {
  engine_.Ingest("location.request.demo", Request("a", 0.005, 0.005, kT + 1000), 1);
  engine_.AdvanceWatermark(kT + 6000);  // next tick kT+10000: window starts at kT-20000
  const auto late =
      engine_.Ingest("location.request.demo", Request("b", 0.005, 0.005, kT - 20001), 2);
  EXPECT_EQ(late.reason, RejectReason::kLate);
  EXPECT_TRUE(
      engine_.Ingest("location.request.demo", Request("c", 0.005, 0.005, kT - 20000), 3).ok());
  auto ticks = engine_.AdvanceWatermark(kT + 11000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].stats.rejected[static_cast<int>(RejectReason::kLate)], 1u);
  EXPECT_EQ(ticks[0].stats.read[static_cast<int>(EventKind::kRideRequest)], 2u);
}

TEST_F(EngineTest, FutureEventsAreRejectedOnlyAgainstAWallClock) {
  engine_.city("demo")->StartAt(kT);
  const auto far = Request("a", 0.005, 0.005, kT + 10001);
  EXPECT_EQ(engine_.Ingest("location.request.demo", far, 1, kT).reason, RejectReason::kFuture);
  EXPECT_TRUE(
      engine_.Ingest("location.request.demo", Request("b", 0.005, 0.005, kT + 10000), 2, kT).ok());
  EXPECT_TRUE(engine_.Ingest("location.request.demo", far, 3).ok());  // replay: no wall clock
}

TEST_F(EngineTest, BadInputsAreRejectedWithTheirReasonAndCounted) {
  engine_.Ingest("location.request.demo", Request("a", 0.005, 0.005, kT), 1);
  EXPECT_EQ(engine_.Ingest("location.request.paris", Request("a", 0, 0, kT), 2).reason,
            RejectReason::kUnknownCity);
  EXPECT_EQ(engine_.Ingest("location.taxi.demo", "{}", 3).reason, RejectReason::kSchema);
  EXPECT_EQ(engine_.Ingest("location.driver.demo", "not json", 4).reason, RejectReason::kMalformed);
  EXPECT_EQ(engine_.Ingest("location.driver.demo", std::string(5000, ' '), 5).reason,
            RejectReason::kOversize);
  EXPECT_EQ(engine_.Ingest("location.driver.demo", Ping("d", 0, 91, "available", kT), 6).reason,
            RejectReason::kRange);
  // Unzoned is applied, not rejected.
  EXPECT_TRUE(engine_.Ingest("location.driver.demo", Ping("d", 5, 5, "available", kT), 7).ok());
  EXPECT_EQ(engine_.unrouted_rejects()[static_cast<int>(RejectReason::kUnknownCity)], 1u);
  auto ticks = engine_.AdvanceWatermark(kT + 6000);
  ASSERT_EQ(ticks.size(), 1u);
  const TickStats& s = ticks[0].stats;
  EXPECT_EQ(s.rejected[static_cast<int>(RejectReason::kMalformed)], 1u);
  EXPECT_EQ(s.rejected[static_cast<int>(RejectReason::kOversize)], 1u);
  EXPECT_EQ(s.rejected[static_cast<int>(RejectReason::kRange)], 1u);
  EXPECT_EQ(s.unzoned, 1u);
  EXPECT_EQ(s.read[static_cast<int>(EventKind::kDriverPing)], 4u);
}

TEST_F(EngineTest, FinishClosesUpToTheFirstTickAfterTheLastEvent) {
  engine_.Ingest("location.request.demo", Request("a", 0.005, 0.005, kT + 1000), 1);
  engine_.Ingest("location.request.demo", Request("b", 0.005, 0.005, kT + 12000), 2);
  auto ticks = engine_.AdvanceWatermark(*engine_.max_event_ts());
  ASSERT_EQ(ticks.size(), 2u);  // kT+5000 and kT+10000: each needs watermark >= tick + 1000
  ticks = engine_.Finish();
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].tick, kT + 15000);  // the first tick after the last event, whose window has it
  EXPECT_EQ(ticks[0].zones.demand[0], 2);
  EXPECT_TRUE(engine_.Finish().empty());
}

TEST_F(EngineTest, ConfigVersionIsStampedFromTheNextTick) {
  engine_.Ingest("location.request.demo", Request("a", 0.005, 0.005, kT + 1000), 1);
  ModelParams p;
  p.cap = 2;
  engine_.city("demo")->Reconfigure(p, {}, 7);
  auto ticks = engine_.AdvanceWatermark(kT + 6000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].config_version, 7);
}

TEST_F(EngineTest, EncodesTheOutputsOfEventsMd) {
  for (int i = 0; i < 8; ++i) {
    engine_.Ingest("location.request.demo",
                   Request("u" + std::to_string(i), 0.015, 0.005, kT + 100), 10 + i);
  }
  auto ticks = engine_.AdvanceWatermark(kT + 6000);
  ASSERT_EQ(ticks.size(), 1u);
  const auto messages = EncodeTick(ticks[0], engine_.city("demo")->zones());
  ASSERT_EQ(messages.size(), 4u);  // 2 zones + surge + analytics
  EXPECT_EQ(messages[0].subject, "pricing.update.demo.1");
  EXPECT_EQ(messages[0].msg_id, "demo:1:" + std::to_string(kT + 5000));
  EXPECT_EQ(messages[1].subject, "pricing.update.demo.2");
  EXPECT_EQ(messages[2].subject, "ws.surge.demo");
  EXPECT_EQ(messages[2].msg_id, "demo:" + std::to_string(kT + 5000));
  EXPECT_EQ(messages[3].subject, "analytics.tick.demo");

  simdjson::dom::parser parser;
  const simdjson::dom::element update = parser.parse(simdjson::padded_string(messages[1].payload));
  for (const char* field : {"zone_id",
                            "zone_name",
                            "multiplier",
                            "previous",
                            "demand",
                            "supply",
                            "demand_smoothed",
                            "supply_smoothed",
                            "ratio",
                            "target",
                            "raw",
                            "bound",
                            "tick",
                            "window_start",
                            "window_end",
                            "computed_at",
                            "model",
                            "config_version",
                            "input_seq_first",
                            "input_seq_last"}) {
    EXPECT_FALSE(update[field].error()) << "missing " << field << " in " << messages[1].payload;
  }
  EXPECT_EQ(int64_t(update["demand"]), 8);
  EXPECT_EQ(uint64_t(update["input_seq_first"]), 10u);
  EXPECT_EQ(uint64_t(update["input_seq_last"]), 17u);
  EXPECT_EQ(std::string_view(update["bound"]), "rate_limit");
  EXPECT_EQ(double(update["multiplier"]), 1.3);

  // Only zones whose published multiplier changed are listed in the surge event.
  const simdjson::dom::element surge = parser.parse(simdjson::padded_string(messages[2].payload));
  const simdjson::dom::array changes = surge["changes"];
  ASSERT_EQ(changes.size(), 2u);  // zone 2 surges, zone 1 through smoothing
  const simdjson::dom::element analytics =
      parser.parse(simdjson::padded_string(messages[3].payload));
  EXPECT_EQ(int64_t(analytics["zones_surging"]), 2);
  EXPECT_EQ(uint64_t(analytics["events_read"]["request"]), 8u);
  EXPECT_EQ(uint64_t(analytics["rejected"]["malformed"]), 0u);
  EXPECT_FALSE(analytics["compute_ms"].error());

  // The next tick with nothing new: multipliers still move (time smoothing), ids follow.
  ticks = engine_.AdvanceWatermark(kT + 11000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(EncodeTick(ticks[0], engine_.city("demo")->zones())[0].msg_id,
            "demo:1:" + std::to_string(kT + 10000));
}

// The zone updates are written by hand for speed: the text must be what JsonWriter
// writes, for every kind of number (integers either side of the fixed/exponent switch,
// negative zero, tiny and not finite values) and for names that need escaping.
TEST(EncodeTick, ZoneUpdatesAreTheTextJsonWriterWrites) {
  std::vector<Zone> grid = test::GridZones(10, 1);
  grid[3].name = "Quote \" and \\ back\tslash";
  const auto city = test::MakeCityZones(std::move(grid));
  const std::vector<double> values = {1.0, 999.0, 1000.0,  100000.0, -0.0,
                                      0.1, 1e-7,  123.456, -3.0,     std::nan("")};
  TickResult t;
  t.city = "demo";
  t.tick = kT;
  t.window_start = kT - 30000;
  t.window_end = kT;
  t.model = "ratio-v1";
  t.config_version = 3;
  t.input_seqs = {5, 9};
  t.computed_at_ms = kT + 12;
  const auto n = static_cast<Eigen::Index>(values.size());
  ModelOutput& m = t.zones;
  for (Eigen::VectorXd* v : {&m.supply, &m.demand, &m.supply_smoothed, &m.demand_smoothed, &m.ratio,
                             &m.target, &m.raw, &m.multiplier, &m.previous}) {
    v->resize(n);
  }
  m.bound.assign(values.size(), Bound::kNone);
  for (Eigen::Index z = 0; z < n; ++z) {
    const double v = values[static_cast<std::size_t>(z)];
    m.multiplier[z] = v;
    m.previous[z] = -v;
    m.supply[z] = static_cast<double>(z);
    m.demand[z] = static_cast<double>(2 * z);
    m.supply_smoothed[z] = v / 3;
    m.demand_smoothed[z] = v * 7;
    m.ratio[z] = v + 0.5;
    m.target[z] = v;
    m.raw[z] = v * 1e9;
  }
  const auto messages = EncodeTick(t, city->zones);
  for (Eigen::Index z = 0; z < n; ++z) {
    const Zone& zone = city->zones.zone(static_cast<ZoneIndexT>(z));
    std::string want;
    JsonWriter w(&want);
    w.BeginObject().Key("zone_id").String(zone.id).Key("zone_name").String(zone.name);
    w.Key("city").String(t.city).Key("tick").Int(t.tick).Key("window_start").Int(t.window_start);
    w.Key("window_end").Int(t.window_end).Key("model").String(t.model);
    w.Key("config_version").Int(t.config_version);
    w.Key("multiplier").Double(m.multiplier[z]).Key("previous").Double(m.previous[z]);
    w.Key("demand").Int(static_cast<int64_t>(m.demand[z]));
    w.Key("supply").Int(static_cast<int64_t>(m.supply[z]));
    w.Key("demand_smoothed").Double(m.demand_smoothed[z]);
    w.Key("supply_smoothed").Double(m.supply_smoothed[z]);
    w.Key("ratio").Double(m.ratio[z]).Key("target").Double(m.target[z]);
    w.Key("raw").Double(m.raw[z]).Key("bound").String("none");
    w.Key("input_seq_first").Uint(5).Key("input_seq_last").Uint(9);
    w.Key("computed_at").Int(t.computed_at_ms).EndObject();
    EXPECT_EQ(messages[static_cast<std::size_t>(z)].payload, want) << "zone " << z;
    EXPECT_EQ(messages[static_cast<std::size_t>(z)].msg_id,
              "demo:" + zone.id + ":" + std::to_string(kT));
  }
}

TEST(CityEngine, CityWithoutEventsStartsWithTheFirstEventOfAnyCity) {
  ManualClock clock(kT);
  PricingEngine engine(Timing(), clock);
  engine.AddCity("a", test::MakeCityZones(test::GridZones(1, 1)), ModelParams{});
  engine.AddCity("b", test::MakeCityZones(test::GridZones(1, 1)), ModelParams{});
  engine.Ingest("location.request.a", Request("u", 0.005, 0.005, kT + 100), 1);
  const auto ticks = engine.AdvanceWatermark(kT + 6000);
  ASSERT_EQ(ticks.size(), 2u);
  EXPECT_EQ(ticks[0].city, "a");
  EXPECT_EQ(ticks[1].city, "b");
  EXPECT_EQ(ticks[1].tick, ticks[0].tick);
}

}  // namespace
}  // namespace pricing
