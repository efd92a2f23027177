// Ownership and set-up of librdkafka handles, shared by the Kafka backend of the
// processor and the comparison harness: every handle lives in a unique_ptr, every
// configuration error is thrown with the key and value.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pricing {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
template <typename T>
using KafkaPtr = std::unique_ptr<T, KafkaDeleter>;

// A configuration under construction; Client() hands it to a new client.
class KafkaConf {
 public:
  KafkaConf();
  ~KafkaConf();
  KafkaConf(const KafkaConf&) = delete;
  KafkaConf& operator=(const KafkaConf&) = delete;

  // Throws std::runtime_error naming the key and value librdkafka refused.
  KafkaConf& Set(const std::string& key, const std::string& value);
  rd_kafka_conf_t* get() { return conf_; }
  // The configuration is consumed, whatever the outcome.
  KafkaPtr<rd_kafka_t> Client(rd_kafka_type_t type);

 private:
  rd_kafka_conf_t* conf_;
};

// The project's producers: idempotent (retries neither duplicate nor reorder; implies
// acks=all), `linger_ms` set explicitly (librdkafka's default is 5), no Nagle delay, and
// `on_delivery` called with `opaque` for each message's fate (inside rd_kafka_poll).
KafkaPtr<rd_kafka_t> IdempotentProducer(
    const std::string& brokers, const std::string& client_id, int64_t linger_ms,
    void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*), void* opaque);

// The Kafka topic of a JetStream stream: lower case, `_` turned to `-` (events.md).
std::string TopicForStream(const std::string& stream);

// Creates (or, with create false, deletes) a topic with the admin API; returns the
// error text, empty on success. An existing topic counts as success when creating.
// `configs` are topic settings for a created topic, e.g. {"flush.messages", "1"}.
std::string KafkaAdminTopic(rd_kafka_t* rk, const std::string& topic, int partitions,
                            int replication, bool create,
                            const std::vector<std::pair<std::string, std::string>>& configs = {});

}  // namespace pricing
