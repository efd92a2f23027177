// The ratio-v1 surge model of pricing-model.md ("Computation, in this order"), over
// all zones of a city at once with Eigen. Holds the per-zone state carried from tick
// to tick (m and the previous published q). Not thread-safe; owned by the city's
// processing thread.
#pragma once

#include <Eigen/Core>
#include <Eigen/SparseCore>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_error.h"
#include "pricing/model_params.h"
#include "zones/zone_set.h"

namespace pricing {

// The rule that last changed a zone's value this tick.
enum class Bound : uint8_t { kNone, kRateLimit, kFloor, kCap, kOverride, kDisabled };
std::string_view ToString(Bound bound);

// Everything the model computed for one tick, one entry per zone (by zone index).
struct ModelOutput {
  Eigen::VectorXd supply, demand;                    // raw counts
  Eigen::VectorXd supply_smoothed, demand_smoothed;  // step 1
  Eigen::VectorXd ratio;                             // step 2
  Eigen::VectorXd target;                            // step 3 (m*)
  Eigen::VectorXd raw;                               // m, the state carried on
  Eigen::VectorXd multiplier;                        // q, published
  Eigen::VectorXd previous;                          // q of the previous tick
  std::vector<Bound> bound;
};

class RatioModel {
 public:
  // Throws ConfigError if an override names a zone the city does not have.
  RatioModel(const ZoneSet& zones, const ModelParams& params,
             const std::map<std::string, ZoneOverride>& overrides);

  // Replaces parameters and overrides from the next Compute on; state is kept.
  void Configure(const ModelParams& params, const std::map<std::string, ZoneOverride>& overrides);

  // Runs steps 1-8 for one tick and advances the state.
  ModelOutput Compute(std::span<const int32_t> supply, std::span<const int32_t> demand);

  const ModelParams& params() const { return params_; }
  const Eigen::VectorXd& state() const { return m_; }
  const Eigen::VectorXd& published() const { return q_prev_; }
  const std::map<std::string, ZoneOverride>& overrides() const { return overrides_; }
  // Restores the carried state of one zone (after a restart).
  void RestoreZone(ZoneIndexT zone, double raw, double published);

 private:
  const ZoneSet& zones_;
  ModelParams params_;
  // Step 1 is (X + w * A X) / (1 + w * |N|): A holds 0/1 entries so the neighbour sum of
  // integer counts is exact, and the division happens last, as the spec writes it.
  Eigen::SparseMatrix<double, Eigen::RowMajor> adjacency_;
  Eigen::VectorXd neighbor_count_;
  Eigen::VectorXd floor_, cap_, fixed_;  // fixed_ is NaN where not fixed
  std::vector<uint8_t> disabled_;
  std::map<std::string, ZoneOverride> overrides_;
  Eigen::VectorXd m_;       // raw multiplier carried to the next tick
  Eigen::VectorXd q_prev_;  // published multiplier of the last tick
};

// Step 8: q = step * floor(m / step + 0.5 + 1e-9), returned as the double nearest to
// that decimal (so 12 * 0.1 is published as 1.2, not 1.2000000000000002).
double PublishedMultiplier(double m, double step);

}  // namespace pricing
