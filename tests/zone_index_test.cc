#include "zones/zone_index.h"

#include <gtest/gtest.h>

#include <boost/geometry.hpp>

#include "replay/nyc_pickups.h"
#include "test_util.h"

namespace pricing {
namespace {

namespace bg = boost::geometry;
using BPoint = bg::model::d2::point_xy<double>;
using BPolygon = bg::model::polygon<BPoint>;

// The plainest possible answer: Boost's covered_by on every zone in tie order, with no
// index at all beyond a bounding-box check.
class BruteForce {
 public:
  explicit BruteForce(const ZoneSet& set) : set_(set) {
    for (const Zone& z : set.zones()) {
      bg::model::multi_polygon<BPolygon> mp;
      for (const auto& poly : z.polygons) {
        BPolygon bp;
        for (std::size_t r = 0; r < poly.rings.size(); ++r) {
          auto& ring = r == 0 ? bp.outer() : (bp.inners().emplace_back(), bp.inners().back());
          for (const auto& p : poly.rings[r]) ring.push_back(BPoint(p.x, p.y));
        }
        mp.push_back(bp);
      }
      bg::correct(mp);
      shapes_.push_back(std::move(mp));
    }
  }
  ZoneIndexT Locate(double x, double y) const {
    for (std::size_t z = 0; z < shapes_.size(); ++z) {
      const Box& b = set_.zone(static_cast<ZoneIndexT>(z)).bbox;
      if (x < b.min_x || x > b.max_x || y < b.min_y || y > b.max_y) continue;
      if (bg::covered_by(BPoint(x, y), shapes_[z])) return static_cast<ZoneIndexT>(z);
    }
    return kUnzoned;
  }

 private:
  const ZoneSet& set_;
  std::vector<bg::model::multi_polygon<BPolygon>> shapes_;
};

TEST(ZoneIndex, EqualsPlainPointInPolygonOnADenseGridOverNyc) {
  const auto nyc = test::NycZones();
  const BruteForce plain(nyc->zones);
  const Box& e = nyc->zones.extent();
  // 600 x 600 points over the extent plus a margin: about 70 m apart.
  constexpr int kSteps = 600;
  const double dx = (e.max_x - e.min_x + 0.02) / kSteps, dy = (e.max_y - e.min_y + 0.02) / kSteps;
  int zoned = 0, mismatches = 0;
  for (int i = 0; i <= kSteps; ++i) {
    for (int j = 0; j <= kSteps; ++j) {
      const double x = e.min_x - 0.01 + i * dx, y = e.min_y - 0.01 + j * dy;
      const ZoneIndexT expected = plain.Locate(x, y);
      const ZoneIndexT got = nyc->index.Locate(x, y);
      if (got != expected && ++mismatches < 10) {
        ADD_FAILURE() << "(" << x << ", " << y << "): index " << got << ", plain " << expected;
      }
      zoned += expected != kUnzoned;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(zoned, 100000);  // the grid really covers the city
}

TEST(ZoneIndex, EqualsPlainOnVerticesAndEdgeMidpoints) {
  // Points on boundaries exercise the closed-polygon rule and the tie between zones.
  const auto nyc = test::NycZones();
  const BruteForce plain(nyc->zones);
  int checked = 0, mismatches = 0;
  for (const Zone& z : nyc->zones.zones()) {
    for (const auto& poly : z.polygons) {
      const auto& ring = poly.rings[0];
      for (std::size_t k = 0; k + 1 < ring.size(); k += 7) {
        const Point a = ring[k], b = ring[k + 1];
        for (const Point p : {a, Point{(a.x + b.x) / 2, (a.y + b.y) / 2}}) {
          ++checked;
          if (nyc->index.Locate(p.x, p.y) != plain.Locate(p.x, p.y) && ++mismatches < 10) {
            ADD_FAILURE() << "boundary point (" << p.x << ", " << p.y << ")";
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(checked, 20000);
}

TEST(ZoneIndex, PlainReferenceAgreesOnRealPickups) {
  const auto nyc = test::NycZones();
  const auto pickups = ReadUberPickups(test::SourcePath("data/nyc/uber-pickups-2014-04.csv"));
  int unzoned = 0;
  for (std::size_t i = 0; i < pickups.size(); i += 3) {
    const auto& p = pickups[i];
    const ZoneIndexT z = nyc->index.Locate(p.lon, p.lat);
    ASSERT_EQ(z, nyc->index.LocatePlain(p.lon, p.lat)) << p.lon << ", " << p.lat;
    unzoned += z == kUnzoned;
  }
  // About 3.4% of the pickups are in New Jersey or beyond the city, outside every
  // taxi zone; the rest must land in a zone.
  EXPECT_GT(unzoned, static_cast<int>(pickups.size() / 3 / 100));
  EXPECT_LT(unzoned, static_cast<int>(pickups.size() / 3 / 20));
}

TEST(ZoneIndex, SharedEdgeGoesToTheIdThatSortsFirst) {
  const auto city =
      test::MakeCityZones({test::RectZone("20", 0, 0, 1, 1), test::RectZone("3", 1, 0, 2, 1)});
  const ZoneIndex& index = city->index;
  const ZoneSet& set = city->zones;
  EXPECT_EQ(set.zone(index.Locate(1.0, 0.5)).id, "3");  // on the shared edge: 3 < 20
  EXPECT_EQ(set.zone(index.Locate(0.5, 0.5)).id, "20");
  EXPECT_EQ(set.zone(index.Locate(0.0, 0.0)).id, "20");  // a corner is in the closed polygon
  EXPECT_EQ(set.zone(index.Locate(2.0, 1.0)).id, "3");
  EXPECT_EQ(index.Locate(2.0000001, 0.5), kUnzoned);
  EXPECT_EQ(index.Locate(-50, 10), kUnzoned);
}

TEST(ZoneIndex, OverlapGoesToTheIdThatSortsFirst) {
  const auto city =
      test::MakeCityZones({test::RectZone("b", 0, 0, 2, 2), test::RectZone("a", 1, 1, 3, 3)});
  EXPECT_EQ(city->zones.zone(city->index.Locate(1.5, 1.5)).id, "a");
  EXPECT_EQ(city->zones.zone(city->index.Locate(0.5, 0.5)).id, "b");
}

TEST(ZoneIndex, HolesAreOutside) {
  Zone ring = test::RectZone("1", 0, 0, 4, 4);
  ring.polygons[0].rings.push_back({{1, 1}, {1, 3}, {3, 3}, {3, 1}, {1, 1}});
  const auto city = test::MakeCityZones({ring, test::RectZone("2", 10, 10, 11, 11)});
  EXPECT_EQ(city->index.Locate(2, 2), kUnzoned);
  EXPECT_EQ(city->index.Locate(0.5, 2), 0);
  EXPECT_EQ(city->index.Locate(1, 2), 0);  // the hole's edge belongs to the polygon
  EXPECT_EQ(city->index.LocatePlain(2, 2), kUnzoned);
}

TEST(ZoneIndex, MostNycCellsAreDecidedWithoutAPolygonTest) {
  const auto& stats = test::NycZones()->index.stats();
  EXPECT_GT(stats.grid_cells, 0u);
  EXPECT_GT(stats.decided_cells, stats.grid_cells / 2);
}

}  // namespace
}  // namespace pricing
