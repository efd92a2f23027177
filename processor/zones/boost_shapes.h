// Boost.Geometry views of zone polygons, shared by the zone index and the neighbour
// search. Pure functions; thread-safe.
#pragma once

#include <boost/geometry.hpp>

#include "zones/zone_set.h"

namespace pricing::detail {

namespace bg = boost::geometry;
using BPoint = bg::model::d2::point_xy<double>;
using BBox = bg::model::box<BPoint>;
using BPolygon = bg::model::polygon<BPoint>;
using BMultiPolygon = bg::model::multi_polygon<BPolygon>;

// One polygon as Boost's clockwise closed polygon, its rings re-oriented as needed
// (GeoJSON files disagree on orientation).
inline BPolygon ToBoost(const Polygon& polygon) {
  BPolygon out;
  for (std::size_t r = 0; r < polygon.rings.size(); ++r) {
    auto& ring = r == 0 ? out.outer() : (out.inners().emplace_back(), out.inners().back());
    for (const Point& p : polygon.rings[r]) ring.push_back(BPoint(p.x, p.y));
  }
  bg::correct(out);
  return out;
}

inline BMultiPolygon ToBoost(const Zone& zone) {
  BMultiPolygon out;
  for (const Polygon& p : zone.polygons) out.push_back(ToBoost(p));
  return out;
}

}  // namespace pricing::detail
