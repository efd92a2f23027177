#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <sstream>

#include "test_util.h"

namespace pricing {
namespace {

using test::RectZone;

double Value(const std::string& scrape, const std::string& series) {
  return test::MetricValue(scrape, series);
}

TEST(Metrics, CountsInputsByCityKindAndReason) {
  Metrics m;
  m.EventRead("nyc", EventKind::kDriverPing);
  m.EventRead("nyc", EventKind::kDriverPing);
  m.EventRead("nyc", EventKind::kRideRequest);
  m.EventRead("", EventKind::kDriverPing);  // the subject named no city
  m.EventRejected("nyc", RejectReason::kLate);
  m.EventRejected("", RejectReason::kUnknownCity);
  m.EventRejected("nyc", RejectReason::kNone);  // not a rejection: ignored
  m.EventsUnzoned("nyc", 3);
  m.DeadLettered("nyc");
  const std::string s = m.Scrape();
  EXPECT_EQ(Value(s, R"(pricing_events_read_total{city="nyc",kind="driver"})"), 2);
  EXPECT_EQ(Value(s, R"(pricing_events_read_total{city="nyc",kind="request"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_events_read_total{city="unknown",kind="driver"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_events_rejected_total{city="nyc",reason="late"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_events_rejected_total{city="nyc",reason="future"})"), 0);
  EXPECT_EQ(Value(s, R"(pricing_events_rejected_total{city="unknown",reason="unknown_city"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_events_unzoned_total{city="nyc"})"), 3);
  EXPECT_EQ(Value(s, R"(pricing_dead_letters_total{city="nyc"})"), 1);
  EXPECT_NE(s.find("# TYPE pricing_events_read_total counter"), std::string::npos);
  EXPECT_NE(s.find("pricing_build_info{"), std::string::npos);
}

TEST(Metrics, TicksLatencyAndZoneSeries) {
  Metrics m;
  const auto zones =
      ZoneSet::FromZones({RectZone("1", 0, 0, 1, 1), RectZone("2", 2, 0, 3, 1)}, 1e-4);
  const double q[] = {1.0, 1.7}, supply[] = {4, 1}, demand[] = {2, 5};
  m.TickClosed("nyc", 0.00002, 1'700'000'005'000);
  m.ZoneValues("nyc", zones, q, supply, demand);
  m.EventToPublish("nyc", 2.2);
  m.EventToPublish("nyc", 0.3);
  const std::string s = m.Scrape();
  EXPECT_EQ(Value(s, R"(pricing_ticks_closed_total{city="nyc"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_tick_compute_seconds_count{city="nyc"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_last_tick_timestamp_seconds{city="nyc"})"), 1'700'000'005.0);
  EXPECT_EQ(Value(s, R"(pricing_event_to_publish_seconds_count{city="nyc"})"), 2);
  EXPECT_EQ(Value(s, R"(pricing_event_to_publish_seconds_bucket{city="nyc",le="0.5"})"), 1);
  EXPECT_EQ(Value(s, R"(pricing_event_to_publish_seconds_bucket{city="nyc",le="3"})"), 2);
  EXPECT_EQ(Value(s, R"(pricing_zone_multiplier{city="nyc",zone="2"})"), 1.7);
  EXPECT_EQ(Value(s, R"(pricing_zone_supply_drivers{city="nyc",zone="1"})"), 4);
  EXPECT_EQ(Value(s, R"(pricing_zone_demand_riders{city="nyc",zone="2"})"), 5);
}

TEST(Metrics, PerZoneSeriesAreBoundedAndCanBeSwitchedOff) {
  const auto zones =
      ZoneSet::FromZones({RectZone("1", 0, 0, 1, 1), RectZone("2", 2, 0, 3, 1)}, 1e-4);
  const double v[] = {1, 1};
  Metrics too_many(MetricsOptions{true, 1});
  too_many.ZoneValues("nyc", zones, v, v, v);
  EXPECT_EQ(too_many.Scrape().find("pricing_zone_multiplier{"), std::string::npos);
  Metrics off(MetricsOptions{false, 2000});
  off.ZoneValues("nyc", zones, v, v, v);
  EXPECT_EQ(off.Scrape().find("pricing_zone_multiplier{"), std::string::npos);
}

TEST(Metrics, PublishTotalsOnlyMoveForwardAndHooksRunOnScrape) {
  Metrics m;
  uint64_t acked = 5;
  m.AddScrapeHook([&] { m.PublishTotals(acked, 1, 2, 1, 0, 7); });
  EXPECT_EQ(Value(m.Scrape(), "pricing_publish_acked_total"), 5);
  acked = 9;
  EXPECT_EQ(Value(m.Scrape(), "pricing_publish_acked_total"), 9);
  acked = 3;  // a counter never goes back
  const std::string s = m.Scrape();
  EXPECT_EQ(Value(s, "pricing_publish_acked_total"), 9);
  EXPECT_EQ(Value(s, "pricing_publish_retries_total"), 2);
  EXPECT_EQ(Value(s, "pricing_publish_in_flight_messages"), 7);
}

TEST(Metrics, HealthAndStateGauges) {
  Metrics m;
  m.StreamState("LOCATION_EVENTS", 12, 3400);
  m.ConsumerState(5, 2, 1);
  m.Connection(true, 1, 1);
  m.Health("consumer_lag", false);
  m.Ready(false);
  m.WebSocketDropped("slow_client");
  const std::string s = m.Scrape();
  EXPECT_EQ(Value(s, R"(pricing_stream_messages{stream="LOCATION_EVENTS"})"), 12);
  EXPECT_EQ(Value(s, R"(pricing_stream_bytes{stream="LOCATION_EVENTS"})"), 3400);
  EXPECT_EQ(Value(s, "pricing_consumer_pending_messages"), 5);
  EXPECT_EQ(Value(s, "pricing_nats_connected"), 1);
  EXPECT_EQ(Value(s, "pricing_nats_reconnects_total"), 1);
  EXPECT_EQ(Value(s, R"(pricing_health_check_ok{check="consumer_lag"})"), 0);
  EXPECT_EQ(Value(s, "pricing_ready"), 0);
  EXPECT_EQ(Value(s, R"(pricing_websocket_dropped_total{reason="slow_client"})"), 1);
}

}  // namespace
}  // namespace pricing
