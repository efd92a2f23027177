// Helpers shared by the unit tests: synthetic zones, temporary files, repository paths.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/city_engine.h"
#include "prometheus_text.h"
#include "zones/zone_set.h"

namespace pricing::test {

inline std::filesystem::path SourcePath(const std::string& relative) {
  return std::filesystem::path(PRICING_SOURCE_DIR) / relative;
}

// A fresh directory, removed at the end of a test that passed and kept (its path
// printed) as evidence when the test failed.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("pricing-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  // One named for the running test, to find its evidence by:
  // pricing-PREFIX-PID-TEST in the temporary folder, emptied first.
  explicit TempDir(const std::string& prefix) {
    path_ = std::filesystem::temp_directory_path() /
            ("pricing-" + prefix + "-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "test: kept %s for the failure above\n", path_.c_str());
      return;
    }
    std::filesystem::remove_all(path_);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

// An axis-aligned rectangle zone.
inline Zone RectZone(std::string id, double x0, double y0, double x1, double y1) {
  Zone z;
  z.id = id;
  z.name = "zone " + id;
  z.polygons.push_back({{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}});
  return z;
}

// A cols x rows grid of unit-ish square zones with ids "1".."n", row-major from (0, 0).
inline std::vector<Zone> GridZones(int cols, int rows, double side = 0.01) {
  std::vector<Zone> zones;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      zones.push_back(RectZone(std::to_string(r * cols + c + 1), c * side, r * side, (c + 1) * side,
                               (r + 1) * side));
    }
  }
  return zones;
}

inline std::shared_ptr<const CityZones> MakeCityZones(std::vector<Zone> zones,
                                                      double tolerance = 1e-4) {
  return std::make_shared<const CityZones>(ZoneSet::FromZones(std::move(zones), tolerance));
}

inline std::shared_ptr<const CityZones> NycZones() {
  static const auto zones = std::make_shared<const CityZones>(
      ZoneSet::LoadGeoJson(SourcePath("data/nyc/taxi_zones.geojson"), "LocationID", "zone", 1e-4));
  return zones;
}

}  // namespace pricing::test
