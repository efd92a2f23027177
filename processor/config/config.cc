#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

namespace pricing {
namespace {

// Builds messages of one shape: "<file>: key '<key>': <problem>".
class Reporter {
 public:
  explicit Reporter(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void Fail(const std::string& key, const std::string& problem) const {
    throw ConfigError(file_ + ": key '" + key + "': " + problem);
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string Scalar(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "null";
}

void RejectUnknownKeys(const YAML::Node& map, const std::vector<std::string>& allowed,
                       const std::string& prefix, const Reporter& r) {
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) {
      // A complex key ("? ..."), a list or a mapping where a name belongs.
      r.Fail(prefix + "?", "a key is " + Scalar(kv.first) +
                               ", not a plain name; allowed keys here: " + Join(allowed));
    }
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (const auto& a : allowed) known = known || a == key;
    if (!known) r.Fail(prefix + key, "unknown key; allowed keys here: " + Join(allowed));
  }
}

int64_t ReadInt(const YAML::Node& node, const std::string& key, const Reporter& r) {
  try {
    if (node.IsScalar()) return node.as<int64_t>();
  } catch (const YAML::Exception&) {
  }
  r.Fail(key, "value " + Scalar(node) + " is not an integer");
}

double ReadDouble(const YAML::Node& node, const std::string& key, const Reporter& r) {
  double value = 0;
  try {
    if (!node.IsScalar()) r.Fail(key, "value " + Scalar(node) + " is not a number");
    value = node.as<double>();
  } catch (const YAML::Exception&) {
    r.Fail(key, "value " + Scalar(node) + " is not a number");
  }
  if (!std::isfinite(value)) r.Fail(key, "value " + Scalar(node) + " is not a finite number");
  return value;
}

std::string ReadString(const YAML::Node& node, const std::string& key, const Reporter& r) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    r.Fail(key, "value " + Scalar(node) + " is not a non-empty string");
  }
  return node.Scalar();
}

bool ReadBool(const YAML::Node& node, const std::string& key, const Reporter& r) {
  try {
    if (node.IsScalar()) return node.as<bool>();
  } catch (const YAML::Exception&) {
  }
  r.Fail(key, "value " + Scalar(node) + " is not a boolean (allowed: true, false)");
}

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void ReadModel(const YAML::Node& node, const std::string& prefix, const Reporter& r,
               ModelParams* params) {
  if (!node.IsMap()) r.Fail(prefix, "must be a mapping of model parameters");
  static const std::vector<std::string> kKeys = {"name",
                                                 "spatial_weight",
                                                 "adjacency_tolerance_deg",
                                                 "prior",
                                                 "threshold",
                                                 "sensitivity",
                                                 "alpha_up",
                                                 "alpha_down",
                                                 "max_step",
                                                 "floor",
                                                 "cap",
                                                 "step"};
  RejectUnknownKeys(node, kKeys, prefix + ".", r);
  const auto read = [&](const char* key, double* field) {
    if (node[key]) *field = ReadDouble(node[key], prefix + "." + key, r);
  };
  if (node["name"]) params->name = ReadString(node["name"], prefix + ".name", r);
  read("spatial_weight", &params->spatial_weight);
  read("adjacency_tolerance_deg", &params->adjacency_tolerance_deg);
  read("prior", &params->prior);
  read("threshold", &params->threshold);
  read("sensitivity", &params->sensitivity);
  read("alpha_up", &params->alpha_up);
  read("alpha_down", &params->alpha_down);
  read("max_step", &params->max_step);
  read("floor", &params->floor);
  read("cap", &params->cap);
  read("step", &params->step);
}

ZoneOverride ReadOverride(const YAML::Node& node, const std::string& prefix, const Reporter& r) {
  if (!node.IsMap()) r.Fail(prefix, "must be a mapping with any of: floor, cap, fixed, disabled");
  RejectUnknownKeys(node, {"floor", "cap", "fixed", "disabled"}, prefix + ".", r);
  ZoneOverride o;
  if (node["floor"]) o.floor = ReadDouble(node["floor"], prefix + ".floor", r);
  if (node["cap"]) o.cap = ReadDouble(node["cap"], prefix + ".cap", r);
  if (node["fixed"]) o.fixed = ReadDouble(node["fixed"], prefix + ".fixed", r);
  if (node["disabled"]) o.disabled = ReadBool(node["disabled"], prefix + ".disabled", r);
  return o;
}

std::optional<int64_t> EnvInt(const EnvLookup& env, const std::string& name, int64_t min_value) {
  const auto text = env(name);
  if (!text) return std::nullopt;
  int64_t value = 0;
  std::size_t used = 0;
  try {
    value = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text->size() || value < min_value) {
    throw ConfigError("environment variable " + name + ": value '" + *text +
                      "' is not allowed; must be an integer >= " + std::to_string(min_value));
  }
  return value;
}

// Fails unless the file exists and starts like a JSON object (GeoJSON); the full parse
// happens when the zones are loaded.
void CheckZonesFile(const std::filesystem::path& path, const std::string& key, const Reporter& r) {
  std::ifstream in(path);
  if (!in) r.Fail(key, "zones file '" + path.string() + "' cannot be opened");
  char c = 0;
  while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  if (c != '{') {
    r.Fail(key, "zones file '" + path.string() +
                    "' is not GeoJSON (expected a FeatureCollection object)");
  }
}

std::vector<std::string> ReadStringList(const YAML::Node& node, const std::string& key,
                                        const Reporter& r) {
  if (!node.IsSequence() || node.size() == 0) r.Fail(key, "must be a non-empty list of strings");
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(ReadString(item, key, r));
  return out;
}

int64_t ReadPositive(const YAML::Node& node, const std::string& key, const Reporter& r,
                     int64_t min_value) {
  const int64_t v = ReadInt(node, key, r);
  if (v < min_value) {
    r.Fail(key, "value " + std::to_string(v) +
                    " is not allowed; must be >= " + std::to_string(min_value));
  }
  return v;
}

void ReadStreams(const YAML::Node& node, const Reporter& r, std::vector<StreamConfig>* streams) {
  if (!node.IsMap()) r.Fail("streams", "must be a mapping with 'replicas' and/or 'definitions'");
  RejectUnknownKeys(node, {"replicas", "definitions"}, "streams.", r);
  int64_t replicas = 3;
  if (node["replicas"]) {
    replicas = ReadInt(node["replicas"], "streams.replicas", r);
    if (replicas != 1 && replicas != 3 && replicas != 5) {
      r.Fail("streams.replicas",
             "value " + std::to_string(replicas) + " is not allowed; allowed: 1, 3, 5");
    }
  }
  *streams = DefaultStreams(replicas);
  if (!node["definitions"]) return;
  const YAML::Node defs = node["definitions"];
  if (!defs.IsMap()) r.Fail("streams.definitions", "must be a mapping from stream name to limits");
  for (const auto& kv : defs) {
    const std::string name = kv.first.as<std::string>();
    const std::string prefix = "streams.definitions." + name;
    auto it = std::find_if(streams->begin(), streams->end(),
                           [&](const StreamConfig& s) { return s.name == name; });
    if (it == streams->end()) {
      r.Fail(prefix,
             "unknown stream; allowed: LOCATION_EVENTS, PRICING_UPDATES, WEBSOCKET_EVENTS, "
             "ANALYTICS_EVENTS, CONFIG_UPDATES, DEAD_LETTERS");
    }
    const YAML::Node d = kv.second;
    if (!d.IsMap()) r.Fail(prefix, "must be a mapping of stream limits");
    RejectUnknownKeys(d,
                      {"subjects", "max_age_seconds", "max_msgs_per_subject", "max_msg_size",
                       "duplicate_window_seconds", "replicas", "compression"},
                      prefix + ".", r);
    if (d["subjects"]) it->subjects = ReadStringList(d["subjects"], prefix + ".subjects", r);
    if (d["max_age_seconds"])
      it->max_age_seconds = ReadPositive(d["max_age_seconds"], prefix + ".max_age_seconds", r, 0);
    if (d["max_msgs_per_subject"])
      it->max_msgs_per_subject =
          ReadPositive(d["max_msgs_per_subject"], prefix + ".max_msgs_per_subject", r, -1);
    if (d["max_msg_size"])
      it->max_msg_size =
          static_cast<int32_t>(ReadPositive(d["max_msg_size"], prefix + ".max_msg_size", r, -1));
    if (d["duplicate_window_seconds"])
      it->duplicate_window_seconds =
          ReadPositive(d["duplicate_window_seconds"], prefix + ".duplicate_window_seconds", r, 1);
    if (d["replicas"]) it->replicas = ReadPositive(d["replicas"], prefix + ".replicas", r, 1);
    if (d["compression"]) {
      it->compression = ReadString(d["compression"], prefix + ".compression", r);
      if (it->compression != "none" && it->compression != "s2") {
        r.Fail(prefix + ".compression",
               "value " + it->compression + " is not allowed; allowed: none, s2");
      }
    }
  }
}

}  // namespace

std::vector<StreamConfig> DefaultStreams(int64_t replicas) {
  constexpr int64_t kHour = 3600, kWeek = 7 * 24 * kHour;
  return {
      // The busiest stream by far, and the one a restart reads back: s2 keeps 27 % of
      // its bytes on disk (docs/performance.md, "Stream compression").
      {"LOCATION_EVENTS", {"location.>"}, kHour, -1, 4096, 120, replicas, "s2"},
      {"PRICING_UPDATES", {"pricing.>"}, kWeek, 1000, -1, 120, replicas},
      {"WEBSOCKET_EVENTS", {"ws.>"}, kHour, -1, -1, 120, replicas},
      {"ANALYTICS_EVENTS", {"analytics.>"}, kWeek, -1, -1, 120, replicas},
      {"CONFIG_UPDATES", {"config.>"}, 0, 100, -1, 120, replicas},
      {"DEAD_LETTERS", {"dlq.>"}, kWeek, -1, -1, 120, replicas},
  };
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

bool IsValidCityKey(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

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

namespace {
Config LoadConfigFile(const std::filesystem::path& path, const EnvLookup& env);
}  // namespace

namespace {

// nats_auth: {ca, cert, key, user, password, creds, nkey, nkey_seed}, then the
// environment; files must exist, and pairs come together.
void ReadNatsAuth(const YAML::Node& n, const EnvLookup& env, const std::filesystem::path& base_dir,
                  const Reporter& r, NatsAuth* out) {
  struct Field {
    const char* key;
    const char* env;
    std::string NatsAuth::*member;
    bool is_file;
  };
  static const Field kFields[] = {
      {"ca", "NATS_CA", &NatsAuth::ca_file, true},
      {"cert", "NATS_CERT", &NatsAuth::cert_file, true},
      {"key", "NATS_KEY", &NatsAuth::key_file, true},
      {"user", "NATS_USER", &NatsAuth::user, false},
      {"password", "NATS_PASSWORD", &NatsAuth::password, false},
      {"creds", "NATS_CREDS", &NatsAuth::creds_file, true},
      {"nkey", "NATS_NKEY", &NatsAuth::nkey, false},
      {"nkey_seed", "NATS_NKEY_SEED", &NatsAuth::nkey_seed_file, true},
  };
  const bool present = n && !n.IsNull();  // absent, or `nats_auth:` with nothing
  if (present) {
    if (!n.IsMap()) r.Fail("nats_auth", "must be a mapping");
    RejectUnknownKeys(n, {"ca", "cert", "key", "user", "password", "creds", "nkey", "nkey_seed"},
                      "nats_auth.", r);
  }
  for (const Field& f : kFields) {
    const std::string key = std::string("nats_auth.") + f.key;
    std::string value;
    std::string where = "key '" + key + "'";
    if (present && n[f.key]) value = ReadString(n[f.key], key, r);
    if (auto v = env(f.env)) {
      value = *v;
      where = std::string("environment variable ") + f.env;
    }
    if (value.empty()) continue;
    if (f.is_file) {
      const std::filesystem::path p(value);
      const std::filesystem::path resolved =
          p.is_absolute() ? p : (base_dir / p).lexically_normal();
      std::ifstream probe(resolved);
      if (!probe) {
        throw ConfigError(r.file() + ": " + where + ": cannot read file '" + resolved.string() +
                          "'");
      }
      value = resolved.string();
    }
    out->*f.member = value;
  }
  const auto pair = [&](const std::string& a, const std::string& b, const char* ka,
                        const char* kb) {
    if (a.empty() != b.empty()) {
      r.Fail(std::string("nats_auth.") + (a.empty() ? ka : kb),
             std::string("missing: nats_auth.") + ka + " and nats_auth." + kb + " go together");
    }
  };
  pair(out->cert_file, out->key_file, "cert", "key");
  pair(out->nkey, out->nkey_seed_file, "nkey", "nkey_seed");
  if (!out->password.empty() && out->user.empty())
    r.Fail("nats_auth.user", "missing: a password needs a user");
}

}  // namespace

NatsAuth NatsAuthFromEnvironment(const EnvLookup& env) {
  NatsAuth out;
  ReadNatsAuth(YAML::Node(), env, std::filesystem::current_path(), Reporter("environment"), &out);
  return out;
}

Config LoadConfig(const std::filesystem::path& path, const EnvLookup& env) {
  try {
    return LoadConfigFile(path, env);
  } catch (const YAML::Exception& e) {
    // Whatever a check above did not foresee still names the file and the position
    // (found by fuzz/fuzz_config_loader.cc).
    throw ConfigError(path.string() + ": " + e.what());
  }
}

namespace {

Config LoadConfigFile(const std::filesystem::path& path, const EnvLookup& env) {
  const Reporter r(path.string());
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::BadFile&) {
    throw ConfigError(path.string() + ": cannot open configuration file");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(path.string() + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError(path.string() + ": must be a YAML mapping of keys");

  Config c;
  c.source = std::filesystem::absolute(path);
  RejectUnknownKeys(root,
                    {"window_seconds", "interval_seconds", "allowed_lateness_ms",
                     "max_future_skew_ms", "health_check_interval_seconds", "nats_url", "model",
                     "cities", "streams", "consumer", "publish", "nats_send_asap", "nats_auth",
                     "max_catch_up_seconds", "http", "health", "gateway", "backend", "kafka"},
                    "", r);
  if (root["window_seconds"])
    c.window_seconds = ReadInt(root["window_seconds"], "window_seconds", r);
  if (root["interval_seconds"])
    c.interval_seconds = ReadInt(root["interval_seconds"], "interval_seconds", r);
  if (root["allowed_lateness_ms"])
    c.allowed_lateness_ms = ReadInt(root["allowed_lateness_ms"], "allowed_lateness_ms", r);
  if (root["max_future_skew_ms"])
    c.max_future_skew_ms = ReadInt(root["max_future_skew_ms"], "max_future_skew_ms", r);
  if (root["health_check_interval_seconds"]) {
    c.health_check_interval_seconds =
        ReadInt(root["health_check_interval_seconds"], "health_check_interval_seconds", r);
  }
  if (root["nats_url"]) c.nats_url = ReadString(root["nats_url"], "nats_url", r);
  if (root["nats_send_asap"])
    c.nats_send_asap = ReadBool(root["nats_send_asap"], "nats_send_asap", r);
  if (root["max_catch_up_seconds"]) {
    c.max_catch_up_seconds =
        ReadPositive(root["max_catch_up_seconds"], "max_catch_up_seconds", r, 0);
  }
  if (root["model"]) ReadModel(root["model"], "model", r, &c.model);
  if (root["streams"]) ReadStreams(root["streams"], r, &c.streams);
  if (const YAML::Node n = root["consumer"]) {
    if (!n.IsMap()) r.Fail("consumer", "must be a mapping");
    RejectUnknownKeys(
        n,
        {"durable", "batch", "fetch_wait_ms", "ack_wait_seconds", "max_ack_pending", "max_deliver"},
        "consumer.", r);
    if (n["durable"]) c.consumer.durable = ReadString(n["durable"], "consumer.durable", r);
    if (n["batch"]) c.consumer.batch = ReadPositive(n["batch"], "consumer.batch", r, 1);
    if (n["fetch_wait_ms"])
      c.consumer.fetch_wait_ms = ReadPositive(n["fetch_wait_ms"], "consumer.fetch_wait_ms", r, 1);
    if (n["ack_wait_seconds"])
      c.consumer.ack_wait_seconds =
          ReadPositive(n["ack_wait_seconds"], "consumer.ack_wait_seconds", r, 1);
    if (n["max_ack_pending"])
      c.consumer.max_ack_pending =
          ReadPositive(n["max_ack_pending"], "consumer.max_ack_pending", r, 1);
    if (n["max_deliver"])
      c.consumer.max_deliver = ReadPositive(n["max_deliver"], "consumer.max_deliver", r, 1);
  }
  if (const YAML::Node n = root["publish"]) {
    if (!n.IsMap()) r.Fail("publish", "must be a mapping");
    RejectUnknownKeys(n, {"max_pending", "ack_wait_ms"}, "publish.", r);
    if (n["max_pending"])
      c.publish.max_pending = ReadPositive(n["max_pending"], "publish.max_pending", r, 1);
    if (n["ack_wait_ms"])
      c.publish.ack_wait_ms = ReadPositive(n["ack_wait_ms"], "publish.ack_wait_ms", r, 1);
  }

  if (const YAML::Node n = root["http"]) {
    if (!n.IsMap()) r.Fail("http", "must be a mapping");
    RejectUnknownKeys(n, {"bind", "port", "zone_metrics", "max_zone_metrics"}, "http.", r);
    if (n["bind"]) c.http.bind = ReadString(n["bind"], "http.bind", r);
    if (n["port"]) c.http.port = ReadPositive(n["port"], "http.port", r, 0);
    if (c.http.port > 65535) {
      r.Fail("http.port", "value " + std::to_string(c.http.port) +
                              " is not allowed; must be 0 (any free port) to 65535");
    }
    if (n["zone_metrics"])
      c.http.zone_metrics = ReadBool(n["zone_metrics"], "http.zone_metrics", r);
    if (n["max_zone_metrics"]) {
      c.http.max_zone_metrics = ReadPositive(n["max_zone_metrics"], "http.max_zone_metrics", r, 0);
    }
  }
  if (const YAML::Node n = root["health"]) {
    if (!n.IsMap()) r.Fail("health", "must be a mapping");
    RejectUnknownKeys(n, {"max_consumer_lag", "max_tick_age_seconds"}, "health.", r);
    if (n["max_consumer_lag"]) {
      c.health.max_consumer_lag =
          ReadPositive(n["max_consumer_lag"], "health.max_consumer_lag", r, 0);
    }
    if (n["max_tick_age_seconds"]) {
      c.health.max_tick_age_seconds =
          ReadPositive(n["max_tick_age_seconds"], "health.max_tick_age_seconds", r, 0);
    }
  }

  if (const YAML::Node n = root["gateway"]) {
    if (!n.IsMap()) r.Fail("gateway", "must be a mapping");
    RejectUnknownKeys(n, {"enabled", "max_queue_messages", "max_clients"}, "gateway.", r);
    if (n["enabled"]) c.gateway.enabled = ReadBool(n["enabled"], "gateway.enabled", r);
    if (n["max_queue_messages"]) {
      c.gateway.max_queue_messages =
          ReadPositive(n["max_queue_messages"], "gateway.max_queue_messages", r, 1);
    }
    if (n["max_clients"])
      c.gateway.max_clients = ReadPositive(n["max_clients"], "gateway.max_clients", r, 1);
  }

  if (root["backend"]) {
    c.backend = ReadString(root["backend"], "backend", r);
    if (c.backend != "nats" && c.backend != "kafka")
      r.Fail("backend", "value '" + c.backend + "' is not allowed; must be nats or kafka");
  }
  if (const YAML::Node n = root["kafka"]) {
    if (!n.IsMap()) r.Fail("kafka", "must be a mapping");
    RejectUnknownKeys(
        n, {"brokers", "group_id", "linger_ms", "fetch_wait_max_ms", "auto_offset_reset"}, "kafka.",
        r);
    if (n["auto_offset_reset"]) {
      c.kafka.auto_offset_reset = ReadString(n["auto_offset_reset"], "kafka.auto_offset_reset", r);
      if (c.kafka.auto_offset_reset != "latest" && c.kafka.auto_offset_reset != "earliest") {
        r.Fail("kafka.auto_offset_reset", "value '" + c.kafka.auto_offset_reset +
                                              "' is not allowed; must be latest or earliest");
      }
    }
    if (n["brokers"]) c.kafka.brokers = ReadString(n["brokers"], "kafka.brokers", r);
    if (n["group_id"]) c.kafka.group_id = ReadString(n["group_id"], "kafka.group_id", r);
    if (n["linger_ms"]) c.kafka.linger_ms = ReadPositive(n["linger_ms"], "kafka.linger_ms", r, 0);
    if (n["fetch_wait_max_ms"]) {
      c.kafka.fetch_wait_max_ms =
          ReadPositive(n["fetch_wait_max_ms"], "kafka.fetch_wait_max_ms", r, 0);
    }
  }

  // Environment overrides win over the file (pricing-model.md, "Configuration keys").
  if (auto v = EnvInt(env, "WINDOW_SIZE_SECONDS", 1)) c.window_seconds = *v;
  if (auto v = EnvInt(env, "PROCESSING_INTERVAL_SECONDS", 1)) c.interval_seconds = *v;
  if (auto v = EnvInt(env, "HEALTH_CHECK_INTERVAL_SECONDS", 1))
    c.health_check_interval_seconds = *v;
  if (auto v = env("NATS_URL")) {
    if (v->empty()) throw ConfigError("environment variable NATS_URL: must not be empty");
    c.nats_url = *v;
  }

  ReadNatsAuth(root["nats_auth"], env, c.source.parent_path(), r, &c.nats_auth);

  if (auto v = env("KAFKA_BROKERS")) {
    if (v->empty()) throw ConfigError("environment variable KAFKA_BROKERS: must not be empty");
    c.kafka.brokers = *v;
  }
  if (c.backend == "kafka" && c.kafka.brokers.empty()) {
    r.Fail("kafka.brokers", "is required with backend: kafka (HOST:PORT[,HOST:PORT...])");
  }
  if (c.kafka.group_id.empty()) r.Fail("kafka.group_id", "must not be empty");

  if (c.interval_seconds <= 0) {
    r.Fail("interval_seconds",
           "value " + std::to_string(c.interval_seconds) + " is not allowed; must be > 0");
  }
  if (c.window_seconds <= 0 || c.window_seconds % c.interval_seconds != 0) {
    r.Fail("window_seconds",
           "value " + std::to_string(c.window_seconds) +
               " is not allowed; must be a positive multiple of interval_seconds (" +
               std::to_string(c.interval_seconds) + ")");
  }
  if (c.allowed_lateness_ms < 0 || c.allowed_lateness_ms >= c.interval_ms()) {
    r.Fail("allowed_lateness_ms",
           "value " + std::to_string(c.allowed_lateness_ms) +
               " is not allowed; must be >= 0 and < interval_seconds * 1000 (" +
               std::to_string(c.interval_ms()) + ")");
  }
  if (c.max_future_skew_ms < 0) {
    r.Fail("max_future_skew_ms",
           "value " + std::to_string(c.max_future_skew_ms) + " is not allowed; must be >= 0");
  }
  if (c.health_check_interval_seconds <= 0) {
    r.Fail("health_check_interval_seconds", "value " +
                                                std::to_string(c.health_check_interval_seconds) +
                                                " is not allowed; must be > 0");
  }
  ValidateModelParams(c.model, path.string() + ": key 'model");

  const YAML::Node cities = root["cities"];
  if (!cities || !cities.IsMap() || cities.size() == 0) {
    r.Fail("cities", "must be a mapping with at least one city (for example 'nyc: {zones: ...}')");
  }
  const auto base_dir = c.source.parent_path();
  for (const auto& kv : cities) {
    CityConfig city;
    city.key = kv.first.as<std::string>();
    const std::string prefix = "cities." + city.key;
    if (!IsValidCityKey(city.key)) {
      r.Fail(prefix,
             "city key '" + city.key + "' is not allowed; use lower-case letters, digits and '-'");
    }
    const YAML::Node node = kv.second;
    if (!node.IsMap()) r.Fail(prefix, "must be a mapping with at least 'zones'");
    RejectUnknownKeys(node, {"zones", "id_property", "name_property", "model", "overrides"},
                      prefix + ".", r);
    if (!node["zones"]) r.Fail(prefix + ".zones", "missing; give the path of a GeoJSON zones file");
    std::filesystem::path zones = ReadString(node["zones"], prefix + ".zones", r);
    city.zones_path = zones.is_absolute() ? zones : (base_dir / zones).lexically_normal();
    CheckZonesFile(city.zones_path, prefix + ".zones", r);
    if (node["id_property"])
      city.id_property = ReadString(node["id_property"], prefix + ".id_property", r);
    if (node["name_property"])
      city.name_property = ReadString(node["name_property"], prefix + ".name_property", r);
    city.model = c.model;
    if (node["model"]) ReadModel(node["model"], prefix + ".model", r, &city.model);
    ValidateModelParams(city.model, path.string() + ": key '" + prefix + ".model");
    if (node["overrides"]) {
      const YAML::Node overrides = node["overrides"];
      if (!overrides.IsMap())
        r.Fail(prefix + ".overrides", "must be a mapping from zone id to override");
      for (const auto& ov : overrides) {
        const std::string zone_id = ov.first.as<std::string>();
        const std::string key = prefix + ".overrides." + zone_id;
        ZoneOverride o = ReadOverride(ov.second, key, r);
        ValidateZoneOverride(o, city.model, path.string() + ": key '" + key);
        city.overrides.emplace(zone_id, o);
      }
    }
    c.cities.emplace(city.key, std::move(city));
  }
  return c;
}

}  // namespace

}  // namespace pricing
