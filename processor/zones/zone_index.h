// Point-to-zone lookup for one city. Exact: Locate() returns what Boost.Geometry's
// covered_by over every zone (closed polygons, ties to the id that sorts first) returns,
// only faster. Immutable after construction; Locate is thread-safe.
#pragma once

#include <cstddef>
#include <memory>

#include "zones/zone_set.h"

namespace pricing {

class ZoneIndex {
 public:
  struct Stats {
    std::size_t grid_cells = 0;
    std::size_t decided_cells = 0;  // cells answered without any polygon test
    std::size_t mixed_cells = 0;
    std::size_t candidates = 0;  // total candidate entries over mixed cells
  };

  // `zones` must outlive the index.
  explicit ZoneIndex(const ZoneSet& zones);
  ~ZoneIndex();
  ZoneIndex(const ZoneIndex&) = delete;
  ZoneIndex& operator=(const ZoneIndex&) = delete;

  // The zone containing (lon, lat), or kUnzoned.
  ZoneIndexT Locate(double lon, double lat) const;

  // The reference answer: an R-tree over zone bounding boxes, then Boost.Geometry's
  // covered_by on each candidate in tie order. Slower; used by tests and as the
  // fallback for points within a hair of an edge.
  ZoneIndexT LocatePlain(double lon, double lat) const;

  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pricing
