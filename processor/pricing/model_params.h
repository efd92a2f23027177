// The ratio-v1 model's parameters and per-zone overrides (pricing-model.md,
// "Computation"), with the one list of their keys that the configuration file and
// CONFIG_UPDATES documents both read. Pure; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace pricing {

struct ModelParams {
  std::string name = "ratio-v1";
  double spatial_weight = 0.5;
  double adjacency_tolerance_deg = 1.0e-4;
  double prior = 1.0;
  double threshold = 1.2;
  double sensitivity = 0.5;
  double alpha_up = 0.5;
  double alpha_down = 0.2;
  double max_step = 0.25;
  double floor = 1.0;
  double cap = 3.0;
  double step = 0.1;

  bool operator==(const ModelParams&) const = default;
};

// A per-zone override; unset fields fall back to the model's values.
struct ZoneOverride {
  std::optional<double> floor;
  std::optional<double> cap;
  std::optional<double> fixed;
  bool disabled = false;

  bool operator==(const ZoneOverride&) const = default;
};

// Every numeric model parameter, once: its key, its member, and whether a
// CONFIG_UPDATES document may change it (adjacency_tolerance_deg shapes the
// neighbour graph, which is built when the zones load).
struct ModelParamField {
  std::string_view key;
  double ModelParams::*member;
  bool live;
};
inline constexpr std::array<ModelParamField, 11> kModelParamFields = {{
    {"spatial_weight", &ModelParams::spatial_weight, true},
    {"adjacency_tolerance_deg", &ModelParams::adjacency_tolerance_deg, false},
    {"prior", &ModelParams::prior, true},
    {"threshold", &ModelParams::threshold, true},
    {"sensitivity", &ModelParams::sensitivity, true},
    {"alpha_up", &ModelParams::alpha_up, true},
    {"alpha_down", &ModelParams::alpha_down, true},
    {"max_step", &ModelParams::max_step, true},
    {"floor", &ModelParams::floor, true},
    {"cap", &ModelParams::cap, true},
    {"step", &ModelParams::step, true},
}};

// Validates model parameters; `where` prefixes messages (for example "file.yaml: key 'model").
// Throws ConfigError naming `where`, the parameter and the allowed range.
void ValidateModelParams(const ModelParams& params, const std::string& where);

// Validates one override against the effective floor and cap of its city.
void ValidateZoneOverride(const ZoneOverride& o, const ModelParams& params,
                          const std::string& where);

}  // namespace pricing
