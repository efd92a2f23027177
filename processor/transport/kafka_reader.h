// Reading a Kafka topic by offsets, outside any consumer group: what recovery needs
// (the last checkpoint per city, the configuration history, the events a restarted
// processor reads again into its window) and the following of a topic from its end
// (configuration documents, the gateway's outputs). Nothing is committed.
//
// Threads: one thread uses a reader.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "transport/kafka_handles.h"

namespace pricing {

struct PartitionRange {
  int32_t partition = 0;
  int64_t from = 0;   // first offset to read
  int64_t until = 0;  // one past the last (a high watermark, say)
};

class KafkaReader {
 public:
  // Throws std::runtime_error when the client cannot be made.
  KafkaReader(const std::string& brokers, std::string topic, const std::string& client_id);
  ~KafkaReader();
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  // Every partition with its retained offsets now, [low, high). Throws when the topic
  // does not exist or the cluster does not answer within `timeout_ms`.
  std::vector<PartitionRange> Retained(int timeout_ms);
  // Per partition, the first offset whose timestamp is at or after `ms` (the range's
  // `until` when none is): `ranges` with their `from` moved there.
  std::vector<PartitionRange> From(std::vector<PartitionRange> ranges, int64_t ms, int timeout_ms);

  // Reads every range to its end, handing each message to `fn` in offset order per
  // partition. Returns false when `idle_ms` pass with nothing read and ranges unfinished.
  // Afterwards the reader stays assigned: Poll() goes on from where each range ended.
  bool Read(const std::vector<PartitionRange>& ranges,
            const std::function<void(const rd_kafka_message_t&)>& fn, int idle_ms);
  // Follows every partition from `ranges`' `from` on, for Poll().
  void Follow(const std::vector<PartitionRange>& ranges);
  // The next message, or null after `timeout_ms`. Errors (other than a partition's end)
  // are logged at most every 5 s.
  KafkaPtr<rd_kafka_message_t> Poll(int timeout_ms);

  const std::string& topic() const { return topic_; }
  rd_kafka_t* get() { return rk_.get(); }

 private:
  void Assign(const std::vector<PartitionRange>& ranges);

  std::string topic_;
  KafkaPtr<rd_kafka_t> rk_;
  int64_t last_error_log_ms_ = 0;
};

// A header of a Kafka message, or "" when it has none of that name.
std::string KafkaHeader(const rd_kafka_message_t& m, const char* name);

}  // namespace pricing
