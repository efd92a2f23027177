#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

void ReadModel(const YAML::Node& node, const std::string& prefix, const Reporter& r,
               ModelParams* params) {
  if (!node.IsMap()) r.Fail(prefix, "must be a mapping of model parameters");
  std::vector<std::string> keys = {"name"};
  for (const ModelParamField& f : kModelParamFields) keys.emplace_back(f.key);
  RejectUnknownKeys(node, keys, prefix + ".", r);
  if (node["name"]) params->name = ReadString(node["name"], prefix + ".name", r);
  for (const ModelParamField& f : kModelParamFields) {
    const std::string key(f.key);
    if (node[key]) params->*f.member = ReadDouble(node[key], prefix + "." + key, r);
  }
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
// happens when the zones are loaded. `written` is the path as the configuration gives
// it: a relative one is taken from the configuration file's folder, and a copied
// configuration trips on exactly that, so the message says so and shows where it led.
void CheckZonesFile(const std::filesystem::path& path, const std::filesystem::path& written,
                    const std::string& key, const Reporter& r) {
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    std::string problem = "zones file '" + written.string() + "' cannot be opened (" +
                          (errno != 0 ? std::strerror(errno) : "unreadable") + ")";
    if (!written.is_absolute()) {
      problem +=
          ": a relative path is taken from the configuration file's folder, so it "
          "resolved to '" +
          path.string() + "'";
    }
    r.Fail(key, problem);
  }
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

// One key of a section, and how to read it into the section's struct S. A section is
// a table of these: its keys are listed once, for reading and for "allowed keys here".
template <class S>
struct Field {
  const char* key;
  std::function<void(const YAML::Node&, const std::string& key, const Reporter&, S*)> read;
};

template <class S, class T>
Field<S> AtLeast(const char* key, T S::*member, int64_t min_value) {
  return {key,
          [member, min_value](const YAML::Node& n, const std::string& k, const Reporter& r, S* s) {
            s->*member = static_cast<T>(ReadPositive(n, k, r, min_value));
          }};
}
template <class S>
Field<S> Integer(const char* key, int64_t S::*member) {
  return {key, [member](const YAML::Node& n, const std::string& k, const Reporter& r, S* s) {
            s->*member = ReadInt(n, k, r);
          }};
}
template <class S>
Field<S> Text(const char* key, std::string S::*member) {
  return {key, [member](const YAML::Node& n, const std::string& k, const Reporter& r, S* s) {
            s->*member = ReadString(n, k, r);
          }};
}
template <class S>
Field<S> Flag(const char* key, bool S::*member) {
  return {key, [member](const YAML::Node& n, const std::string& k, const Reporter& r, S* s) {
            s->*member = ReadBool(n, k, r);
          }};
}
// A string with two allowed values: "value 'x' is not allowed; must be a or b".
template <class S>
Field<S> Either(const char* key, std::string S::*member, const char* a, const char* b) {
  return {key, [member, a, b](const YAML::Node& n, const std::string& k, const Reporter& r, S* s) {
            const std::string v = ReadString(n, k, r);
            if (v != a && v != b) {
              r.Fail(k, "value '" + v + "' is not allowed; must be " + a + " or " + b);
            }
            s->*member = v;
          }};
}

template <class S>
std::vector<std::string> KeysOf(const std::vector<Field<S>>& fields) {
  std::vector<std::string> keys;
  for (const Field<S>& f : fields) keys.emplace_back(f.key);
  return keys;
}

// Reads the fields present in `node` (keys named `prefix` + key), in table order.
template <class S>
void ReadFields(const YAML::Node& node, const std::vector<Field<S>>& fields,
                const std::string& prefix, const Reporter& r, S* out) {
  for (const Field<S>& f : fields) {
    if (node[f.key]) f.read(node[f.key], prefix + f.key, r, out);
  }
}

// A mapping section `name` of `root`: absent is fine; anything else than a mapping, or
// an unknown key, fails naming it.
template <class S>
void ReadSection(const YAML::Node& root, const char* name, const std::vector<Field<S>>& fields,
                 const Reporter& r, S* out) {
  const YAML::Node n = root[name];
  if (!n) return;
  if (!n.IsMap()) r.Fail(name, "must be a mapping");
  const std::string prefix = std::string(name) + ".";
  RejectUnknownKeys(n, KeysOf(fields), prefix, r);
  ReadFields(n, fields, prefix, r, out);
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
      {"LOCATION_EVENTS", {"location.>"}, kHour, -1, 4096, 120, replicas, "s2", "", ""},
      {"PRICING_UPDATES", {"pricing.>"}, kWeek, 1000, -1, 120, replicas, "none", "", ""},
      {"WEBSOCKET_EVENTS", {"ws.>"}, kHour, -1, -1, 120, replicas, "none", "", ""},
      {"ANALYTICS_EVENTS", {"analytics.>"}, kWeek, -1, -1, 120, replicas, "none", "", ""},
      {"CONFIG_UPDATES", {"config.>"}, 0, 100, -1, 120, replicas, "none", "", ""},
      {"DEAD_LETTERS", {"dlq.>"}, kWeek, -1, -1, 120, replicas, "none", "", ""},
  };
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
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
  // The keys of the top level that are plain values, and the sections.
  static const std::vector<Field<Config>> kTop = {
      Integer("window_seconds", &Config::window_seconds),
      Integer("interval_seconds", &Config::interval_seconds),
      Integer("allowed_lateness_ms", &Config::allowed_lateness_ms),
      Integer("max_future_skew_ms", &Config::max_future_skew_ms),
      Integer("health_check_interval_seconds", &Config::health_check_interval_seconds),
      Text("nats_url", &Config::nats_url),
      Flag("nats_send_asap", &Config::nats_send_asap),
      AtLeast("nats_connect_wait_seconds", &Config::nats_connect_wait_seconds, 0),
      AtLeast("max_catch_up_seconds", &Config::max_catch_up_seconds, 0),
      Field<Config>{"partitions",
                    [](const YAML::Node& n, const std::string& k, const Reporter& r, Config* c) {
                      c->partitions = ReadPositive(n, k, r, 1);
                      if (c->partitions > Config::kMaxPartitions) {
                        r.Fail(k, "value " + std::to_string(c->partitions) +
                                      " is not allowed; must be 1 to " +
                                      std::to_string(Config::kMaxPartitions));
                      }
                    }},
      Either("backend", &Config::backend, "nats", "kafka"),
  };
  static const std::vector<Field<ConsumerConfig>> kConsumer = {
      Text("durable", &ConsumerConfig::durable),
      AtLeast("batch", &ConsumerConfig::batch, 1),
      AtLeast("fetch_wait_ms", &ConsumerConfig::fetch_wait_ms, 1),
      AtLeast("ack_wait_seconds", &ConsumerConfig::ack_wait_seconds, 1),
      AtLeast("max_ack_pending", &ConsumerConfig::max_ack_pending, 1),
      AtLeast("max_deliver", &ConsumerConfig::max_deliver, 1),
      AtLeast("takeover_after_seconds", &ConsumerConfig::takeover_after_seconds, 1),
  };
  static const std::vector<Field<PublishConfig>> kPublish = {
      AtLeast("max_pending", &PublishConfig::max_pending, 1),
      AtLeast("ack_wait_ms", &PublishConfig::ack_wait_ms, 1),
  };
  static const std::vector<Field<HttpConfig>> kHttp = {
      Text("bind", &HttpConfig::bind),
      AtLeast("port", &HttpConfig::port, 0),
      Flag("zone_metrics", &HttpConfig::zone_metrics),
      AtLeast("max_zone_metrics", &HttpConfig::max_zone_metrics, 0),
  };
  static const std::vector<Field<HealthConfig>> kHealth = {
      AtLeast("max_consumer_lag", &HealthConfig::max_consumer_lag, 0),
      AtLeast("max_tick_age_seconds", &HealthConfig::max_tick_age_seconds, 0),
  };
  static const std::vector<Field<GatewayConfig>> kGateway = {
      Flag("enabled", &GatewayConfig::enabled),
      AtLeast("max_queue_messages", &GatewayConfig::max_queue_messages, 1),
      AtLeast("max_clients", &GatewayConfig::max_clients, 1),
  };
  static const std::vector<Field<KafkaConfig>> kKafka = {
      Either("auto_offset_reset", &KafkaConfig::auto_offset_reset, "latest", "earliest"),
      Text("brokers", &KafkaConfig::brokers),
      Text("group_id", &KafkaConfig::group_id),
      AtLeast("linger_ms", &KafkaConfig::linger_ms, 0),
      AtLeast("fetch_wait_max_ms", &KafkaConfig::fetch_wait_max_ms, 0),
      AtLeast("partitions", &KafkaConfig::partitions, 1),
      AtLeast("session_timeout_ms", &KafkaConfig::session_timeout_ms, 6000),
      Text("checkpoint_topic", &KafkaConfig::checkpoint_topic),
      Text("partials_topic", &KafkaConfig::partials_topic),
      Text("lease_topic", &KafkaConfig::lease_topic),
  };
  std::vector<std::string> top_keys = KeysOf(kTop);
  for (const char* section : {"model", "cities", "streams", "consumer", "publish", "nats_auth",
                              "http", "health", "gateway", "kafka"})
    top_keys.emplace_back(section);
  RejectUnknownKeys(root, top_keys, "", r);
  ReadFields(root, kTop, "", r, &c);
  if (root["model"]) ReadModel(root["model"], "model", r, &c.model);
  if (root["streams"]) ReadStreams(root["streams"], r, &c.streams);
  if (c.partitions > 1) {
    // Partitioned pricing: an event published with its entity id as a fourth token is
    // stored under its partition, so each count stage's durable reads only its own.
    for (StreamConfig& stream : c.streams) {
      if (stream.name != "LOCATION_EVENTS") continue;
      stream.transform_src = "location.*.*.*";
      stream.transform_dest = "location.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(" +
                              std::to_string(c.partitions) + ",3)}}";
    }
  }
  ReadSection(root, "consumer", kConsumer, r, &c.consumer);
  ReadSection(root, "publish", kPublish, r, &c.publish);
  ReadSection(root, "http", kHttp, r, &c.http);
  if (c.http.port > 65535) {
    r.Fail("http.port", "value " + std::to_string(c.http.port) +
                            " is not allowed; must be 0 (any free port) to 65535");
  }
  ReadSection(root, "health", kHealth, r, &c.health);
  ReadSection(root, "gateway", kGateway, r, &c.gateway);
  ReadSection(root, "kafka", kKafka, r, &c.kafka);

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
  if (c.kafka.checkpoint_topic.empty()) r.Fail("kafka.checkpoint_topic", "must not be empty");
  if (c.partitions > 1) {
    // On Kafka a stage-1 partition is a partition of location-events.
    if (c.kafka.partitions != 1 && c.kafka.partitions != c.partitions) {
      r.Fail("kafka.partitions",
             "value " + std::to_string(c.kafka.partitions) +
                 " is not allowed with partitions: " + std::to_string(c.partitions) +
                 "; location-events then has one partition per stage-1 partition: leave it "
                 "out or set it to " +
                 std::to_string(c.partitions));
    }
    c.kafka.partitions = c.partitions;
  }

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
    CheckZonesFile(city.zones_path, zones, prefix + ".zones", r);
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

EngineConfig Config::engine() const {
  return {{interval_ms(), window_ms(), allowed_lateness_ms, max_future_skew_ms}, cities};
}

}  // namespace pricing
