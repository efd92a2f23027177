#include "pricing/model_params.h"

#include <sstream>

#include "common/config_error.h"

namespace pricing {
namespace {

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

void ValidateModelParams(const ModelParams& p, const std::string& where) {
  const auto fail = [&](const std::string& key, double v, const std::string& allowed) {
    throw ConfigError(where + "." + key + "': value " + Num(v) + " is not allowed; " + allowed);
  };
  if (p.name != "ratio-v1") {
    throw ConfigError(where + ".name': value '" + p.name +
                      "' is not allowed; allowed models: ratio-v1");
  }
  if (p.spatial_weight < 0)
    fail("spatial_weight", p.spatial_weight, "must be >= 0 (0 turns smoothing off)");
  if (p.adjacency_tolerance_deg < 0)
    fail("adjacency_tolerance_deg", p.adjacency_tolerance_deg, "must be >= 0");
  if (p.prior <= 0) fail("prior", p.prior, "must be > 0");
  if (p.threshold < 0) fail("threshold", p.threshold, "must be >= 0");
  if (p.sensitivity < 0) fail("sensitivity", p.sensitivity, "must be >= 0");
  if (!(p.alpha_up > 0 && p.alpha_up <= 1)) fail("alpha_up", p.alpha_up, "must be in (0, 1]");
  if (!(p.alpha_down > 0 && p.alpha_down <= 1))
    fail("alpha_down", p.alpha_down, "must be in (0, 1]");
  if (p.max_step <= 0) fail("max_step", p.max_step, "must be > 0");
  if (p.floor <= 0) fail("floor", p.floor, "must be > 0");
  if (p.cap < p.floor) fail("cap", p.cap, "must be >= floor (" + Num(p.floor) + ")");
  if (p.step <= 0) fail("step", p.step, "must be > 0");
}

void ValidateZoneOverride(const ZoneOverride& o, const ModelParams& params,
                          const std::string& where) {
  const double floor = o.floor.value_or(params.floor);
  const double cap = o.cap.value_or(params.cap);
  if (o.floor && *o.floor <= 0) {
    throw ConfigError(where + ".floor': value " + Num(*o.floor) + " is not allowed; must be > 0");
  }
  if (floor > cap) {
    throw ConfigError(where + "': floor " + Num(floor) + " is greater than cap " + Num(cap) +
                      "; floor must be <= cap");
  }
  if (o.fixed && *o.fixed <= 0) {
    throw ConfigError(where + ".fixed': value " + Num(*o.fixed) + " is not allowed; must be > 0");
  }
  if (o.fixed && o.disabled) {
    throw ConfigError(where + "': fixed and disabled are exclusive; set one of them");
  }
}

}  // namespace pricing
