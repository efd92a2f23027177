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

}  // namespace
}  // namespace pricing
