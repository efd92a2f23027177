#include "replay/nyc_pickups.h"

#include <gtest/gtest.h>

#include "replay/replay.h"
#include "replay/synthetic_drivers.h"
#include "test_util.h"

namespace pricing {
namespace {

TEST(NewYorkTime, UsesDaylightTimeBetweenTheUsSwitchDates) {
  // 2014: DST from Sunday 9 March 02:00 to Sunday 2 November 02:00.
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 4, 1, 0, 11, 0)), "2014-04-01T04:11:00Z");
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 1, 15, 12, 0, 0)), "2014-01-15T17:00:00Z");
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 3, 9, 1, 59, 59)), "2014-03-09T06:59:59Z");
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 3, 9, 3, 0, 0)), "2014-03-09T07:00:00Z");
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 11, 2, 1, 30, 0)),
            "2014-11-02T05:30:00Z");  // first reading
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2014, 11, 2, 2, 0, 0)), "2014-11-02T07:00:00Z");
  EXPECT_EQ(FormatUtc(NewYorkLocalToUtcMs(2024, 3, 10, 12, 0, 0)), "2024-03-10T16:00:00Z");
  EXPECT_THROW(NewYorkLocalToUtcMs(2006, 1, 1, 0, 0, 0), std::invalid_argument);
}

TEST(NewYorkTime, ParsesCommandLineTimes) {
  EXPECT_EQ(ParseNewYorkTime("2014-04-01T16:00"), NewYorkLocalToUtcMs(2014, 4, 1, 16, 0, 0));
  EXPECT_EQ(ParseNewYorkTime("2014-04-01 16:00:30"), NewYorkLocalToUtcMs(2014, 4, 1, 16, 0, 30));
  EXPECT_THROW(ParseNewYorkTime("April 1st"), std::invalid_argument);
}

TEST(UberPickups, ReadsEveryRowSortedByTime) {
  const auto rows = ReadUberPickups(test::SourcePath("data/nyc/uber-pickups-2014-04.csv"));
  ASSERT_EQ(rows.size(), 65535u);
  for (std::size_t i = 1; i < rows.size(); ++i) ASSERT_LE(rows[i - 1].ts_ms, rows[i].ts_ms);
  // The file's first row: 2014/4/1 00:11:00 local, 40.769, -73.9549.
  const auto first =
      std::find_if(rows.begin(), rows.end(), [](const Pickup& p) { return p.row == 1; });
  EXPECT_EQ(FormatUtc(first->ts_ms), "2014-04-01T04:11:00Z");
  EXPECT_DOUBLE_EQ(first->lat, 40.769);
  EXPECT_DOUBLE_EQ(first->lon, -73.9549);
}

TEST(UberPickups, RefusesAFileThatIsNotThePickupsCsv) {
  test::TempDir dir;
  EXPECT_THROW(ReadUberPickups(dir.Write("x.csv", "a,b\n1,2\n")), std::runtime_error);
  EXPECT_THROW(ReadUberPickups(dir.Write("y.csv", "Date/Time,Lat,Lon,Base\nyesterday,1,2,B\n")),
               std::runtime_error);
}

TEST(SyntheticFleet, IsReproducibleAndPingsOnSchedule) {
  const std::vector<Pickup> anchors = {{0, 40.75, -73.98, 1}, {0, 40.70, -73.95, 2}};
  FleetOptions o;
  o.drivers = 20;
  o.ping_interval_ms = 30000;
  const auto a = SimulateFleet(o, anchors, 0, 600000);
  const auto b = SimulateFleet(o, anchors, 0, 600000);
  ASSERT_EQ(a.size(), 20u * 20u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].driver_id, b[i].driver_id);
    EXPECT_EQ(a[i].lat, b[i].lat);
    EXPECT_EQ(a[i].status, b[i].status);
  }
  for (std::size_t i = 1; i < a.size(); ++i) ASSERT_LE(a[i - 1].ts_ms, a[i].ts_ms);
  o.seed = 7;
  EXPECT_NE(SimulateFleet(o, anchors, 0, 600000)[0].lat, a[0].lat);
}

// Pickups at `hour` (UTC) of day 0, `n` of them at (lat, lon).
std::vector<Pickup> PickupsAt(int hour, int n, double lat, double lon, uint64_t row = 1) {
  std::vector<Pickup> out;
  for (int i = 0; i < n; ++i) out.push_back({hour * 3'600'000LL + i, lat, lon, row + i});
  return out;
}

int CountStatus(const std::vector<DriverPingRecord>& pings, DriverStatus status) {
  int n = 0;
  for (const auto& p : pings) n += p.status == status ? 1 : 0;
  return n;
}

TEST(SyntheticFleet, IsOnDutyInProportionToTheHoursUsualPickups) {
  std::vector<Pickup> usual = PickupsAt(20, 100, 40.75, -73.98);
  for (const Pickup& p : PickupsAt(3, 25, 40.64, -73.78, 1000)) usual.push_back(p);
  FleetOptions o;
  o.drivers = 40;
  Fleet fleet(o, usual);
  fleet.AdvanceTo(20 * 3'600'000LL);
  EXPECT_EQ(fleet.on_duty(), 40);     // the busiest hour
  fleet.AdvanceTo(27 * 3'600'000LL);  // 03:00 the next day: a quarter of the pickups
  EXPECT_EQ(fleet.on_duty(), 10);
  fleet.AdvanceTo(30 * 3'600'000LL);  // 06:00: none usually, nobody on duty
  EXPECT_EQ(fleet.on_duty(), 0);
}

TEST(SyntheticFleet, ARequestTakesTheNearestIdleDriverForTheTrip) {
  // Everyone waits near one spot; a request there takes one driver, one far away none.
  const std::vector<Pickup> usual = PickupsAt(10, 50, 40.75, -73.98);
  FleetOptions o;
  o.drivers = 5;
  o.ping_interval_ms = 10'000;
  Fleet fleet(o, usual);
  const int64_t t0 = 10 * 3'600'000LL;
  fleet.AdvanceTo(t0);
  EXPECT_TRUE(fleet.Answer(40.751, -73.981));
  EXPECT_FALSE(fleet.Answer(40.90, -73.70));  // about 25 km away: out of reach
  std::vector<DriverPingRecord> pings;
  fleet.AdvanceTo(t0 + 10'000);
  fleet.DuePings(&pings);
  ASSERT_EQ(pings.size(), 5u);
  EXPECT_EQ(CountStatus(pings, DriverStatus::kBusy), 1);
  for (const auto& p : pings) {
    if (p.status == DriverStatus::kBusy) {
      EXPECT_DOUBLE_EQ(p.lat, 40.751);  // at the pickup
    }
  }
  // Five requests for four idle drivers: the fifth goes unserved.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(fleet.Answer(40.75, -73.98)) << i;
  EXPECT_FALSE(fleet.Answer(40.75, -73.98));
  // After the longest trip every one of them is idle again.
  fleet.AdvanceTo(t0 + o.trip_max_ms + 10 * 60'000);
  pings.clear();
  fleet.DuePings(&pings);
  ASSERT_EQ(pings.size(), 5u);
  EXPECT_EQ(CountStatus(pings, DriverStatus::kAvailable), 5);
}

TEST(SyntheticFleet, ReplayedRequestsLeaveFewerIdleDriversWhereTheyHappen) {
  // A fleet waiting near two spots; a burst of requests at one of them.
  std::vector<Pickup> usual = PickupsAt(10, 50, 40.75, -73.98);
  for (const Pickup& p : PickupsAt(10, 50, 40.65, -73.90, 100)) usual.push_back(p);
  std::vector<Pickup> burst;
  for (int i = 0; i < 20; ++i)
    burst.push_back({10 * 3'600'000LL + 60'000 + i * 1000, 40.75, -73.98, 500u + i});
  FleetOptions o;
  o.drivers = 40;
  const int64_t start = 10 * 3'600'000LL, end = start + 5 * 60'000;
  const auto calm = SimulateFleet(o, usual, {}, start, end);
  const auto busy = SimulateFleet(o, usual, burst, start, end);
  EXPECT_EQ(CountStatus(calm, DriverStatus::kBusy), 0);
  EXPECT_GT(CountStatus(busy, DriverStatus::kBusy), 20);  // each taken driver, every ping
}

}  // namespace
}  // namespace pricing
