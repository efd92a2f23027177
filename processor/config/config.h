// Processor configuration: the YAML file of pricing-model.md plus environment overrides.
// Loaded and validated once at start-up; immutable afterwards, so safe to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config_error.h"
#include "common/nats_auth.h"
#include "engine/engine_config.h"
#include "events/subject.h"  // IsValidCityKey
#include "pricing/model_params.h"

namespace pricing {

// A JetStream stream (streams.md). Limits of -1 / 0 mean "none".
struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;
  int64_t max_age_seconds = 0;        // 0: no age limit
  int64_t max_msgs_per_subject = -1;  // -1: no limit
  int32_t max_msg_size = -1;          // bytes; -1: server default
  int64_t duplicate_window_seconds = 120;
  int64_t replicas = 3;
  std::string compression = "none";  // none | s2 (the stored blocks, file storage)
  // A subject transform applied as messages are stored (empty: none). Set on
  // LOCATION_EVENTS by the key partitions, not by the file.
  std::string transform_src, transform_dest;

  bool operator==(const StreamConfig&) const = default;
};

// The six streams of streams.md with their default limits.
std::vector<StreamConfig> DefaultStreams(int64_t replicas);

// The durable pull consumer the processor reads LOCATION_EVENTS with.
struct ConsumerConfig {
  std::string durable = "pricing-processor";
  int64_t batch = 2048;             // messages per fetch (at most; a fetch ends at fetch_wait_ms)
  int64_t fetch_wait_ms = 50;       // longest a fetch waits when nothing arrives
  int64_t ack_wait_seconds = 30;    // redelivery after this long without an ack
  int64_t max_ack_pending = 20000;  // in-flight unacknowledged messages
  int64_t max_deliver = 5;          // then the message is dead-lettered
  // Processors sharing the durable: one is active (pinned by the server), the others
  // stand by. A standby takes over once the active one has not pulled for this long
  // (the consumer's priority_timeout; dead, frozen or cut off).
  int64_t takeover_after_seconds = 5;
};

// The HTTP side: /metrics, /healthz, /readyz.
struct HttpConfig {
  std::string bind = "0.0.0.0";
  int64_t port = 8080;              // 0: any free port (logged)
  bool zone_metrics = true;         // per-zone multiplier/supply/demand series
  int64_t max_zone_metrics = 2000;  // per city; a larger city gets no per-zone series
};

// What /readyz requires, checked every health_check_interval_seconds.
struct HealthConfig {
  int64_t max_consumer_lag = 100000;  // events stored and not yet delivered
  int64_t max_tick_age_seconds = 0;   // 0: three intervals plus the allowed lateness
};

// The WebSocket push channel and live map (gateway/gateway.h), on the HTTP port.
struct GatewayConfig {
  bool enabled = true;               // in `pricing run`; `pricing gateway` always serves it
  int64_t max_queue_messages = 256;  // a client further behind is disconnected
  int64_t max_clients = 10000;       // more are refused with 503
};

// Asynchronous publishing of outputs and dead letters.
struct PublishConfig {
  int64_t max_pending = 4096;  // in-flight publishes awaiting their PubAck
  int64_t ack_wait_ms = 5000;  // a publish without PubAck by then is retried (same id)
};

// The Kafka backend of `pricing run` (backend: kafka): the same core between a
// librdkafka consumer and producer; topics are the streams' names in lower case with
// `_` turned to `-` (events.md).
struct KafkaConfig {
  std::string brokers;  // bootstrap servers, HOST:PORT[,...]; required
  std::string group_id = "pricing-processor";
  int64_t linger_ms = 0;           // producer batching delay (librdkafka's default is 5)
  int64_t fetch_wait_max_ms = 10;  // longest a broker holds an empty fetch
  // Where a new consumer group starts: at the end (latest) or at the oldest retained
  // event (earliest: for a fresh topic, or to read a backlog on purpose).
  std::string auto_offset_reset = "latest";
  // Of location-events (`pricing streams apply`). With the top-level `partitions` above
  // 1 it is that number: each partition of the topic is one stage-1 partition.
  int64_t partitions = 1;
  // How long the group waits for a member that stopped heartbeating (a killed
  // processor) before it gives its partitions to another, or to the restarted one.
  int64_t session_timeout_ms = 10000;
  // The compacted topic of the checkpoints, keyed by city (the last one per city is
  // what a restart reads).
  std::string checkpoint_topic = "pricing-state";
  // Partitioned pricing (top-level `partitions` above 1): the counts stage 1 publishes
  // every tick for stage 2, and the one-partition topic whose holder, in each count
  // stage's consumer group, is the active process of that partition.
  std::string partials_topic = "pricing-partials";
  std::string lease_topic = "pricing-leases";
};

struct Config {
  std::filesystem::path source;  // the file it was read from
  int64_t window_seconds = 30;
  int64_t interval_seconds = 5;
  int64_t allowed_lateness_ms = 1000;
  int64_t max_future_skew_ms = 10000;
  int64_t health_check_interval_seconds = 30;
  std::string nats_url = "nats://127.0.0.1:4222";
  // Write every protocol line at once (lowest latency) instead of letting libnats'
  // flusher coalesce them for up to 1 ms. Off by default for the processor: it acks
  // every event, and a syscall per ack cut its throughput from 96 % of a bare
  // fetch+ack consumer to 36 % (docs/performance.md).
  bool nats_send_asap = false;
  // How long every command keeps trying to reach NATS at start-up, saying so at once
  // and every 10 s, before it gives up (0: until it answers). SIGINT/SIGTERM stop the
  // wait at once.
  int64_t nats_connect_wait_seconds = 60;
  // TLS and credentials for every NATS connection (key nats_auth; environment NATS_CA,
  // NATS_CERT, NATS_KEY, NATS_USER, NATS_PASSWORD, NATS_CREDS, NATS_NKEY,
  // NATS_NKEY_SEED override it). Relative paths are relative to the file.
  NatsAuth nats_auth;
  // A restarted processor recomputes the ticks it missed, from its checkpoint, when they
  // are at most this old; after a longer outage it resumes at the next tick instead.
  int64_t max_catch_up_seconds = 300;
  // Exact partitioned pricing: the drivers and riders of each city are split into this
  // many partitions by id. `pricing run --stage count --partition P` counts one of them,
  // `pricing run --stage price` prices the sums (docs/design.md, "Scale-out"). A plain
  // `pricing run` does all of it and ignores this.
  int64_t partitions = 1;
  static constexpr int64_t kMaxPartitions = 256;
  // What `pricing run` computes (--stage, --partition); not read from the file.
  PricingStage stage = PricingStage::kWhole;
  int64_t partition = 0;
  ModelParams model;
  std::map<std::string, CityConfig> cities;  // by city key, sorted
  std::vector<StreamConfig> streams = DefaultStreams(3);
  ConsumerConfig consumer;
  PublishConfig publish;
  HttpConfig http;
  HealthConfig health;
  GatewayConfig gateway;
  std::string backend = "nats";  // nats | kafka
  KafkaConfig kafka;

  int64_t window_ms() const { return window_seconds * 1000; }
  int64_t interval_ms() const { return interval_seconds * 1000; }
  // What the pricing core takes of it.
  EngineConfig engine() const;
};

// Reads a variable of the environment; returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnvironment();

// Loads and validates `path`, then applies WINDOW_SIZE_SECONDS,
// PROCESSING_INTERVAL_SECONDS, HEALTH_CHECK_INTERVAL_SECONDS and NATS_URL from `env`.
// Throws ConfigError on anything invalid. Zone files are checked to exist here; their
// contents are validated when the zones are loaded.
Config LoadConfig(const std::filesystem::path& path, const EnvLookup& env = ProcessEnvironment());

// TLS and credentials from NATS_CA, NATS_CERT, NATS_KEY, NATS_USER, NATS_PASSWORD,
// NATS_CREDS, NATS_NKEY and NATS_NKEY_SEED alone (tools without a configuration file,
// such as the performance harness). Throws ConfigError as LoadConfig does.
NatsAuth NatsAuthFromEnvironment(const EnvLookup& env = ProcessEnvironment());

}  // namespace pricing
