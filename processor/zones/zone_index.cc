#include "zones/zone_index.h"

#include <algorithm>
#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "zones/boost_shapes.h"

namespace pricing {
namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

namespace {

using detail::BBox;
using detail::BMultiPolygon;
using detail::BPoint;

// A point closer than this (degrees, about 0.1 mm) to an edge is decided by Boost
// rather than by the fast parity test. Floating-point error of the parity test is
// below 1e-13 degrees for coordinates of Earth's size, so this is very conservative.
constexpr double kNearEdge = 1e-9;
// Margin around grid cells when deciding which edges touch them.
constexpr double kCellMargin = 1e-7;

struct Edge {
  double x1, y1, x2, y2;
};

enum class Side { kOutside, kInside, kUncertain };

// One polygon (exterior ring plus holes) with its edges bucketed into horizontal slabs,
// so a ray cast only looks at the edges spanning the query's latitude.
struct Part {
  ZoneIndexT zone = kUnzoned;
  Box box{};
  double slab_min_y = 0;
  double slab_inv_h = 0;
  uint32_t slabs = 1;
  std::vector<uint32_t> slab_begin;  // slabs + 1 offsets into slab_edges
  std::vector<Edge> slab_edges;      // an edge repeated in every slab it spans

  Side Contains(double x, double y) const {
    if (x < box.min_x - kNearEdge || x > box.max_x + kNearEdge || y < box.min_y - kNearEdge ||
        y > box.max_y + kNearEdge) {
      return Side::kOutside;
    }
    auto s = static_cast<int64_t>((y - slab_min_y) * slab_inv_h);
    s = std::clamp<int64_t>(s, 0, slabs - 1);
    bool inside = false;
    for (uint32_t k = slab_begin[s]; k < slab_begin[s + 1]; ++k) {
      const Edge& e = slab_edges[k];
      const double ymin = std::min(e.y1, e.y2), ymax = std::max(e.y1, e.y2);
      if (y < ymin - kNearEdge || y > ymax + kNearEdge) continue;
      const double xmax = std::max(e.x1, e.x2);
      if (x > xmax + kNearEdge) continue;  // wholly to the left: no crossing, not near
      const double dx = e.x2 - e.x1, dy = e.y2 - e.y1;
      const double cross = dx * (y - e.y1) - dy * (x - e.x1);
      if (std::abs(cross) <= kNearEdge * (std::abs(dx) + std::abs(dy)) &&
          x >= std::min(e.x1, e.x2) - kNearEdge) {
        return Side::kUncertain;
      }
      // Half-open rule on y; the crossing lies right of the point when the point is on
      // the left of an upward edge or on the right of a downward one.
      if ((e.y1 > y) != (e.y2 > y) && (dy > 0 ? cross > 0 : cross < 0)) inside = !inside;
    }
    return inside ? Side::kInside : Side::kOutside;
  }
};

Part BuildPart(ZoneIndexT zone, const Polygon& polygon, const Box& box) {
  Part part;
  part.zone = zone;
  std::vector<Edge> edges;
  part.box = {INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (const auto& ring : polygon.rings) {
    for (std::size_t k = 0; k + 1 < ring.size(); ++k) {
      edges.push_back({ring[k].x, ring[k].y, ring[k + 1].x, ring[k + 1].y});
      part.box.min_x = std::min(part.box.min_x, ring[k].x);
      part.box.max_x = std::max(part.box.max_x, ring[k].x);
      part.box.min_y = std::min(part.box.min_y, ring[k].y);
      part.box.max_y = std::max(part.box.max_y, ring[k].y);
    }
  }
  (void)box;
  const double height = part.box.max_y - part.box.min_y;
  part.slabs = static_cast<uint32_t>(std::clamp<std::size_t>(edges.size() / 2, 1, 4096));
  part.slab_min_y = part.box.min_y;
  part.slab_inv_h = height > 0 ? part.slabs / height : 0;
  const auto slab_of = [&](double y) {
    return std::clamp<int64_t>(static_cast<int64_t>((y - part.slab_min_y) * part.slab_inv_h), 0,
                               part.slabs - 1);
  };
  std::vector<std::vector<Edge>> buckets(part.slabs);
  for (const Edge& e : edges) {
    const int64_t lo = slab_of(std::min(e.y1, e.y2) - 2 * kNearEdge);
    const int64_t hi = slab_of(std::max(e.y1, e.y2) + 2 * kNearEdge);
    for (int64_t s = lo; s <= hi; ++s) buckets[s].push_back(e);
  }
  part.slab_begin.reserve(part.slabs + 1);
  part.slab_begin.push_back(0);
  for (auto& b : buckets) {
    part.slab_edges.insert(part.slab_edges.end(), b.begin(), b.end());
    part.slab_begin.push_back(static_cast<uint32_t>(part.slab_edges.size()));
  }
  return part;
}

// Conservative test: does segment e come within `margin` of the box? (Liang-Barsky
// clipping against the box grown by the margin.)
bool SegmentTouchesBox(const Edge& e, double x0, double y0, double x1, double y1, double margin) {
  x0 -= margin;
  y0 -= margin;
  x1 += margin;
  y1 += margin;
  double t0 = 0, t1 = 1;
  const double dx = e.x2 - e.x1, dy = e.y2 - e.y1;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {e.x1 - x0, x1 - e.x1, e.y1 - y0, y1 - e.y1};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1 + 1e-12) return false;
  }
  return true;
}

struct Candidate {
  ZoneIndexT zone;
  bool whole;  // the zone covers the whole cell: no test needed
};

}  // namespace

struct ZoneIndex::Impl {
  const ZoneSet* zones;
  std::vector<Part> parts;
  std::vector<std::vector<uint32_t>> zone_parts;
  std::vector<BMultiPolygon> shapes;  // for the Boost reference and fallback
  bgi::rtree<std::pair<BBox, uint32_t>, bgi::rstar<16>> part_tree;

  // Grid over the extent: CSR list of candidates per cell, in tie order.
  double gx0 = 0, gy0 = 0, inv_cw = 0, inv_ch = 0, cw = 0, ch = 0;
  int64_t nx = 0, ny = 0;
  std::vector<uint32_t> cell_begin;
  std::vector<Candidate> candidates;
  Stats stats;

  bool ZoneCovers(ZoneIndexT z, double x, double y) const {
    for (uint32_t p : zone_parts[z]) {
      switch (parts[p].Contains(x, y)) {
        case Side::kInside:
          return true;
        case Side::kUncertain:
          return bg::covered_by(BPoint(x, y), shapes[z]);
        case Side::kOutside:
          break;
      }
    }
    return false;
  }

  void BuildShapes() {
    shapes.resize(zones->size());
    zone_parts.resize(zones->size());
    std::vector<std::pair<BBox, uint32_t>> boxes;
    for (std::size_t z = 0; z < zones->size(); ++z) {
      const Zone& zone = zones->zone(static_cast<ZoneIndexT>(z));
      for (const auto& poly : zone.polygons) {
        shapes[z].push_back(detail::ToBoost(poly));
        const auto index = static_cast<uint32_t>(parts.size());
        parts.push_back(BuildPart(static_cast<ZoneIndexT>(z), poly, zone.bbox));
        zone_parts[z].push_back(index);
        const Box& b = parts.back().box;
        boxes.push_back({BBox(BPoint(b.min_x, b.min_y), BPoint(b.max_x, b.max_y)), index});
      }
    }
    part_tree = decltype(part_tree)(boxes.begin(), boxes.end());
  }

  void BuildGrid() {
    const Box& ext = zones->extent();
    std::size_t edge_count = 0;
    for (const auto& p : parts) edge_count += p.slab_edges.size();
    const double width = std::max(ext.max_x - ext.min_x, 1e-9) + 4 * kCellMargin;
    const double height = std::max(ext.max_y - ext.min_y, 1e-9) + 4 * kCellMargin;
    // About one cell per edge: most cells are then decided outright, and a mixed cell
    // holds only a few edges per candidate.
    const double target = std::clamp<double>(static_cast<double>(edge_count), 4096, 1 << 20);
    const double side = std::sqrt(width * height / target);
    nx = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(width / side)));
    ny = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(height / side)));
    gx0 = ext.min_x - 2 * kCellMargin;
    gy0 = ext.min_y - 2 * kCellMargin;
    cw = width / nx;
    ch = height / ny;
    inv_cw = 1 / cw;
    inv_ch = 1 / ch;

    // (cell, zone) pairs where an edge of the zone passes through the cell.
    std::vector<uint64_t> touched;
    for (const Part& part : parts) {
      for (uint32_t s = 0; s < part.slabs; ++s) {
        for (uint32_t k = part.slab_begin[s]; k < part.slab_begin[s + 1]; ++k) {
          const Edge& e = part.slab_edges[k];
          // Each edge is stored once per slab; rasterise it only from its first slab.
          const double ymin = std::min(e.y1, e.y2);
          const auto first = std::clamp<int64_t>(
              static_cast<int64_t>((ymin - 2 * kNearEdge - part.slab_min_y) * part.slab_inv_h), 0,
              part.slabs - 1);
          if (first != s) continue;
          const int64_t ix0 = CellX(std::min(e.x1, e.x2) - kCellMargin);
          const int64_t ix1 = CellX(std::max(e.x1, e.x2) + kCellMargin);
          const int64_t iy0 = CellY(ymin - kCellMargin);
          const int64_t iy1 = CellY(std::max(e.y1, e.y2) + kCellMargin);
          for (int64_t iy = iy0; iy <= iy1; ++iy) {
            for (int64_t ix = ix0; ix <= ix1; ++ix) {
              const double x0 = gx0 + ix * cw, y0 = gy0 + iy * ch;
              if (SegmentTouchesBox(e, x0, y0, x0 + cw, y0 + ch, kCellMargin)) {
                touched.push_back((static_cast<uint64_t>(iy * nx + ix) << 32) |
                                  static_cast<uint32_t>(part.zone));
              }
            }
          }
        }
      }
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());

    const int64_t cells = nx * ny;
    cell_begin.assign(cells + 1, 0);
    std::size_t next = 0;
    std::vector<Candidate> cell;
    std::vector<std::pair<BBox, uint32_t>> hits;
    for (int64_t c = 0; c < cells; ++c) {
      cell.clear();
      while (next < touched.size() && static_cast<int64_t>(touched[next] >> 32) == c) {
        cell.push_back({static_cast<ZoneIndexT>(touched[next] & 0xffffffffu), false});
        ++next;
      }
      // Zones that no edge crosses here either hold the whole cell or none of it: the
      // cell's centre decides, and it is far from their edges.
      const double cx = gx0 + (c % nx + 0.5) * cw, cy = gy0 + (c / nx + 0.5) * ch;
      hits.clear();
      part_tree.query(bgi::intersects(BPoint(cx, cy)), std::back_inserter(hits));
      for (const auto& [box, p] : hits) {
        const ZoneIndexT z = parts[p].zone;
        bool seen = false;
        for (const auto& cand : cell) seen = seen || cand.zone == z;
        if (!seen && ZoneCovers(z, cx, cy)) cell.push_back({z, true});
      }
      std::sort(cell.begin(), cell.end(),
                [](const Candidate& a, const Candidate& b) { return a.zone < b.zone; });
      // Nothing after a zone that covers the whole cell can win the tie.
      for (std::size_t k = 0; k < cell.size(); ++k) {
        if (cell[k].whole) {
          cell.resize(k + 1);
          break;
        }
      }
      if (cell.size() == 1 && cell[0].whole) ++stats.decided_cells;
      if (cell.empty()) ++stats.decided_cells;
      if (!cell.empty() && !(cell.size() == 1 && cell[0].whole)) {
        ++stats.mixed_cells;
        stats.candidates += cell.size();
      }
      candidates.insert(candidates.end(), cell.begin(), cell.end());
      cell_begin[c + 1] = static_cast<uint32_t>(candidates.size());
    }
    stats.grid_cells = static_cast<std::size_t>(cells);
  }

  int64_t CellX(double x) const {
    return std::clamp<int64_t>(static_cast<int64_t>(std::floor((x - gx0) * inv_cw)), 0, nx - 1);
  }
  int64_t CellY(double y) const {
    return std::clamp<int64_t>(static_cast<int64_t>(std::floor((y - gy0) * inv_ch)), 0, ny - 1);
  }
};

ZoneIndex::ZoneIndex(const ZoneSet& zones) : impl_(std::make_unique<Impl>()) {
  impl_->zones = &zones;
  impl_->BuildShapes();
  impl_->BuildGrid();
}

ZoneIndex::~ZoneIndex() = default;

ZoneIndexT ZoneIndex::Locate(double lon, double lat) const {
  const Impl& m = *impl_;
  const double fx = (lon - m.gx0) * m.inv_cw;
  const double fy = (lat - m.gy0) * m.inv_ch;
  // Outside the grid is outside every zone's box (the grid has a margin around them).
  if (!(fx >= 0 && fy >= 0 && fx < static_cast<double>(m.nx) && fy < static_cast<double>(m.ny))) {
    return kUnzoned;
  }
  const int64_t c = static_cast<int64_t>(fy) * m.nx + static_cast<int64_t>(fx);
  for (uint32_t k = m.cell_begin[c]; k < m.cell_begin[c + 1]; ++k) {
    const Candidate& cand = m.candidates[k];
    if (cand.whole || m.ZoneCovers(cand.zone, lon, lat)) return cand.zone;
  }
  return kUnzoned;
}

ZoneIndexT ZoneIndex::LocatePlain(double lon, double lat) const {
  const Impl& m = *impl_;
  std::vector<std::pair<BBox, uint32_t>> hits;
  m.part_tree.query(bgi::intersects(BPoint(lon, lat)), std::back_inserter(hits));
  std::vector<ZoneIndexT> zones;
  for (const auto& [box, p] : hits) zones.push_back(m.parts[p].zone);
  std::sort(zones.begin(), zones.end());
  zones.erase(std::unique(zones.begin(), zones.end()), zones.end());
  for (ZoneIndexT z : zones) {
    if (bg::covered_by(BPoint(lon, lat), m.shapes[z])) return z;
  }
  return kUnzoned;
}

const ZoneIndex::Stats& ZoneIndex::stats() const { return impl_->stats; }

}  // namespace pricing
