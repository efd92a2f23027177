#include "engine/config_update.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>

#include "common/json_writer.h"

namespace pricing {
namespace {

bool ReadNumber(simdjson::dom::element v, double* out) {
  return v.get_double().get(*out) == simdjson::SUCCESS;
}

}  // namespace

ConfigUpdate ParseConfigUpdate(std::string_view payload, const ModelParams& current,
                               const std::map<std::string, ZoneOverride>& current_overrides,
                               int64_t current_version, const ZoneSet& zones) {
  ConfigUpdate u;
  u.params = current;
  u.overrides = current_overrides;
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(simdjson::padded_string(payload)).get_object().get(root)) {
    u.error = "not a JSON object";
    return u;
  }
  if (root["version"].get_int64().get(u.version)) {
    u.error = "'version' missing or not an integer";
    return u;
  }
  if (u.version <= current_version) {
    u.error = "version " + std::to_string(u.version) +
              " is not greater than the version in force (" + std::to_string(current_version) + ")";
    return u;
  }
  for (auto field : root) {
    const std::string_view key = field.key;
    if (key == "version") continue;
    if (key == "overrides") {
      simdjson::dom::object zones_obj;
      if (field.value.get_object().get(zones_obj)) {
        u.error = "'overrides' must be an object from zone id to override";
        return u;
      }
      u.overrides.clear();
      for (auto z : zones_obj) {
        const std::string id(z.key);
        if (!zones.Find(id)) {
          u.error = "overrides: no zone '" + id + "' in this city";
          return u;
        }
        simdjson::dom::object o;
        if (z.value.get_object().get(o)) {
          u.error = "overrides." + id + " must be an object";
          return u;
        }
        ZoneOverride zo;
        for (auto f : o) {
          double v = 0;
          bool b = false;
          if (f.key == "disabled" && f.value.get_bool().get(b) == simdjson::SUCCESS) {
            zo.disabled = b;
          } else if ((f.key == "cap" || f.key == "floor" || f.key == "fixed") &&
                     ReadNumber(f.value, &v)) {
            (f.key == "cap" ? zo.cap : f.key == "floor" ? zo.floor : zo.fixed) = v;
          } else {
            u.error = "overrides." + id + "." + std::string(f.key) +
                      ": unknown key or wrong type (allowed: cap, floor, fixed numbers; disabled "
                      "boolean)";
            return u;
          }
        }
        u.overrides[id] = zo;
      }
      continue;
    }
    const auto it = std::find_if(kModelParamFields.begin(), kModelParamFields.end(),
                                 [&](const ModelParamField& f) { return f.live && f.key == key; });
    double v = 0;
    if (it == kModelParamFields.end() || !ReadNumber(field.value, &v)) {
      u.error = "'" + std::string(key) + "': unknown parameter or not a number";
      return u;
    }
    u.params.*(it->member) = v;
  }
  try {
    ValidateModelParams(u.params, "config update: key 'model");
    for (const auto& [id, o] : u.overrides)
      ValidateZoneOverride(o, u.params, "config update: key 'overrides." + id);
  } catch (const ConfigError& e) {
    u.error = e.what();
  }
  return u;
}

namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string Describe(const ZoneOverride* o) {
  if (o == nullptr) return "none";
  std::string s;
  const auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (o->disabled) add("disabled");
  if (o->fixed) add("fixed " + Number(*o->fixed));
  if (o->floor) add("floor " + Number(*o->floor));
  if (o->cap) add("cap " + Number(*o->cap));
  return s.empty() ? "none" : s;
}

}  // namespace

std::vector<std::string> DescribeConfigChanges(
    const ModelParams& current, const std::map<std::string, ZoneOverride>& current_overrides,
    const ConfigUpdate& update) {
  std::vector<std::string> out;
  for (const ModelParamField& f : kModelParamFields) {
    const double before = current.*(f.member), after = update.params.*(f.member);
    if (before != after)
      out.push_back(std::string(f.key) + ": " + Number(before) + " -> " + Number(after));
  }
  std::map<std::string, std::pair<const ZoneOverride*, const ZoneOverride*>> zones;
  for (const auto& [id, o] : current_overrides) zones[id].first = &o;
  for (const auto& [id, o] : update.overrides) zones[id].second = &o;
  for (const auto& [id, pair] : zones) {
    const auto& [before, after] = pair;
    if (before != nullptr && after != nullptr && *before == *after) continue;
    out.push_back("overrides." + id + ": " + Describe(before) + " -> " + Describe(after));
  }
  return out;
}

std::string EncodeConfigAnswer(const ConfigUpdate& update) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("version").Int(update.version).Key("accepted").Bool(update.ok());
  if (!update.ok()) w.Key("error").String(update.error);
  w.EndObject();
  return out;
}

}  // namespace pricing
