#include "engine/config_update.h"

#include <simdjson.h>

#include <algorithm>

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

std::string EncodeConfigAnswer(const ConfigUpdate& update) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("version").Int(update.version).Key("accepted").Bool(update.ok());
  if (!update.ok()) w.Key("error").String(update.error);
  w.EndObject();
  return out;
}

}  // namespace pricing
