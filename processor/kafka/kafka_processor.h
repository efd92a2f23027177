// `pricing run` on Kafka (backend: kafka): the same pricing core as the JetStream
// processor, between a librdkafka consumer of `location-events` and an idempotent
// producer of `pricing-updates`, `websocket-events`, `analytics-events` and
// `dead-letters` (events.md: a stream's topic is its name in lower case with `_`
// turned to `-`, keyed by the subject's last token; the full subject travels in a
// `subject` header).
//
// Delivery: at least once. An event's offset is stored for commit only after it has
// been applied (or dead-lettered), and librdkafka commits stored offsets every
// second. Ticks close on the events' broker timestamps while a backlog is read, and
// on the wall clock when the consumer is caught up, like the JetStream processor.
//
// What the JetStream processor has and this one has not (yet): the window is not
// rebuilt after a restart (it refills over one window length), there is no
// checkpoint, no CONFIG_UPDATES and no /readyz beyond liveness. Output messages carry
// the message id as a `msg-id` header; Kafka has no broker-side deduplication by id,
// and the idempotent producer covers retries of one producer session only.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "observe/metrics.h"
#include "transport/kafka_handles.h"

namespace pricing {

struct KafkaCounters {
  uint64_t events_applied = 0;
  uint64_t events_rejected = 0;
  uint64_t ticks_closed = 0;
  std::atomic<uint64_t> produced{0};
  std::atomic<uint64_t> produce_errors{0};
};

class KafkaProcessor {
 public:
  static constexpr int64_t kStallSeconds = 30;

  KafkaProcessor(const Config& config, const Clock& clock);
  ~KafkaProcessor();

  // Consumes until `stop`, then flushes what it produced and commits what it applied.
  void Run(const std::atomic<bool>& stop);

  Metrics& metrics() { return metrics_; }
  bool alive() const;
  const KafkaCounters& counters() const { return counters_; }

 private:
  void Connect();
  void Handle(rd_kafka_message_t* msg);
  void CloseTicks(int64_t watermark_ms);
  void Produce(const std::string& topic, const std::string& key, const std::string& subject,
               const std::string& msg_id, const std::string& payload,
               const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  std::string TopicFor(const std::string& subject) const;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);

  const Config& config_;
  const Clock& clock_;
  PricingEngine engine_;
  Metrics metrics_;
  KafkaCounters counters_;
  KafkaPtr<rd_kafka_t> consumer_;
  KafkaPtr<rd_kafka_t> producer_;
  std::atomic<int64_t> loop_heartbeat_ms_{0};
};

// The subject of a Kafka input: its `subject` header, else rebuilt from the key (the
// city) and the payload's kind (a driver_id makes a ping, a request_id a request).
std::string KafkaInputSubject(rd_kafka_message_t* msg);

}  // namespace pricing
