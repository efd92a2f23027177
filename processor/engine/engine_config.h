// What the pricing core needs of the configuration: the timing of the ticks and, per
// city, its zones and model. The configuration file (config/config.h) fills it in; the
// core knows nothing else of it (no brokers, no streams, no HTTP).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "pricing/model_params.h"

namespace pricing {

// What a process computes: everything (one processor per city), or one stage of exact
// partitioned pricing (engine/partials.h): kCount counts the drivers and riders of one
// partition and publishes its counts every tick (on pricing.partial.<city>.<p>);
// kPrice reads every partition's counts, holds a tick until all are there, and prices
// their sums. The published prices are those of one processor on the same events.
enum class PricingStage : uint8_t { kWhole, kCount, kPrice };
const char* ToString(PricingStage stage);  // "whole", "count", "price"

struct TimingParams {
  int64_t interval_ms = 5000;
  int64_t window_ms = 30000;
  int64_t allowed_lateness_ms = 1000;
  int64_t max_future_skew_ms = 10000;
};

struct CityConfig {
  std::string key;
  std::filesystem::path zones_path;  // absolute, resolved against the config file
  std::string id_property = "LocationID";
  std::string name_property = "zone";
  ModelParams model;                              // global model with city overrides
  std::map<std::string, ZoneOverride> overrides;  // by zone id
};

struct EngineConfig {
  TimingParams timing;
  std::map<std::string, CityConfig> cities;  // by city key, sorted
};

}  // namespace pricing
