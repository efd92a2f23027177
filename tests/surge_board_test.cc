#include "gateway/surge_board.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "test_util.h"

namespace pricing {
namespace {

std::shared_ptr<const ZoneSet> Grid() {
  static const auto zones = test::MakeCityZones(test::GridZones(3, 2));
  return std::shared_ptr<const ZoneSet>(zones, &zones->zones);
}

std::string Update(const std::string& zone, int64_t tick, double multiplier, int supply = 4,
                   int demand = 9, const std::string& city = "demo") {
  return R"({"zone_id":")" + zone + R"(","zone_name":"zone )" + zone + R"(","city":")" + city +
         R"(","tick":)" + std::to_string(tick) + R"(,"multiplier":)" + std::to_string(multiplier) +
         R"(,"previous":1,"demand":)" + std::to_string(demand) + R"(,"supply":)" +
         std::to_string(supply) + R"(,"ratio":2.25,"bound":"none","computed_at":1})";
}

std::string Surge(int64_t tick, const std::vector<std::pair<std::string, double>>& changes) {
  std::string s = R"({"city":"demo","tick":)" + std::to_string(tick) +
                  R"(,"config_version":3,"computed_at":5,"changes":[)";
  for (std::size_t i = 0; i < changes.size(); ++i) {
    s += (i ? "," : "") + std::string(R"({"zone_id":")") + changes[i].first + R"(","multiplier":)" +
         std::to_string(changes[i].second) + R"(,"previous":1,"bound":"rate_limit"})";
  }
  return s + "]}";
}

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  return parser.parse(simdjson::padded_string(json)).value();
}

TEST(ZoneFilter, ParsesIdsAndNamesTheFirstUnknownOne) {
  std::string error;
  const auto none = ParseZoneFilter("", *Grid(), &error);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->all());
  const auto some = ParseZoneFilter("2,5,", *Grid(), &error);
  ASSERT_TRUE(some);
  EXPECT_FALSE(some->all());
  EXPECT_TRUE(some->Wants(*Grid()->Find("2")));
  EXPECT_TRUE(some->Wants(*Grid()->Find("5")));
  EXPECT_FALSE(some->Wants(*Grid()->Find("1")));
  EXPECT_FALSE(ParseZoneFilter("2,99", *Grid(), &error));
  EXPECT_EQ(error, "unknown zone '99'");
}

TEST(SurgeBoard, SnapshotHoldsTheNewestStateOfEveryKnownZone) {
  SurgeBoard board("demo", Grid());
  std::string error;
  EXPECT_EQ(board.SnapshotJson({}), R"({"type":"snapshot","city":"demo","tick":0,"zones":[]})");
  ASSERT_TRUE(board.ApplyUpdate(Update("1", 2000, 1.5), &error)) << error;
  ASSERT_TRUE(board.ApplyUpdate(Update("3", 2000, 1.0, 7, 1), &error)) << error;
  // An older update of zone 1 (a replay) changes nothing.
  ASSERT_TRUE(board.ApplyUpdate(Update("1", 1000, 2.9), &error)) << error;
  EXPECT_EQ(board.known_zones(), 2u);
  EXPECT_EQ(board.tick(), 2000);
  simdjson::dom::parser parser;
  const auto snap = Parse(parser, board.SnapshotJson({}));
  EXPECT_EQ(std::string_view(snap["type"]), "snapshot");
  ASSERT_EQ(snap["zones"].get_array().size(), 2u);
  const auto z1 = snap["zones"].at(0);
  EXPECT_EQ(std::string_view(z1["zone_id"]), "1");
  EXPECT_EQ(std::string_view(z1["zone_name"]), "zone 1");
  EXPECT_DOUBLE_EQ(double(z1["multiplier"]), 1.5);
  EXPECT_EQ(int64_t(z1["supply"]), 4);
  EXPECT_EQ(int64_t(z1["demand"]), 9);
  EXPECT_DOUBLE_EQ(double(z1["ratio"]), 2.25);
  EXPECT_EQ(int64_t(z1["tick"]), 2000);
  // The latest full update is kept verbatim for the hover explanation.
  EXPECT_EQ(board.LatestUpdate(*Grid()->Find("1")), Update("1", 2000, 1.5));
  EXPECT_EQ(board.LatestUpdate(*Grid()->Find("2")), "");
  // A filter keeps only its zones.
  std::string e2;
  const auto only3 = ParseZoneFilter("3", *Grid(), &e2);
  const auto snap3 = Parse(parser, board.SnapshotJson(*only3));
  ASSERT_EQ(snap3["zones"].get_array().size(), 1u);
  EXPECT_EQ(std::string_view(snap3["zones"].at(0)["zone_id"]), "3");
}

TEST(SurgeBoard, ChangesApplyByTickInEitherOrderWithUpdates) {
  SurgeBoard board("demo", Grid());
  std::string error;
  ASSERT_TRUE(board.ApplyUpdate(Update("2", 1000, 1.2), &error));
  const auto c = board.ApplySurge(Surge(2000, {{"2", 1.4}, {"4", 1.1}}), &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->tick, 2000);
  EXPECT_EQ(c->config_version, 3);
  ASSERT_EQ(c->changes.size(), 2u);
  EXPECT_EQ(c->changes[0].zone, *Grid()->Find("2"));
  EXPECT_EQ(c->changes[0].bound, "rate_limit");
  // The change is newer than the update: the multiplier moves, supply and demand stay
  // those of the last update until tick 2000's own update arrives.
  simdjson::dom::parser parser;
  auto snap = Parse(parser, board.SnapshotJson({}));
  ASSERT_EQ(snap["zones"].get_array().size(), 2u);
  EXPECT_DOUBLE_EQ(double(snap["zones"].at(0)["multiplier"]), 1.4);
  EXPECT_EQ(int64_t(snap["zones"].at(0)["tick"]), 2000);
  // Tick 2000's update arrives after its change: same multiplier, fresh counts.
  ASSERT_TRUE(board.ApplyUpdate(Update("2", 2000, 1.4, 3, 11), &error));
  // An old change (tick 1000) does not roll the zone back.
  ASSERT_TRUE(board.ApplySurge(Surge(1000, {{"2", 1.2}}), &error));
  snap = Parse(parser, board.SnapshotJson({}));
  EXPECT_DOUBLE_EQ(double(snap["zones"].at(0)["multiplier"]), 1.4);
  EXPECT_EQ(int64_t(snap["zones"].at(0)["demand"]), 11);
}

// Surge events name only zones whose multiplier changed: a zone's first price is
// handed back as a change, so clients connected before it still learn it.
TEST(SurgeBoard, AZonesFirstPriceIsReturnedAsAChangeOnce) {
  SurgeBoard board("demo", Grid());
  std::string error;
  std::optional<SurgeChanges> first;
  ASSERT_TRUE(board.ApplyUpdate(Update("3", 2000, 1.0), &error, &first)) << error;
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->city, "demo");
  EXPECT_EQ(first->tick, 2000);
  ASSERT_EQ(first->changes.size(), 1u);
  EXPECT_DOUBLE_EQ(first->changes[0].multiplier, 1.0);
  EXPECT_EQ(ChangesJson(*first, *Grid(), {}).has_value(), true);
  first.reset();
  ASSERT_TRUE(board.ApplyUpdate(Update("3", 4000, 1.2), &error, &first)) << error;
  EXPECT_FALSE(first.has_value()) << "only the first price of a zone";
  ASSERT_TRUE(board.ApplyUpdate(Update("1", 4000, 1.3), &error, &first)) << error;
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->changes[0].zone, *Grid()->Find("1"));
}

TEST(SurgeBoard, RefusesInvalidMessagesWholeWithAReason) {
  SurgeBoard board("demo", Grid());
  std::string error;
  EXPECT_FALSE(board.ApplyUpdate("not json", &error));
  EXPECT_EQ(error, "not a JSON object");
  EXPECT_FALSE(board.ApplyUpdate(Update("1", 1000, 1.5, 4, 9, "nyc"), &error));
  EXPECT_EQ(error, "city 'nyc' is not 'demo'");
  EXPECT_FALSE(board.ApplyUpdate(Update("77", 1000, 1.5), &error));
  EXPECT_EQ(error, "unknown zone '77'");
  EXPECT_FALSE(board.ApplyUpdate(R"({"city":"demo","zone_id":"1","tick":1})", &error));
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  // One bad change spoils the message: nothing of it is applied.
  EXPECT_FALSE(board.ApplySurge(Surge(1000, {{"1", 1.5}, {"99", 2.0}}), &error));
  EXPECT_EQ(error, "unknown zone '99'");
  EXPECT_EQ(board.known_zones(), 0u);
  EXPECT_FALSE(board.ApplySurge(R"({"city":"demo","tick":1})", &error));
  EXPECT_EQ(error, "'changes' missing or not an array");
}

TEST(ChangesJson, EncodesWhatTheFilterWants) {
  SurgeBoard board("demo", Grid());
  std::string error;
  const auto c = board.ApplySurge(Surge(3000, {{"1", 1.3}, {"6", 2.0}}), &error);
  ASSERT_TRUE(c);
  simdjson::dom::parser parser;
  const auto all = ChangesJson(*c, *Grid(), {});
  ASSERT_TRUE(all);
  const auto e = Parse(parser, *all);
  EXPECT_EQ(std::string_view(e["type"]), "changes");
  EXPECT_EQ(int64_t(e["tick"]), 3000);
  EXPECT_EQ(int64_t(e["computed_at"]), 5);
  ASSERT_EQ(e["changes"].get_array().size(), 2u);
  EXPECT_EQ(std::string_view(e["changes"].at(1)["zone_id"]), "6");
  EXPECT_DOUBLE_EQ(double(e["changes"].at(1)["multiplier"]), 2.0);
  const auto six = ParseZoneFilter("6", *Grid(), &error);
  const auto mine = ChangesJson(*c, *Grid(), *six);
  ASSERT_TRUE(mine);
  EXPECT_EQ(Parse(parser, *mine)["changes"].get_array().size(), 1u);
  const auto two = ParseZoneFilter("2", *Grid(), &error);
  EXPECT_FALSE(ChangesJson(*c, *Grid(), *two)) << "nothing for zone 2 in this tick";
  // A tick without changes still tells unfiltered clients that prices are fresh.
  const auto quiet = board.ApplySurge(Surge(4000, {}), &error);
  ASSERT_TRUE(quiet);
  EXPECT_TRUE(ChangesJson(*quiet, *Grid(), {}));
  EXPECT_FALSE(ChangesJson(*quiet, *Grid(), *six));
}

TEST(MapGeoJson, SimplifiesTheRealZonesIntoValidCompactGeoJson) {
  const auto nyc = test::NycZones();
  const std::string geo = MapGeoJson(nyc->zones);
  EXPECT_LT(geo.size(), 1'000'000u) << "the 4 MB source must shrink for the browser";
  simdjson::dom::parser parser;
  const auto doc = Parse(parser, geo);
  EXPECT_EQ(std::string_view(doc["type"]), "FeatureCollection");
  const auto features = doc["features"].get_array();
  ASSERT_EQ(features.size(), nyc->zones.size());
  std::size_t points = 0;
  for (const auto f : features) {
    EXPECT_EQ(std::string_view(f["geometry"]["type"]), "MultiPolygon");
    const std::string id{std::string_view(f["properties"]["zone_id"])};
    const auto z = nyc->zones.Find(id);
    ASSERT_TRUE(z) << id;
    const Zone& zone = nyc->zones.zone(*z);
    EXPECT_EQ(std::string_view(f["properties"]["zone_name"]), zone.name);
    EXPECT_EQ(f["geometry"]["coordinates"].get_array().size(), zone.polygons.size());
    for (const auto poly : f["geometry"]["coordinates"].get_array()) {
      for (const auto ring : poly.get_array()) {
        const auto pts = ring.get_array();
        ASSERT_GE(pts.size(), 4u) << "zone " << id << ": a ring needs at least a triangle";
        points += pts.size();
        // Every point stays within the zone's bounding box (rounding aside).
        for (const auto p : pts) {
          EXPECT_GE(double(p.at(0)), zone.bbox.min_x - 1e-5);
          EXPECT_LE(double(p.at(0)), zone.bbox.max_x + 1e-5);
          EXPECT_GE(double(p.at(1)), zone.bbox.min_y - 1e-5);
          EXPECT_LE(double(p.at(1)), zone.bbox.max_y + 1e-5);
        }
      }
    }
  }
  EXPECT_GT(points, 5000u) << "simplified too far to draw";
}

}  // namespace
}  // namespace pricing
