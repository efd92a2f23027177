// CONFIG_UPDATES documents (events.md): `{"version": N, <model parameters>...,
// "overrides": {"<zone id>": {"cap": .., "floor": .., "fixed": .., "disabled": ..}}}`.
// Parameters not named keep their value in force; `overrides`, when present, replaces
// the city's whole override set (so an override can be removed). Validated whole: a
// document is applied entirely or not at all. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_error.h"
#include "pricing/model_params.h"
#include "zones/zone_set.h"

namespace pricing {

struct ConfigUpdate {
  int64_t version = 0;
  ModelParams params;
  std::map<std::string, ZoneOverride> overrides;
  std::string error;  // empty when valid
  bool ok() const { return error.empty(); }
};

// Parses and validates `payload` against the parameters and overrides in force.
ConfigUpdate ParseConfigUpdate(std::string_view payload, const ModelParams& current,
                               const std::map<std::string, ZoneOverride>& current_overrides,
                               int64_t current_version, const ZoneSet& zones);

// The answer on config.applied.<city>.
std::string EncodeConfigAnswer(const ConfigUpdate& update);

// What `update` changes against the parameters and overrides in force, a line each in
// key order: "cap: 3 -> 2.5", "overrides.132: none -> fixed 1.5". Empty: nothing.
std::vector<std::string> DescribeConfigChanges(
    const ModelParams& current, const std::map<std::string, ZoneOverride>& current_overrides,
    const ConfigUpdate& update);

}  // namespace pricing
