// The zones of one city: ids, names, polygons and neighbour lists, ranked in tie order
// (zone index 0 is the id that sorts first). Immutable after loading; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pricing {

struct Point {
  double x;  // longitude
  double y;  // latitude
};

struct Box {
  double min_x, min_y, max_x, max_y;
};

// A polygon in lon/lat: rings[0] is the exterior, the others are holes. Every ring is
// closed (its last point repeats the first).
struct Polygon {
  std::vector<std::vector<Point>> rings;
};

struct Zone {
  std::string id;
  std::string name;
  std::vector<Polygon> polygons;  // one for a Polygon, several for a MultiPolygon
  std::optional<std::vector<std::string>> explicit_neighbors;  // the `neighbors` property
  Box bbox{};
};

// Index of a zone within its ZoneSet; kUnzoned for a point in no zone.
using ZoneIndexT = int32_t;
inline constexpr ZoneIndexT kUnzoned = -1;

class ZoneSet {
 public:
  // Reads a GeoJSON FeatureCollection. Throws ConfigError naming the file, the feature
  // and the problem (missing id, duplicate id, unsupported geometry, bad coordinates).
  static ZoneSet LoadGeoJson(const std::filesystem::path& path, std::string_view id_property,
                             std::string_view name_property, double adjacency_tolerance_deg);

  // Builds from zones already in memory (tests, synthetic grids). `source` names them
  // in error messages. Throws ConfigError on duplicate ids or unknown neighbour ids.
  static ZoneSet FromZones(std::vector<Zone> zones, double adjacency_tolerance_deg,
                           std::string source = "zones");

  std::size_t size() const { return zones_.size(); }
  const Zone& zone(ZoneIndexT i) const { return zones_[static_cast<std::size_t>(i)]; }
  const std::vector<Zone>& zones() const { return zones_; }
  std::optional<ZoneIndexT> Find(std::string_view id) const;
  // N(z), sorted ascending by zone index.
  std::span<const ZoneIndexT> neighbors(ZoneIndexT i) const {
    return neighbors_[static_cast<std::size_t>(i)];
  }
  const Box& extent() const { return extent_; }
  const std::string& source() const { return source_; }

 private:
  ZoneSet() = default;

  std::string source_;
  std::vector<Zone> zones_;
  std::vector<std::vector<ZoneIndexT>> neighbors_;
  std::unordered_map<std::string, ZoneIndexT> by_id_;
  Box extent_{};
};

// Zones within `tolerance` (planar lon/lat distance) of each other, computed from the
// polygons; exposed for tests. Result is indexed like `zones`, each list sorted.
std::vector<std::vector<ZoneIndexT>> ComputeNeighbors(const std::vector<Zone>& zones,
                                                      double tolerance);

}  // namespace pricing
