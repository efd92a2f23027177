// The Kafka side of `pricing streams apply`: the topics of the configuration, created
// or brought in line idempotently, as ApplyStreams does for JetStream (streams.md):
// create what is missing, update what differs, report what changed, and refuse (never
// "fix" by deleting) a difference Kafka cannot apply in place (fewer partitions, another
// replication factor). Not thread-safe; one call at a time per client.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace pricing {

struct TopicSpec {
  std::string name;
  int32_t partitions = 1;
  int32_t replication = 3;
  // Topic-level settings this project manages (retention.ms, cleanup.policy, ...).
  std::map<std::string, std::string> configs;
};

// One topic per stream of the configuration (its name: TopicForStream), and the
// compacted checkpoint topic. Partitions: kafka.partitions for the input topic, one for
// the others (each is keyed; one keeps a city's outputs in order). Replication: the
// stream's replicas. Retention: the stream's max age (none: kept forever).
// Also the lease topic and, with `partitions` above 1, the partials topic (one
// partition each).
std::vector<TopicSpec> KafkaTopicSpecs(const Config& config);

// What one `pricing run` reads on Kafka, by its stage (config.stage, config.partition):
// - whole: every partition of location-events, in the group kafka.group_id;
// - count P: partition P of location-events, in the group `<group_id>-p<P>of<N>`;
// - price: the partials topic, in the group `<group_id>-price`.
// The group subscribes to the one-partition lease topic (kafka.lease_topic), not to
// what it reads: the member holding the lease reads the stage's partitions and the
// others stand by. (A group subscribed to a topic of several partitions would share
// them out among its members: a standby would take part of the work, and each would
// price a city from part of its events.)
struct KafkaStageInput {
  std::string group;
  std::string topic;
  int32_t partition = -1;  // the one partition of `topic` read; -1: every one
};
KafkaStageInput KafkaStageInputOf(const Config& config);

struct TopicApplyResult {
  std::string name;
  enum class Action { kCreated, kUpdated, kUnchanged } action = Action::kUnchanged;
  std::vector<std::string> changes;  // "retention.ms: 604800000 -> 3600000", ...
};

std::string_view ToString(TopicApplyResult::Action action);  // "created", "updated", "unchanged"

// Throws std::runtime_error on broker failures and ConfigError on a change Kafka cannot
// apply in place. Retries for up to `deadline_ms` while the cluster is still forming (a
// replication factor above the brokers registered so far).
std::vector<TopicApplyResult> ApplyKafkaTopics(rd_kafka_t* rk, const std::vector<TopicSpec>& topics,
                                               int64_t deadline_ms);

struct KafkaTopicState {
  int32_t partitions = 0;  // 0: no such topic
  int32_t replication = 0;
  uint64_t messages = 0;  // retained: high minus low watermark, over the partitions
};

// Throws std::runtime_error when the cluster does not answer.
KafkaTopicState GetKafkaTopicState(rd_kafka_t* rk, const std::string& topic);

}  // namespace pricing
