#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "engine/pricing_engine.h"
#include "test_util.h"

namespace pricing {
namespace {

using test::TempDir;

constexpr const char* kZones = R"({"type":"FeatureCollection","features":[
  {"type":"Feature","properties":{"LocationID":1,"zone":"One"},"geometry":{"type":"Polygon",
   "coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}]})";

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.Write("zones.geojson", kZones); }

  std::filesystem::path Write(const std::string& body) { return dir_.Write("pricing.yaml", body); }

  // Loads `body` and returns the error message, failing the test if it loads.
  std::string ErrorOf(const std::string& body, std::map<std::string, std::string> env = {}) {
    const auto path = Write(body);
    try {
      LoadConfig(path, Env(env));
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted:\n" << body;
    return "";
  }

  std::string Prefix() const { return (dir_.path() / "pricing.yaml").string() + ": "; }

  static constexpr const char* kCity = "cities:\n  nyc:\n    zones: zones.geojson\n";
  TempDir dir_;
};

// The fuzzer's seeds and every input it ever crashed on (fuzz/regressions/): each loads
// or is refused with a ConfigError naming the file, and nothing else escapes.
TEST_F(ConfigTest, ReplaysTheFuzzSeedsAndRegressions) {
  int replayed = 0;
  const EnvLookup no_env = [](const std::string&) { return std::nullopt; };
  for (const char* dir : {"fuzz/corpus/config_loader", "fuzz/regressions/config_loader"}) {
    const auto path = std::filesystem::path(PRICING_SOURCE_DIR) / dir;
    if (!std::filesystem::exists(path)) continue;
    for (const auto& f : std::filesystem::directory_iterator(path)) {
      try {
        LoadConfig(f.path(), no_env);
      } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find(f.path().filename().string()), std::string::npos)
            << e.what();
      }
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 3) << "the committed seeds are missing";
}

TEST_F(ConfigTest, DefaultsAreThoseOfTheSpec) {
  const Config c = LoadConfig(Write(kCity), Env({}));
  EXPECT_EQ(c.window_seconds, 30);
  EXPECT_EQ(c.interval_seconds, 5);
  EXPECT_EQ(c.allowed_lateness_ms, 1000);
  EXPECT_EQ(c.max_future_skew_ms, 10000);
  EXPECT_EQ(c.model, ModelParams{});
  EXPECT_EQ(c.model.name, "ratio-v1");
  EXPECT_DOUBLE_EQ(c.model.spatial_weight, 0.5);
  EXPECT_DOUBLE_EQ(c.model.adjacency_tolerance_deg, 1e-4);
  EXPECT_DOUBLE_EQ(c.model.threshold, 1.2);
  EXPECT_DOUBLE_EQ(c.model.cap, 3.0);
  const CityConfig& nyc = c.cities.at("nyc");
  EXPECT_EQ(nyc.zones_path, dir_.path() / "zones.geojson");  // relative to the file
  EXPECT_EQ(nyc.id_property, "LocationID");
  EXPECT_EQ(nyc.name_property, "zone");
}

TEST_F(ConfigTest, ShippedNycConfigurationsLoad) {
  for (const char* name : {"config/nyc.yaml", "config/nyc-replay.yaml", "config/nyc-kafka.yaml",
                           "config/nyc-partitioned.yaml", "config/nyc-kafka-partitioned.yaml"}) {
    const Config c = LoadConfig(test::SourcePath(name), Env({}));
    EXPECT_TRUE(std::filesystem::exists(c.cities.at("nyc").zones_path)) << name;
  }
}

TEST_F(ConfigTest, ReadsEveryKeyAndCityOverrides) {
  const Config c = LoadConfig(Write(R"(
window_seconds: 60
interval_seconds: 10
allowed_lateness_ms: 500
max_future_skew_ms: 2000
health_check_interval_seconds: 7
nats_url: nats://a:4222,nats://b:4222
model: {spatial_weight: 0, prior: 2, threshold: 1.5, sensitivity: 1, alpha_up: 1,
        alpha_down: 0.1, max_step: 0.5, floor: 0.9, cap: 2.5, step: 0.05,
        adjacency_tolerance_deg: 0.001}
cities:
  nyc:
    zones: zones.geojson
    model: {cap: 2.0}
    overrides:
      "1": {cap: 1.5, floor: 1.1}
      "2": {fixed: 1.7}
      "3": {disabled: true}
)"),
                              Env({}));
  EXPECT_EQ(c.window_seconds, 60);
  EXPECT_EQ(c.interval_ms(), 10000);
  EXPECT_EQ(c.allowed_lateness_ms, 500);
  EXPECT_EQ(c.max_future_skew_ms, 2000);
  EXPECT_EQ(c.health_check_interval_seconds, 7);
  EXPECT_EQ(c.nats_url, "nats://a:4222,nats://b:4222");
  EXPECT_DOUBLE_EQ(c.model.cap, 2.5);
  EXPECT_DOUBLE_EQ(c.model.step, 0.05);
  const CityConfig& nyc = c.cities.at("nyc");
  EXPECT_DOUBLE_EQ(nyc.model.cap, 2.0);
  EXPECT_DOUBLE_EQ(nyc.model.prior, 2.0);  // inherited
  EXPECT_EQ(nyc.overrides.at("1").cap, 1.5);
  EXPECT_EQ(nyc.overrides.at("2").fixed, 1.7);
  EXPECT_TRUE(nyc.overrides.at("3").disabled);
}

TEST_F(ConfigTest, StreamsDefaultToSpecLimitsWithS2OnLocationEventsAndTakeOverrides) {
  const Config defaults = LoadConfig(Write(kCity), Env({}));
  for (const StreamConfig& s : defaults.streams) {
    EXPECT_EQ(s.compression, s.name == "LOCATION_EVENTS" ? "s2" : "none") << s.name;
  }
  const Config c = LoadConfig(Write(std::string(kCity) + R"(
streams:
  replicas: 1
  definitions:
    LOCATION_EVENTS: {compression: none, max_age_seconds: 7200}
    PRICING_UPDATES: {compression: s2}
)"),
                              Env({}));
  for (const StreamConfig& s : c.streams) {
    EXPECT_EQ(s.replicas, 1) << s.name;
    if (s.name == "LOCATION_EVENTS") {
      EXPECT_EQ(s.compression, "none");
      EXPECT_EQ(s.max_age_seconds, 7200);
    }
    if (s.name == "PRICING_UPDATES") {
      EXPECT_EQ(s.compression, "s2");
    }
  }
  EXPECT_EQ(ErrorOf(std::string(kCity) +
                    "streams: {definitions: {LOCATION_EVENTS: {compression: zstd}}}\n"),
            Prefix() +
                "key 'streams.definitions.LOCATION_EVENTS.compression': value zstd is not "
                "allowed; allowed: none, s2");
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  const Config c = LoadConfig(Write(std::string("window_seconds: 30\n") + kCity),
                              Env({{"WINDOW_SIZE_SECONDS", "60"},
                                   {"PROCESSING_INTERVAL_SECONDS", "10"},
                                   {"HEALTH_CHECK_INTERVAL_SECONDS", "3"},
                                   {"NATS_URL", "nats://x:1"}}));
  EXPECT_EQ(c.window_seconds, 60);
  EXPECT_EQ(c.interval_seconds, 10);
  EXPECT_EQ(c.health_check_interval_seconds, 3);
  EXPECT_EQ(c.nats_url, "nats://x:1");
}

TEST_F(ConfigTest, RefusesWindowNotAMultipleOfInterval) {
  EXPECT_EQ(ErrorOf(std::string("window_seconds: 32\n") + kCity),
            Prefix() +
                "key 'window_seconds': value 32 is not allowed; must be a positive multiple "
                "of interval_seconds (5)");
  EXPECT_EQ(ErrorOf(kCity, {{"WINDOW_SIZE_SECONDS", "12"}}),
            Prefix() +
                "key 'window_seconds': value 12 is not allowed; must be a positive multiple "
                "of interval_seconds (5)");
}

TEST_F(ConfigTest, ReadsTheKafkaBackendAndRefusesItsBadValues) {
  const Config c = LoadConfig(
      Write(std::string("backend: kafka\nkafka: {brokers: \"k1:9092,k2:9092\", group_id: g, "
                        "linger_ms: 2, fetch_wait_max_ms: 3, auto_offset_reset: earliest}\n") +
            kCity),
      Env({}));
  EXPECT_EQ(c.backend, "kafka");
  EXPECT_EQ(c.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.kafka.group_id, "g");
  EXPECT_EQ(c.kafka.linger_ms, 2);
  EXPECT_EQ(c.kafka.fetch_wait_max_ms, 3);
  EXPECT_EQ(c.kafka.auto_offset_reset, "earliest");
  EXPECT_EQ(
      LoadConfig(Write(std::string("backend: kafka\n") + kCity), Env({{"KAFKA_BROKERS", "e:1"}}))
          .kafka.brokers,
      "e:1");
  EXPECT_EQ(LoadConfig(Write(kCity), Env({})).backend, "nats");

  EXPECT_EQ(ErrorOf(std::string("backend: rabbit\n") + kCity),
            Prefix() + "key 'backend': value 'rabbit' is not allowed; must be nats or kafka");
  EXPECT_EQ(
      ErrorOf(std::string("backend: kafka\n") + kCity),
      Prefix() + "key 'kafka.brokers': is required with backend: kafka (HOST:PORT[,HOST:PORT...])");
  EXPECT_EQ(ErrorOf(std::string("kafka: {brokers: a:1, auto_offset_reset: middle}\n") + kCity),
            Prefix() +
                "key 'kafka.auto_offset_reset': value 'middle' is not allowed; must be latest or "
                "earliest");
  EXPECT_NE(ErrorOf(std::string("kafka: {brokers: a:1, acks: 0}\n") + kCity).find("kafka.acks"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsNatsAuthRelativeToTheFileAndLetsTheEnvironmentOverrideIt) {
  dir_.Write("ca.pem", "ca");
  dir_.Write("me.pem", "cert");
  dir_.Write("me-key.pem", "key");
  const Config c = LoadConfig(
      Write(std::string("nats_auth: {ca: ca.pem, cert: me.pem, key: me-key.pem, user: u, "
                        "password: p}\n") +
            kCity),
      Env({}));
  EXPECT_EQ(c.nats_auth.ca_file, (dir_.path() / "ca.pem").string());
  EXPECT_EQ(c.nats_auth.cert_file, (dir_.path() / "me.pem").string());
  EXPECT_EQ(c.nats_auth.key_file, (dir_.path() / "me-key.pem").string());
  EXPECT_EQ(c.nats_auth.user, "u");
  EXPECT_EQ(c.nats_auth.password, "p");
  EXPECT_TRUE(c.nats_auth.tls());
  const std::string other = dir_.Write("other.pem", "cert").string();
  EXPECT_EQ(LoadConfig(Write(std::string("nats_auth: {cert: me.pem, key: me-key.pem}\n") + kCity),
                       Env({{"NATS_CERT", other}}))
                .nats_auth.cert_file,
            other);
  EXPECT_FALSE(LoadConfig(Write(kCity), Env({})).nats_auth.tls());
  EXPECT_FALSE(LoadConfig(Write(std::string("nats_auth:\n") + kCity), Env({})).nats_auth.tls());
  // Tools without a file read the environment alone (found by the perf harness).
  EXPECT_EQ(NatsAuthFromEnvironment(Env({})).cert_file, "");
  EXPECT_EQ(NatsAuthFromEnvironment(Env({{"NATS_USER", "u"}})).user, "u");

  EXPECT_EQ(ErrorOf(std::string("nats_auth: {ca: missing.pem}\n") + kCity),
            Prefix() + "key 'nats_auth.ca': cannot read file '" +
                (dir_.path() / "missing.pem").string() + "'");
  EXPECT_EQ(
      ErrorOf(std::string("nats_auth: {cert: me.pem}\n") + kCity),
      Prefix() + "key 'nats_auth.key': missing: nats_auth.cert and nats_auth.key go together");
  EXPECT_EQ(ErrorOf(std::string("nats_auth: {password: p}\n") + kCity),
            Prefix() + "key 'nats_auth.user': missing: a password needs a user");
  EXPECT_EQ(ErrorOf(std::string("nats_auth: {token: t}\n") + kCity).substr(0, Prefix().size() + 25),
            Prefix() + "key 'nats_auth.token': un");
}

TEST_F(ConfigTest, RefusesLatenessOfAnIntervalOrMore) {
  EXPECT_EQ(ErrorOf(std::string("allowed_lateness_ms: 5000\n") + kCity),
            Prefix() +
                "key 'allowed_lateness_ms': value 5000 is not allowed; must be >= 0 and < "
                "interval_seconds * 1000 (5000)");
}

TEST_F(ConfigTest, RefusesModelParametersOutsideTheirRange) {
  EXPECT_EQ(ErrorOf(std::string("model: {alpha_up: 1.5}\n") + kCity),
            Prefix() + "key 'model.alpha_up': value 1.5 is not allowed; must be in (0, 1]");
  EXPECT_EQ(ErrorOf(std::string("model: {alpha_down: 0}\n") + kCity),
            Prefix() + "key 'model.alpha_down': value 0 is not allowed; must be in (0, 1]");
  EXPECT_EQ(ErrorOf(std::string("model: {floor: 2, cap: 1.5}\n") + kCity),
            Prefix() + "key 'model.cap': value 1.5 is not allowed; must be >= floor (2)");
  EXPECT_EQ(ErrorOf(std::string("model: {prior: 0}\n") + kCity),
            Prefix() + "key 'model.prior': value 0 is not allowed; must be > 0");
  EXPECT_EQ(ErrorOf(std::string("model: {step: -0.1}\n") + kCity),
            Prefix() + "key 'model.step': value -0.1 is not allowed; must be > 0");
  EXPECT_EQ(
      ErrorOf(std::string("model: {name: ratio-v2}\n") + kCity),
      Prefix() + "key 'model.name': value 'ratio-v2' is not allowed; allowed models: ratio-v1");
  EXPECT_EQ(ErrorOf(std::string("model: {threshold: high}\n") + kCity),
            Prefix() + "key 'model.threshold': value 'high' is not a number");
  EXPECT_EQ(
      ErrorOf("cities:\n  nyc:\n    zones: zones.geojson\n    model: {cap: 0.5}\n"),
      Prefix() + "key 'cities.nyc.model.cap': value 0.5 is not allowed; must be >= floor (1)");
}

TEST_F(ConfigTest, RefusesBadOverrides) {
  EXPECT_EQ(
      ErrorOf(std::string(kCity) + "    overrides:\n      \"1\": {floor: 2.5, cap: 2}\n"),
      Prefix() +
          "key 'cities.nyc.overrides.1': floor 2.5 is greater than cap 2; floor must be <= cap");
  EXPECT_EQ(
      ErrorOf(std::string(kCity) + "    overrides:\n      \"1\": {floor: 3.5}\n"),
      Prefix() +
          "key 'cities.nyc.overrides.1': floor 3.5 is greater than cap 3; floor must be <= cap");
  EXPECT_EQ(ErrorOf(std::string(kCity) + "    overrides:\n      \"1\": {ceiling: 2}\n"),
            Prefix() +
                "key 'cities.nyc.overrides.1.ceiling': unknown key; allowed keys here: floor, "
                "cap, fixed, disabled");
  EXPECT_EQ(ErrorOf(std::string(kCity) + "    overrides:\n      \"1\": {disabled: maybe}\n"),
            Prefix() +
                "key 'cities.nyc.overrides.1.disabled': value 'maybe' is not a boolean "
                "(allowed: true, false)");
}

TEST_F(ConfigTest, OverrideOfAnUnknownZoneFailsWhenZonesLoad) {
  const Config c =
      LoadConfig(Write(std::string(kCity) + "    overrides:\n      \"999\": {cap: 2}\n"), Env({}));
  ManualClock clock;
  try {
    PricingEngine engine(c.engine(), clock);
    FAIL() << "unknown zone accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("override for zone '999': no such zone in"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigTest, RefusesMissingOrNonGeoJsonZonesFile) {
  EXPECT_EQ(ErrorOf("cities:\n  nyc:\n    zones: nowhere.geojson\n"),
            Prefix() +
                "key 'cities.nyc.zones': zones file 'nowhere.geojson' cannot be opened (No such "
                "file or directory): a relative path is taken from the configuration file's "
                "folder, so it resolved to '" +
                (dir_.path() / "nowhere.geojson").string() + "'");
  const std::string absolute = (dir_.path() / "gone.geojson").string();
  EXPECT_EQ(ErrorOf("cities:\n  nyc:\n    zones: " + absolute + "\n"),
            Prefix() + "key 'cities.nyc.zones': zones file '" + absolute +
                "' cannot be opened (No such file or directory)");
  dir_.Write("zones.csv", "LocationID,Borough\n");
  EXPECT_EQ(ErrorOf("cities:\n  nyc:\n    zones: zones.csv\n"),
            Prefix() + "key 'cities.nyc.zones': zones file '" +
                (dir_.path() / "zones.csv").string() +
                "' is not GeoJSON (expected a FeatureCollection object)");
}

TEST_F(ConfigTest, RefusesUnknownKeysListingTheAllowedOnes) {
  const std::string error = ErrorOf(std::string("window_secs: 30\n") + kCity);
  EXPECT_EQ(
      error.rfind(Prefix() + "key 'window_secs': unknown key; allowed keys here: window_seconds, ",
                  0),
      0u)
      << error;
}

TEST_F(ConfigTest, RefusesBadCitiesAndNonIntegers) {
  EXPECT_EQ(ErrorOf("window_seconds: 30\n"), Prefix() +
                                                 "key 'cities': must be a mapping with at least "
                                                 "one city (for example 'nyc: {zones: ...}')");
  EXPECT_EQ(ErrorOf("cities:\n  NYC:\n    zones: zones.geojson\n"),
            Prefix() +
                "key 'cities.NYC': city key 'NYC' is not allowed; use lower-case letters, digits "
                "and '-'");
  EXPECT_EQ(ErrorOf(std::string("interval_seconds: 2.5\n") + kCity),
            Prefix() + "key 'interval_seconds': value '2.5' is not an integer");
  EXPECT_EQ(ErrorOf("cities:\n  nyc: {}\n"),
            Prefix() + "key 'cities.nyc.zones': missing; give the path of a GeoJSON zones file");
}

TEST_F(ConfigTest, RefusesBadEnvironmentValues) {
  EXPECT_EQ(
      ErrorOf(kCity, {{"PROCESSING_INTERVAL_SECONDS", "five"}}),
      "environment variable PROCESSING_INTERVAL_SECONDS: value 'five' is not allowed; must be "
      "an integer >= 1");
  EXPECT_EQ(ErrorOf(kCity, {{"WINDOW_SIZE_SECONDS", "0"}}),
            "environment variable WINDOW_SIZE_SECONDS: value '0' is not allowed; must be an "
            "integer >= 1");
}

TEST_F(ConfigTest, RefusesUnreadableOrInvalidYaml) {
  try {
    LoadConfig(dir_.path() / "missing.yaml", Env({}));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir_.path() / "missing.yaml").string() + ": cannot open configuration file");
  }
  EXPECT_NE(ErrorOf("window_seconds: [30\n").find("not valid YAML"), std::string::npos);
}

}  // namespace
}  // namespace pricing

namespace pricing {
namespace {

TEST_F(ConfigTest, PartitionsSplitLocationEventsByIdAndAreBounded) {
  const Config one = LoadConfig(Write(kCity), Env({}));
  EXPECT_EQ(one.partitions, 1);
  for (const StreamConfig& s : one.streams) EXPECT_EQ(s.transform_dest, "") << s.name;
  const Config three = LoadConfig(Write(std::string(kCity) + "partitions: 3\n"), Env({}));
  EXPECT_EQ(three.partitions, 3);
  for (const StreamConfig& s : three.streams) {
    if (s.name != "LOCATION_EVENTS") {
      EXPECT_EQ(s.transform_dest, "") << s.name;
      continue;
    }
    EXPECT_EQ(s.transform_src, "location.*.*.*");
    EXPECT_EQ(s.transform_dest, "location.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(3,3)}}");
  }
  EXPECT_EQ(ErrorOf(std::string(kCity) + "partitions: 0\n"),
            Prefix() + "key 'partitions': value 0 is not allowed; must be >= 1");
  EXPECT_EQ(ErrorOf(std::string(kCity) + "partitions: 300\n"),
            Prefix() + "key 'partitions': value 300 is not allowed; must be 1 to 256");
}

// On Kafka a stage-1 partition is a partition of location-events: `partitions` sets
// their number, and a kafka.partitions that says otherwise is refused.
TEST_F(ConfigTest, PartitionsAreTheKafkaInputTopicsPartitions) {
  const Config three = LoadConfig(Write(std::string(kCity) + "partitions: 3\n"), Env({}));
  EXPECT_EQ(three.kafka.partitions, 3);
  const Config same =
      LoadConfig(Write(std::string(kCity) + "partitions: 3\nkafka: {partitions: 3}\n"), Env({}));
  EXPECT_EQ(same.kafka.partitions, 3);
  const Config whole = LoadConfig(Write(std::string(kCity) + "kafka: {partitions: 4}\n"), Env({}));
  EXPECT_EQ(whole.kafka.partitions, 4);
  EXPECT_EQ(ErrorOf(std::string(kCity) + "partitions: 3\nkafka: {partitions: 4}\n"),
            Prefix() +
                "key 'kafka.partitions': value 4 is not allowed with partitions: 3; "
                "location-events then has one partition per stage-1 partition: leave it out or "
                "set it to 3");
  EXPECT_EQ(ErrorOf(std::string(kCity) + "kafka: {partials_topic: \"\"}\n"),
            Prefix() + "key 'kafka.partials_topic': value '' is not a non-empty string");
}

}  // namespace
}  // namespace pricing
