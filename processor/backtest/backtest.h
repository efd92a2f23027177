// The what-if backtest: the same events through the pricing operator under two
// configurations (A, today's; B, the change), compared zone by zone and tick by tick.
// Pure: no transport and no wall clock, so the same inputs give byte-identical
// reports. Not thread-safe; everything runs on the calling thread.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/city_engine.h"
#include "engine/engine_config.h"
#include "pricing/ratio_model.h"

namespace pricing {

// One configuration's published prices for one city, as its replay closed the ticks.
struct CityPrices {
  std::shared_ptr<const CityZones> zones;
  std::vector<int64_t> ticks;                // closed ticks, ascending
  std::vector<std::vector<double>> q;        // [tick][zone]: the published multiplier
  std::vector<std::vector<Bound>> bound;     // [tick][zone]: the rule that decided it
  std::vector<std::vector<int32_t>> demand;  // [tick][zone]
  std::vector<std::vector<int32_t>> supply;  // [tick][zone]
};

struct PricedRun {
  TimingParams timing;
  std::map<std::string, CityPrices> cities;
};

// Replays `events` (replay lines, pricing-model.md) under `config` and keeps every
// published multiplier. Throws ConfigError as the engine does on broken zones.
PricedRun PriceEvents(const EngineConfig& config, std::string_view events);

// A ride request as a rider made it: where, when, and so which multiplier it was quoted.
struct PricedRequest {
  std::string city;
  ZoneIndexT zone = kUnzoned;
  int64_t ts = 0;
};

// The valid, zoned ride requests of `events` in file order, located in `run`'s zones.
std::vector<PricedRequest> ReadRequests(const PricedRun& run, std::string_view events);

// One configuration's figures over a set of zone-ticks (a city, or one zone).
struct SideFigures {
  uint64_t zone_ticks = 0;
  double mean = 0;  // published multiplier
  double p95 = 0;   // nearest rank
  double max = 0;
  uint64_t surging = 0;          // zone-ticks with q above 1.0
  uint64_t above_2 = 0;          // zone-ticks with q above 2.0
  uint64_t at_cap = 0;           // zone-ticks whose value the cap decided
  uint64_t at_floor = 0;         // ... the floor decided
  uint64_t changes = 0;          // ticks whose q differs from the zone's previous
  double zone_hours = 0;         // zones x the hours the ticks cover
  uint64_t requests = 0;         // requests made in these zones
  uint64_t requests_at_1_5 = 0;  // ... quoted 1.5x or more
  uint64_t requests_at_2 = 0;    // ... quoted 2x or more
  double surging_share() const { return zone_ticks ? double(surging) / zone_ticks : 0; }
  double changes_per_zone_hour() const { return zone_hours > 0 ? changes / zone_hours : 0; }
};

struct ZoneComparison {
  ZoneIndexT zone = 0;
  SideFigures a, b;
  double mean_abs_diff = 0;  // mean over ticks of |q_B - q_A|
  double max_abs_diff = 0;
  double mean_diff = 0;  // mean over ticks of q_B - q_A (the map's colour)
};

struct CityComparison {
  std::string city;
  SideFigures a, b;
  std::vector<ZoneComparison> zones;       // by zone index
  std::vector<ZoneIndexT> most_different;  // zones with any difference, most first
};

struct Backtest {
  PricedRun a, b;
  std::vector<CityComparison> cities;  // by city key
};

// Compares two runs over the same events. Throws std::invalid_argument when the runs
// cannot be compared tick by tick (another tick interval, other cities or zones).
Backtest CompareRuns(PricedRun a, PricedRun b, const std::vector<PricedRequest>& requests);

// The reports, each deterministic. `name_a` and `name_b` name the configurations.
void WriteBacktestSummary(const Backtest& bt, const std::string& name_a, const std::string& name_b,
                          std::ostream& out);
void WriteBacktestDiffCsv(const Backtest& bt, std::ostream& out);
void WriteBacktestHtml(const Backtest& bt, const std::string& name_a, const std::string& name_b,
                       std::ostream& out);

}  // namespace pricing
