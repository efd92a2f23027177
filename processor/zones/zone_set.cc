#include "zones/zone_set.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <charconv>
#include <cmath>
#include <numeric>

#include "common/config_error.h"
#include "common/zone_id_order.h"
#include "zones/boost_shapes.h"

namespace pricing {
namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

namespace {

using detail::BBox;
using detail::BPoint;
using BSegment = bg::model::segment<BPoint>;

std::string FeatureName(std::size_t index, const std::string& id) {
  std::string s = "feature #" + std::to_string(index);
  if (!id.empty()) s += " (id " + id + ")";
  return s;
}

// Text of an id or name property: strings as-is, integers in decimal, other numbers in
// their shortest form.
std::optional<std::string> PropertyText(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(value.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64:
      return std::to_string(int64_t(value.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64:
      return std::to_string(uint64_t(value.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE: {
      const double d = value.get_double().value_unsafe();
      if (d == std::floor(d) && std::abs(d) < 9e15) return std::to_string(int64_t(d));
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, r.ptr);
    }
    default:
      return std::nullopt;
  }
}

class GeoJsonReader {
 public:
  explicit GeoJsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void Fail(const std::string& where, const std::string& problem) const {
    throw ConfigError(file_ + ": " + where + ": " + problem);
  }

  std::vector<Point> ReadRing(simdjson::dom::element ring, const std::string& where) const {
    simdjson::dom::array points;
    if (ring.get_array().get(points)) Fail(where, "a ring must be an array of positions");
    std::vector<Point> out;
    out.reserve(points.size() + 1);
    for (simdjson::dom::element pos : points) {
      simdjson::dom::array xy;
      double x = 0, y = 0;
      if (pos.get_array().get(xy) || xy.size() < 2 || xy.at(0).get_double().get(x) ||
          xy.at(1).get_double().get(y)) {
        Fail(where, "a position must be an array [lon, lat]");
      }
      if (!std::isfinite(x) || !std::isfinite(y) || x < -180 || x > 180 || y < -90 || y > 90) {
        Fail(where, "position [" + std::to_string(x) + ", " + std::to_string(y) +
                        "] is outside lon [-180, 180] / lat [-90, 90]");
      }
      out.push_back({x, y});
    }
    if (out.size() >= 2 && (out.front().x != out.back().x || out.front().y != out.back().y)) {
      out.push_back(out.front());
    }
    if (out.size() < 4) Fail(where, "a ring needs at least 3 distinct positions");
    return out;
  }

  Polygon ReadPolygon(simdjson::dom::element coords, const std::string& where) const {
    simdjson::dom::array rings;
    if (coords.get_array().get(rings) || rings.size() == 0) {
      Fail(where, "Polygon coordinates must be a non-empty array of rings");
    }
    Polygon p;
    for (simdjson::dom::element ring : rings) p.rings.push_back(ReadRing(ring, where));
    return p;
  }

 private:
  std::string file_;
};

}  // namespace

ZoneSet ZoneSet::LoadGeoJson(const std::filesystem::path& path, std::string_view id_property,
                             std::string_view name_property, double adjacency_tolerance_deg) {
  const std::string file = path.string();
  GeoJsonReader reader(file);
  simdjson::padded_string text;
  if (simdjson::padded_string::load(file).get(text)) {
    throw ConfigError(file + ": cannot read zones file");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(text).get(root)) {
    throw ConfigError(file + ": zones file is not valid JSON (" +
                      std::string(simdjson::error_message(err)) + ")");
  }
  std::string_view type;
  simdjson::dom::array features;
  if (root["type"].get_string().get(type) || type != "FeatureCollection" ||
      root["features"].get_array().get(features)) {
    throw ConfigError(file + ": zones file is not a GeoJSON FeatureCollection with 'features'");
  }

  std::vector<Zone> zones;
  std::size_t index = 0;
  for (simdjson::dom::element feature : features) {
    Zone zone;
    const std::string where0 = FeatureName(index, "");
    simdjson::dom::object props;
    if (feature["properties"].get_object().get(props))
      reader.Fail(where0, "has no 'properties' object");
    simdjson::dom::element idv;
    std::optional<std::string> id;
    if (!props[id_property].get(idv)) id = PropertyText(idv);
    if (!id || id->empty()) {
      reader.Fail(where0, "property '" + std::string(id_property) +
                              "' (the configured id_property) is missing or not a string/number");
    }
    zone.id = *id;
    const std::string where = FeatureName(index, zone.id);
    simdjson::dom::element namev;
    std::optional<std::string> name;
    if (!props[name_property].get(namev)) name = PropertyText(namev);
    zone.name = name.value_or(zone.id);

    simdjson::dom::element neighbors;
    if (!props["neighbors"].get(neighbors)) {
      simdjson::dom::array list;
      if (neighbors.get_array().get(list))
        reader.Fail(where, "property 'neighbors' must be an array of zone ids");
      std::vector<std::string> ids;
      for (simdjson::dom::element n : list) {
        auto text = PropertyText(n);
        if (!text)
          reader.Fail(where, "property 'neighbors' must hold zone ids (strings or integers)");
        ids.push_back(*text);
      }
      zone.explicit_neighbors = std::move(ids);
    }

    simdjson::dom::element geometry;
    std::string_view gtype;
    simdjson::dom::element coords;
    if (feature["geometry"].get(geometry) || geometry["type"].get_string().get(gtype) ||
        geometry["coordinates"].get(coords)) {
      reader.Fail(where, "has no geometry with 'type' and 'coordinates'");
    }
    if (gtype == "Polygon") {
      zone.polygons.push_back(reader.ReadPolygon(coords, where));
    } else if (gtype == "MultiPolygon") {
      simdjson::dom::array polys;
      if (coords.get_array().get(polys) || polys.size() == 0) {
        reader.Fail(where, "MultiPolygon coordinates must be a non-empty array of polygons");
      }
      for (simdjson::dom::element p : polys) zone.polygons.push_back(reader.ReadPolygon(p, where));
    } else {
      reader.Fail(where, "geometry type '" + std::string(gtype) +
                             "' is not supported; allowed: Polygon, MultiPolygon");
    }
    zones.push_back(std::move(zone));
    ++index;
  }
  if (zones.empty()) throw ConfigError(file + ": zones file has no features");
  return FromZones(std::move(zones), adjacency_tolerance_deg, file);
}

ZoneSet ZoneSet::FromZones(std::vector<Zone> zones, double adjacency_tolerance_deg,
                           std::string source) {
  ZoneSet set;
  set.source_ = std::move(source);
  std::stable_sort(zones.begin(), zones.end(),
                   [](const Zone& a, const Zone& b) { return ZoneIdLess(a.id, b.id); });
  set.extent_ = {INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (std::size_t i = 0; i < zones.size(); ++i) {
    Zone& z = zones[i];
    if (!set.by_id_.emplace(z.id, static_cast<ZoneIndexT>(i)).second) {
      throw ConfigError(set.source_ + ": zone id '" + z.id +
                        "' appears more than once; ids must be unique within a city");
    }
    Box b{INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (const auto& poly : z.polygons) {
      for (const auto& ring : poly.rings) {
        for (const auto& p : ring) {
          b.min_x = std::min(b.min_x, p.x);
          b.min_y = std::min(b.min_y, p.y);
          b.max_x = std::max(b.max_x, p.x);
          b.max_y = std::max(b.max_y, p.y);
        }
      }
    }
    z.bbox = b;
    set.extent_.min_x = std::min(set.extent_.min_x, b.min_x);
    set.extent_.min_y = std::min(set.extent_.min_y, b.min_y);
    set.extent_.max_x = std::max(set.extent_.max_x, b.max_x);
    set.extent_.max_y = std::max(set.extent_.max_y, b.max_y);
  }
  set.zones_ = std::move(zones);
  set.neighbors_ = ComputeNeighbors(set.zones_, adjacency_tolerance_deg);
  // An explicit `neighbors` property replaces the computed set for that zone.
  for (std::size_t i = 0; i < set.zones_.size(); ++i) {
    const auto& explicit_ids = set.zones_[i].explicit_neighbors;
    if (!explicit_ids) continue;
    std::vector<ZoneIndexT> list;
    for (const auto& id : *explicit_ids) {
      auto found = set.Find(id);
      if (!found) {
        throw ConfigError(set.source_ + ": zone '" + set.zones_[i].id + "': neighbour id '" + id +
                          "' is not a zone of this file");
      }
      if (*found != static_cast<ZoneIndexT>(i)) list.push_back(*found);
    }
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    set.neighbors_[i] = std::move(list);
  }
  return set;
}

std::optional<ZoneIndexT> ZoneSet::Find(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::vector<ZoneIndexT>> ComputeNeighbors(const std::vector<Zone>& zones,
                                                      double tolerance) {
  const std::size_t n = zones.size();
  std::vector<std::vector<ZoneIndexT>> out(n);
  if (n == 0) return out;

  // Every edge of every zone in one R-tree, tagged with its zone.
  using Entry = std::pair<BBox, std::pair<BSegment, ZoneIndexT>>;
  std::vector<Entry> entries;
  for (std::size_t z = 0; z < n; ++z) {
    for (const auto& poly : zones[z].polygons) {
      for (const auto& ring : poly.rings) {
        for (std::size_t k = 0; k + 1 < ring.size(); ++k) {
          BSegment seg(BPoint(ring[k].x, ring[k].y), BPoint(ring[k + 1].x, ring[k + 1].y));
          BBox box;
          bg::envelope(seg, box);
          entries.push_back({box, {seg, static_cast<ZoneIndexT>(z)}});
        }
      }
    }
  }
  bgi::rtree<Entry, bgi::rstar<16>> tree(entries.begin(), entries.end());

  std::vector<std::vector<bool>> adjacent(n, std::vector<bool>(n, false));
  std::vector<Entry> hits;
  for (const auto& [box, item] : entries) {
    const auto& [seg, z] = item;
    BBox query(BPoint(box.min_corner().x() - tolerance, box.min_corner().y() - tolerance),
               BPoint(box.max_corner().x() + tolerance, box.max_corner().y() + tolerance));
    hits.clear();
    tree.query(bgi::intersects(query), std::back_inserter(hits));
    for (const auto& hit : hits) {
      const ZoneIndexT other = hit.second.second;
      if (other == z || adjacent[z][other]) continue;
      if (bg::distance(seg, hit.second.first) <= tolerance) {
        adjacent[z][other] = adjacent[other][z] = true;
      }
    }
  }

  // A zone lying wholly inside another shares no nearby edge with it but is at distance 0.
  const auto covers = [&](const Zone& outer, const Point& p) {
    return bg::covered_by(BPoint(p.x, p.y), detail::ToBoost(outer));
  };
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = a + 1; b < n; ++b) {
      if (adjacent[a][b]) continue;
      const Box& ba = zones[a].bbox;
      const Box& bb = zones[b].bbox;
      if (ba.max_x < bb.min_x || bb.max_x < ba.min_x || ba.max_y < bb.min_y ||
          bb.max_y < ba.min_y) {
        continue;
      }
      if (covers(zones[a], zones[b].polygons[0].rings[0][0]) ||
          covers(zones[b], zones[a].polygons[0].rings[0][0])) {
        adjacent[a][b] = adjacent[b][a] = true;
      }
    }
  }
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = 0; b < n; ++b) {
      if (adjacent[a][b]) out[a].push_back(static_cast<ZoneIndexT>(b));
    }
  }
  return out;
}

}  // namespace pricing
