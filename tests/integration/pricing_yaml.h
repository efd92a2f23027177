// A test's pricing.yaml, built key by key instead of pasted together: the timing, the
// transport, the cities. Keys keep the order they were first set in; setting one again
// replaces its value.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace pricing::test {

class PricingYaml {
 public:
  // window and interval in seconds, the allowed lateness in milliseconds.
  PricingYaml& Timing(long long window_seconds, long long interval_seconds, long long lateness_ms) {
    return Set("window_seconds", window_seconds)
        .Set("interval_seconds", interval_seconds)
        .Set("allowed_lateness_ms", lateness_ms);
  }
  // `value` is YAML text: a scalar or a flow mapping such as "{fetch_wait_ms: 50}".
  PricingYaml& Set(const std::string& key, const std::string& value) {
    for (auto& [k, v] : keys_) {
      if (k == key) {
        v = value;
        return *this;
      }
    }
    keys_.emplace_back(key, value);
    return *this;
  }
  PricingYaml& Set(const std::string& key, const char* value) {
    return Set(key, std::string(value));
  }
  PricingYaml& Set(const std::string& key, long long value) {
    return Set(key, std::to_string(value));
  }
  PricingYaml& Set(const std::string& key, int value) { return Set(key, std::to_string(value)); }
  // The HTTP side on 127.0.0.1 (port 0: any free one).
  PricingYaml& Http(int port, const std::string& more = "") {
    return Set("http", "{bind: 127.0.0.1, port: " + std::to_string(port) +
                           (more.empty() ? "" : ", " + more) + "}");
  }
  PricingYaml& City(const std::string& name, const std::string& zones,
                    const std::string& id_property = "", const std::string& name_property = "") {
    cities_ += "  " + name + ":\n    zones: " + zones + "\n";
    if (!id_property.empty()) cities_ += "    id_property: " + id_property + "\n";
    if (!name_property.empty()) cities_ += "    name_property: " + name_property + "\n";
    return *this;
  }
  // New York's real taxi zones, as config/nyc.yaml prices them.
  PricingYaml& NycCity() {
    return City("nyc", std::string(PRICING_SOURCE_DIR) + "/data/nyc/taxi_zones.geojson",
                "LocationID", "zone");
  }
  // The 3 x 3 grid (grid_workload.h) as city "demo", its zones in `zones`.
  PricingYaml& GridCity(const std::string& zones) { return City("demo", zones, "id", "name"); }

  std::string Text() const {
    std::string out;
    for (const auto& [k, v] : keys_) out += k + ": " + v + "\n";
    if (!cities_.empty()) out += "cities:\n" + cities_;
    return out;
  }
  const std::filesystem::path& Write(const std::filesystem::path& path) const {
    std::ofstream(path) << Text();
    return path;
  }

 private:
  std::vector<std::pair<std::string, std::string>> keys_;
  std::string cities_;
};

}  // namespace pricing::test
