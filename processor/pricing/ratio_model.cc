#include "pricing/ratio_model.h"

#include <cmath>
#include <limits>

namespace pricing {

std::string_view ToString(Bound bound) {
  switch (bound) {
    case Bound::kNone:
      return "none";
    case Bound::kRateLimit:
      return "rate_limit";
    case Bound::kFloor:
      return "floor";
    case Bound::kCap:
      return "cap";
    case Bound::kOverride:
      return "override";
    case Bound::kDisabled:
      return "disabled";
  }
  return "none";
}

double PublishedMultiplier(double m, double step) {
  const double units = std::floor(m / step + 0.5 + 1e-9);
  const double q = step * units;
  // Remove the binary noise of step * units below 1e-9, far finer than any step.
  return std::round(q * 1e9) / 1e9;
}

RatioModel::RatioModel(const ZoneSet& zones, const ModelParams& params,
                       const std::map<std::string, ZoneOverride>& overrides)
    : zones_(zones) {
  const auto n = static_cast<Eigen::Index>(zones.size());
  std::vector<Eigen::Triplet<double>> entries;
  neighbor_count_.resize(n);
  for (Eigen::Index z = 0; z < n; ++z) {
    const auto list = zones.neighbors(static_cast<ZoneIndexT>(z));
    neighbor_count_[z] = static_cast<double>(list.size());
    for (ZoneIndexT other : list) entries.emplace_back(z, other, 1.0);
  }
  adjacency_.resize(n, n);
  adjacency_.setFromTriplets(entries.begin(), entries.end());
  m_ = Eigen::VectorXd::Ones(n);
  q_prev_ = Eigen::VectorXd::Ones(n);
  Configure(params, overrides);
}

void RatioModel::Configure(const ModelParams& params,
                           const std::map<std::string, ZoneOverride>& overrides) {
  const auto n = static_cast<Eigen::Index>(zones_.size());
  Eigen::VectorXd floor = Eigen::VectorXd::Constant(n, params.floor);
  Eigen::VectorXd cap = Eigen::VectorXd::Constant(n, params.cap);
  Eigen::VectorXd fixed = Eigen::VectorXd::Constant(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<uint8_t> disabled(static_cast<std::size_t>(n), 0);
  for (const auto& [id, o] : overrides) {
    const auto z = zones_.Find(id);
    if (!z) {
      throw ConfigError("override for zone '" + id + "': no such zone in " + zones_.source());
    }
    if (o.floor) floor[*z] = *o.floor;
    if (o.cap) cap[*z] = *o.cap;
    if (o.fixed) fixed[*z] = *o.fixed;
    disabled[static_cast<std::size_t>(*z)] = o.disabled ? 1 : 0;
  }
  params_ = params;
  overrides_ = overrides;
  floor_ = std::move(floor);
  cap_ = std::move(cap);
  fixed_ = std::move(fixed);
  disabled_ = std::move(disabled);
}

void RatioModel::RestoreZone(ZoneIndexT zone, double raw, double published) {
  m_[zone] = raw;
  q_prev_[zone] = published;
}

ModelOutput RatioModel::Compute(std::span<const int32_t> supply, std::span<const int32_t> demand) {
  const auto n = static_cast<Eigen::Index>(zones_.size());
  const ModelParams& p = params_;
  ModelOutput out;
  out.supply = Eigen::Map<const Eigen::VectorXi>(supply.data(), n).cast<double>();
  out.demand = Eigen::Map<const Eigen::VectorXi>(demand.data(), n).cast<double>();

  // 1. Spatial smoothing.
  const Eigen::ArrayXd denom = 1.0 + p.spatial_weight * neighbor_count_.array();
  const Eigen::VectorXd supply_sum = adjacency_ * out.supply;
  const Eigen::VectorXd demand_sum = adjacency_ * out.demand;
  out.supply_smoothed = (out.supply.array() + p.spatial_weight * supply_sum.array()) / denom;
  out.demand_smoothed = (out.demand.array() + p.spatial_weight * demand_sum.array()) / denom;
  // 2. Ratio with prior.
  out.ratio = (out.demand_smoothed.array() + p.prior) / (out.supply_smoothed.array() + p.prior);
  // 3. Target.
  out.target = 1.0 + p.sensitivity * (out.ratio.array() - p.threshold).max(0.0);

  out.raw.resize(n);
  out.multiplier.resize(n);
  out.previous = q_prev_;
  out.bound.assign(static_cast<std::size_t>(n), Bound::kNone);
  for (Eigen::Index z = 0; z < n; ++z) {
    const double prev = m_[z];
    Bound bound = Bound::kNone;
    // 4. Smoothing in time.
    const double alpha = out.target[z] > prev ? p.alpha_up : p.alpha_down;
    double e = prev + alpha * (out.target[z] - prev);
    // 5. Rate limit.
    if (e < prev - p.max_step) {
      e = prev - p.max_step;
      bound = Bound::kRateLimit;
    } else if (e > prev + p.max_step) {
      e = prev + p.max_step;
      bound = Bound::kRateLimit;
    }
    // 6. Bounds.
    if (e < floor_[z]) {
      e = floor_[z];
      bound = Bound::kFloor;
    } else if (e > cap_[z]) {
      e = cap_[z];
      bound = Bound::kCap;
    }
    // 7. Overrides.
    if (disabled_[static_cast<std::size_t>(z)]) {
      e = 1.0;
      bound = Bound::kDisabled;
    } else if (!std::isnan(fixed_[z])) {
      e = fixed_[z];
      bound = Bound::kOverride;
    }
    out.raw[z] = e;
    out.bound[static_cast<std::size_t>(z)] = bound;
    // 8. Published multiplier.
    out.multiplier[z] = PublishedMultiplier(e, p.step);
  }
  m_ = out.raw;
  q_prev_ = out.multiplier;
  return out;
}

}  // namespace pricing
