#include "replay/replay.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "config/config.h"
#include "replay/nyc_pickups.h"
#include "replay/synthetic_drivers.h"
#include "test_util.h"

namespace pricing {
namespace {

std::string RequestLine(const Pickup& p) {
  std::ostringstream os;
  os.precision(17);
  os << R"({"subject":"location.request.nyc","data":{"request_id":"r)" << p.row
     << R"(","rider_id":"u)" << p.row << R"(","lat":)" << p.lat << R"(,"lon":)" << p.lon
     << R"(,"ts":)" << p.ts_ms << "}}";
  return os.str();
}

std::string PingLine(const DriverPingRecord& d) {
  std::ostringstream os;
  os.precision(17);
  os << R"({"subject":"location.driver.nyc","data":{"driver_id":")" << d.driver_id << R"(","lat":)"
     << d.lat << R"(,"lon":)" << d.lon << R"(,"status":")" << ToString(d.status) << R"(","ts":)"
     << d.ts_ms << "}}";
  return os.str();
}

std::vector<Pickup> PickupsBetween(const std::string& from, const std::string& to) {
  auto rows = ReadUberPickups(test::SourcePath("data/nyc/uber-pickups-2014-04.csv"));
  const int64_t a = ParseNewYorkTime(from), b = ParseNewYorkTime(to);
  std::erase_if(rows, [&](const Pickup& p) { return p.ts_ms < a || p.ts_ms >= b; });
  return rows;
}

std::string Replay(const Config& config, const std::string& input, ReplayStats* stats = nullptr) {
  SystemClock clock;
  PricingEngine engine(config.engine(), clock);
  std::istringstream in(input);
  std::ostringstream out;
  const ReplayStats s = RunReplay(engine, in, out);
  if (stats) *stats = s;
  return out.str();
}

Config ReplayConfig() {
  return LoadConfig(test::SourcePath("config/nyc-replay.yaml"), [](auto&) { return std::nullopt; });
}

// Plain even-odd ray casting over a zone's rings: the independent zone test.
bool RayCastContains(const Zone& zone, double x, double y) {
  for (const auto& poly : zone.polygons) {
    bool inside = false;
    for (const auto& ring : poly.rings) {
      for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
        const Point& a = ring[i];
        const Point& b = ring[j];
        if ((a.y > y) != (b.y > y) && x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x)
          inside = !inside;
      }
    }
    if (inside) return true;
  }
  return false;
}

TEST(Replay, DemandEqualsAnIndependentCountOnRealAprilPickups) {
  // Six hours of real pickups on 1 April 2014; ticks every minute over a 10-minute window.
  const auto pickups = PickupsBetween("2014-04-01T06:00", "2014-04-01T12:00");
  ASSERT_GT(pickups.size(), 500u);
  std::string input;
  for (const auto& p : pickups) input += RequestLine(p) + "\n";
  const Config config = ReplayConfig();
  ReplayStats stats;
  const std::string output = Replay(config, input, &stats);
  EXPECT_EQ(stats.applied, pickups.size());

  // Independent count: zone by ray casting (first zone in id order), distinct riders.
  const auto zones =
      ZoneSet::LoadGeoJson(config.cities.at("nyc").zones_path, "LocationID", "zone", 1e-4);
  struct Located {
    int64_t ts;
    std::string rider;
    std::string zone;
  };
  std::vector<Located> located;
  for (const auto& p : pickups) {
    std::string zone;
    for (const Zone& z : zones.zones()) {
      if (RayCastContains(z, p.lon, p.lat)) {
        zone = z.id;
        break;
      }
    }
    if (!zone.empty()) located.push_back({p.ts_ms, "u" + std::to_string(p.row), zone});
  }

  simdjson::dom::parser parser;
  std::istringstream lines(output);
  std::string line;
  std::map<int64_t, std::map<std::string, int64_t>> replayed;  // tick -> zone -> demand
  while (std::getline(lines, line)) {
    const simdjson::dom::element msg = parser.parse(line);
    if (!std::string_view(msg["subject"]).starts_with("pricing.update.")) continue;
    const auto data = msg["data"];
    replayed[int64_t(data["tick"])][std::string(std::string_view(data["zone_id"]))] =
        int64_t(data["demand"]);
  }
  ASSERT_GT(replayed.size(), 300u);  // six hours of minute ticks
  const int64_t w = config.window_ms();
  int64_t nonzero = 0;
  for (const auto& [tick, by_zone] : replayed) {
    ASSERT_EQ(by_zone.size(), 263u);
    std::map<std::string, std::set<std::string>> expected;
    for (const auto& e : located) {
      if (e.ts >= tick - w && e.ts < tick) expected[e.zone].insert(e.rider);
    }
    for (const auto& [zone, demand] : by_zone) {
      const auto it = expected.find(zone);
      const int64_t want = it == expected.end() ? 0 : static_cast<int64_t>(it->second.size());
      ASSERT_EQ(demand, want) << "tick " << FormatUtc(tick) << " zone " << zone;
      nonzero += want > 0;
    }
  }
  EXPECT_GT(nonzero, 1000);  // the comparison saw real demand, not just zeros
}

std::string WithoutWallClockFields(const std::string& text) {
  static const std::regex kWall(R"re(,"(computed_at|compute_ms)":[0-9.e+-]+)re");
  return std::regex_replace(text, kWall, "");
}

TEST(Replay, IsDeterministicApartFromWallClockFields) {
  const auto pickups = PickupsBetween("2014-04-01T17:00", "2014-04-01T18:00");
  FleetOptions fleet;
  fleet.drivers = 150;
  std::vector<std::pair<int64_t, std::string>> lines;
  for (const auto& p : pickups) lines.push_back({p.ts_ms, RequestLine(p)});
  for (const auto& d : SimulateFleet(fleet, pickups, pickups.front().ts_ms, pickups.back().ts_ms)) {
    lines.push_back({d.ts_ms, PingLine(d)});
  }
  std::stable_sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::string input;
  for (const auto& [ts, l] : lines) input += l + "\n";

  ReplayStats stats;
  const std::string first = Replay(ReplayConfig(), input, &stats);
  const std::string second = Replay(ReplayConfig(), input);
  EXPECT_NE(first.find("\"computed_at\""), std::string::npos);
  EXPECT_EQ(WithoutWallClockFields(first), WithoutWallClockFields(second));
  EXPECT_GT(stats.peaks.size(), 0u) << "the demo data should make some zone surge";
  EXPECT_GT(stats.ticks, 50u);
}

TEST(Replay, DeadLettersBadInputAndKeepsGoing) {
  const Config config = ReplayConfig();
  const std::string good =
      R"({"subject":"location.request.nyc","data":{"request_id":"r1","rider_id":"u1","lat":40.7527,"lon":-73.9772,"ts":1396382400000}})";
  const std::string input =
      "this is not json\n"
      R"({"subject":"location.request.nyc","headers":{"Nats-Msg-Id":"r9"},"data":{"request_id":"r9","rider_id":"u9","lat":95,"lon":0,"ts":1396382400000}})"
      "\n"
      R"({"subject":"location.request.nyc","data":"{\"request_id\":"})"
      "\n"
      R"({"subject":"location.request.lyon","data":{"request_id":"r2","rider_id":"u2","lat":45.7,"lon":4.8,"ts":1396382400000}})"
      "\n"
      "\n" +
      good + "\n";
  ReplayStats stats;
  const std::string output = Replay(config, input, &stats);
  EXPECT_EQ(stats.lines, 5u);
  EXPECT_EQ(stats.applied, 1u);
  EXPECT_EQ(stats.rejected[static_cast<int>(RejectReason::kMalformed)], 2u);
  EXPECT_EQ(stats.rejected[static_cast<int>(RejectReason::kRange)], 1u);
  EXPECT_EQ(stats.rejected[static_cast<int>(RejectReason::kUnknownCity)], 1u);

  simdjson::dom::parser parser;
  std::istringstream lines(output);
  std::string line;
  std::vector<std::pair<std::string, std::string>> dead;  // subject, reason
  int updates = 0;
  while (std::getline(lines, line)) {
    const simdjson::dom::element msg = parser.parse(line);
    const std::string_view subject = msg["subject"];
    if (subject.starts_with("dlq.")) {
      dead.push_back({std::string(subject),
                      std::string(std::string_view(msg["headers"]["Pricing-Reject-Reason"]))});
      EXPECT_FALSE(msg["payload"].error());
    }
    updates += subject.starts_with("pricing.update.nyc.");
  }
  ASSERT_EQ(dead.size(), 4u);
  EXPECT_EQ(dead[0], (std::pair<std::string, std::string>{"dlq.location.unknown", "malformed"}));
  EXPECT_EQ(dead[1], (std::pair<std::string, std::string>{"dlq.location.nyc", "range"}));
  EXPECT_EQ(dead[2], (std::pair<std::string, std::string>{"dlq.location.nyc", "malformed"}));
  EXPECT_EQ(dead[3], (std::pair<std::string, std::string>{"dlq.location.lyon", "unknown_city"}));
  // The original id names the dead letter, as on the live DEAD_LETTERS stream.
  EXPECT_NE(output.find(R"("msg_id":"r9")"), std::string::npos);
  EXPECT_EQ(updates, 263);  // the one good event still produced its tick
}

TEST(Replay, SurgeTableListsTheMostSurgingZones) {
  ReplayStats stats;
  stats.lines = 10;
  stats.applied = 9;
  stats.rejected[static_cast<int>(RejectReason::kSchema)] = 1;
  stats.ticks = 3;
  stats.peaks = {{"nyc", "161", "Midtown Center", 1.8, 1396382460000, 9, 1, 3},
                 {"nyc", "132", "JFK Airport", 1.3, 1396382400000, 4, 0, 2}};
  std::ostringstream out;
  PrintSurgeTable(stats, 1, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("10 inputs, 9 applied, 1 rejected (schema: 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("Midtown Center"), std::string::npos);
  EXPECT_NE(text.find("1.80"), std::string::npos);
  EXPECT_NE(text.find("2014-04-01T20:01:00Z"), std::string::npos);
  EXPECT_EQ(text.find("JFK Airport"), std::string::npos);  // top 1 only
}

}  // namespace
}  // namespace pricing
