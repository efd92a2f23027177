#include "zones/zone_set.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "test_util.h"

namespace pricing {
namespace {

using test::RectZone;
using test::TempDir;

std::vector<std::string> NeighborIds(const ZoneSet& set, const std::string& id) {
  std::vector<std::string> out;
  for (ZoneIndexT n : set.neighbors(*set.Find(id))) out.push_back(set.zone(n).id);
  return out;
}

TEST(ZoneSet, LoadsRealNycTaxiZones) {
  const auto set = ZoneSet::LoadGeoJson(test::SourcePath("data/nyc/taxi_zones.geojson"),
                                        "LocationID", "zone", 1e-4);
  ASSERT_EQ(set.size(), 263u);
  EXPECT_EQ(set.zone(0).id, "1");
  EXPECT_EQ(set.zone(0).name, "Newark Airport");
  EXPECT_EQ(set.zone(262).id, "263");
  const auto jfk = set.Find("132");
  ASSERT_TRUE(jfk.has_value());
  EXPECT_EQ(set.zone(*jfk).name, "JFK Airport");
  // Midtown Center (161) borders Midtown East (162) and Midtown North (163).
  const auto n161 = NeighborIds(set, "161");
  EXPECT_NE(std::find(n161.begin(), n161.end(), "162"), n161.end());
  EXPECT_NE(std::find(n161.begin(), n161.end(), "163"), n161.end());
  EXPECT_EQ(std::find(n161.begin(), n161.end(), "132"), n161.end());
  // Neighbourhood is symmetric when computed.
  for (std::size_t z = 0; z < set.size(); ++z) {
    for (ZoneIndexT n : set.neighbors(static_cast<ZoneIndexT>(z))) {
      const auto back = set.neighbors(n);
      EXPECT_NE(std::find(back.begin(), back.end(), static_cast<ZoneIndexT>(z)), back.end());
    }
  }
}

TEST(ZoneSet, RanksZonesInTieOrderWithNumericIds) {
  const auto set = ZoneSet::FromZones(
      {RectZone("10", 0, 0, 1, 1), RectZone("9", 2, 0, 3, 1), RectZone("100", 4, 0, 5, 1)}, 1e-4);
  EXPECT_EQ(set.zone(0).id, "9");
  EXPECT_EQ(set.zone(1).id, "10");
  EXPECT_EQ(set.zone(2).id, "100");
}

TEST(ZoneSet, RefusesDuplicateIds) {
  try {
    ZoneSet::FromZones({RectZone("7", 0, 0, 1, 1), RectZone("7", 2, 0, 3, 1)}, 1e-4, "f.geojson");
    FAIL() << "duplicate id accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "f.geojson: zone id '7' appears more than once; ids must be unique within a city");
  }
}

TEST(ZoneSet, NeighboursAreZonesWithinTolerance) {
  // 1 and 2 share an edge; 3 touches 2 at a corner only; 4 is 0.5e-4 away from 3;
  // 5 is 2e-4 away from 4.
  const auto set = ZoneSet::FromZones(
      {RectZone("1", 0, 0, 1, 1), RectZone("2", 1, 0, 2, 1), RectZone("3", 2, 1, 3, 2),
       RectZone("4", 3.00005, 1, 4, 2), RectZone("5", 4.0002, 1, 5, 2)},
      1e-4);
  EXPECT_EQ(NeighborIds(set, "1"), (std::vector<std::string>{"2"}));
  EXPECT_EQ(NeighborIds(set, "2"), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(NeighborIds(set, "3"), (std::vector<std::string>{"2", "4"}));
  EXPECT_EQ(NeighborIds(set, "4"), (std::vector<std::string>{"3"}));
  EXPECT_TRUE(NeighborIds(set, "5").empty());
}

TEST(ZoneSet, ZoneInsideAnotherIsItsNeighbour) {
  const auto set =
      ZoneSet::FromZones({RectZone("1", 0, 0, 10, 10), RectZone("2", 4, 4, 5, 5)}, 1e-4);
  EXPECT_EQ(NeighborIds(set, "2"), (std::vector<std::string>{"1"}));
}

TEST(ZoneSet, ExplicitNeighboursReplaceTheComputedSet) {
  auto a = RectZone("1", 0, 0, 1, 1);
  a.explicit_neighbors = std::vector<std::string>{"3"};
  const auto set =
      ZoneSet::FromZones({a, RectZone("2", 1, 0, 2, 1), RectZone("3", 5, 5, 6, 6)}, 1e-4);
  EXPECT_EQ(NeighborIds(set, "1"), (std::vector<std::string>{"3"}));
  EXPECT_EQ(NeighborIds(set, "2"), (std::vector<std::string>{"1"}));  // still computed
}

TEST(ZoneSet, LoadsMultiPolygonsWithHolesAndExplicitNeighbours) {
  TempDir dir;
  const auto path = dir.Write("zones.geojson", R"({"type":"FeatureCollection","features":[
    {"type":"Feature","properties":{"code":"A","label":"Ring"},"geometry":{"type":"Polygon",
     "coordinates":[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[3,1],[3,3],[1,3],[1,1]]]}},
    {"type":"Feature","properties":{"code":"B","neighbors":["A"]},"geometry":{"type":"MultiPolygon",
     "coordinates":[[[[10,10],[11,10],[11,11],[10,10]]],[[[20,20],[21,20],[21,21],[20,21]]]]}}]})");
  const auto set = ZoneSet::LoadGeoJson(path, "code", "label", 1e-4);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set.zone(0).polygons[0].rings.size(), 2u);
  EXPECT_EQ(set.zone(1).polygons.size(), 2u);
  EXPECT_EQ(set.zone(1).name, "B");  // no name property: the id
  // An unclosed ring is closed on load.
  EXPECT_EQ(set.zone(1).polygons[1].rings[0].size(), 5u);
  EXPECT_EQ(NeighborIds(set, "B"), (std::vector<std::string>{"A"}));
}

TEST(ZoneSet, RefusesBrokenFilesNamingTheProblem) {
  TempDir dir;
  const auto expect_error = [&](const std::string& body, const std::string& fragment) {
    const auto path = dir.Write("bad.geojson", body);
    try {
      ZoneSet::LoadGeoJson(path, "id", "name", 1e-4);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  };
  expect_error("{", "not valid JSON");
  expect_error(R"({"type":"Feature"})", "not a GeoJSON FeatureCollection");
  expect_error(R"({"type":"FeatureCollection","features":[]})", "has no features");
  expect_error(R"({"type":"FeatureCollection","features":[{"properties":{},"geometry":null}]})",
               "property 'id' (the configured id_property) is missing");
  expect_error(R"({"type":"FeatureCollection","features":[{"properties":{"id":1},
      "geometry":{"type":"Point","coordinates":[0,0]}}]})",
               "geometry type 'Point' is not supported; allowed: Polygon, MultiPolygon");
  expect_error(R"({"type":"FeatureCollection","features":[{"properties":{"id":1},
      "geometry":{"type":"Polygon","coordinates":[[[0,0],[500,0],[1,1],[0,0]]]}}]})",
               "outside lon [-180, 180]");
  expect_error(R"({"type":"FeatureCollection","features":[{"properties":{"id":1,"neighbors":[9]},
      "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]})",
               "neighbour id '9' is not a zone of this file");
}

}  // namespace
}  // namespace pricing
