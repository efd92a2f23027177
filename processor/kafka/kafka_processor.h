// `pricing run` on Kafka (backend: kafka): the same pricing core as the JetStream
// processor, between a librdkafka consumer of `location-events` and an idempotent
// producer of `pricing-updates`, `websocket-events`, `analytics-events` and
// `dead-letters` (events.md: a stream's topic is its name in lower case with `_`
// turned to `-`, keyed by the subject's last token; the full subject travels in a
// `subject` header).
//
// The driver between Kafka and the pricing operator (operator/pricing_operator.h),
// which decides everything, as it does for JetStream: this file turns consumed
// messages into input records, carries out the operator's actions and reports each
// produced message's fate back.
//
// Delivery: at least once. An input's offset is committed only once the operator
// acknowledged it, and in order per partition: an input whose ack waits (its dead
// letter is not stored yet) holds back every later offset of its partition
// (OffsetTracker), so a crash redelivers it instead of losing it. librdkafka commits
// stored offsets every second. Ticks close on the inputs' broker timestamps while a
// backlog is read (the consumer's lag, from the cached high watermark), and on the
// wall clock when caught up.
//
// What the JetStream processor has and this one has not (yet): checkpoints (the
// operator's are dropped: there is no compacted topic for them), so the window is not
// rebuilt after a restart and refills over one window length; no CONFIG_UPDATES; no
// /readyz beyond liveness. Output messages carry the message id as a `msg-id` header;
// Kafka has no broker-side deduplication by id, and the idempotent producer covers
// retries of one producer session only.
//
// Threads: Run() owns the operator, the consumer and the producer; librdkafka's
// delivery reports run inside Run()'s rd_kafka_poll and only queue. The HTTP threads
// call metrics() and alive(), both thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "observe/liveness.h"
#include "observe/metrics.h"
#include "observe/operator_metrics.h"
#include "operator/pricing_operator.h"
#include "transport/kafka_handles.h"

namespace pricing {

// Which offsets of each partition may be committed: those below the first offset
// received and not yet acknowledged. Pure; owned by one thread.
class OffsetTracker {
 public:
  void Received(int32_t partition, int64_t offset) { open_[partition].insert(offset); }
  // Returns the offset to commit for `partition` (the next to read after the
  // acknowledged prefix) when the prefix grew, else -1.
  int64_t Acked(int32_t partition, int64_t offset);

 private:
  std::map<int32_t, std::set<int64_t>> open_;  // received, not acknowledged
  std::map<int32_t, int64_t> max_acked_;       // per partition, the largest acked
  std::map<int32_t, int64_t> committable_;     // per partition, the last returned
};

class KafkaProcessor {
 public:
  static constexpr int64_t kStallSeconds = Liveness::kStallSeconds;

  KafkaProcessor(const Config& config, const Clock& clock);
  ~KafkaProcessor();

  // Consumes until `stop`, then flushes what it produced and commits what it applied.
  void Run(const std::atomic<bool>& stop);

  Metrics& metrics() { return metrics_; }
  bool alive() const { return liveness_.alive(); }
  const OperatorCounters& counters() const { return operator_.counters(); }
  uint64_t produced() const { return produced_.load(); }

 private:
  void Connect();
  void Handle(rd_kafka_message_t* msg);
  void Execute();
  void ReportDeliveries();
  // True when the consumer has its partitions and has read each to its high watermark
  // (as last fetched): nothing stored before now is still on its way. Before the
  // group assigned partitions, or before a first fetch, it is not.
  bool CaughtUp();
  void Produce(const Action& a);
  std::string TopicFor(const std::string& subject) const;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);

  const Config& config_;
  const Clock& clock_;
  PricingEngine engine_;
  Metrics metrics_;
  OperatorMetrics listener_;
  PricingOperator operator_;
  Liveness liveness_;
  OffsetTracker offsets_;
  std::vector<Action> actions_;
  std::vector<std::pair<uint64_t, bool>> deliveries_;  // queued by OnDelivery
  std::atomic<uint64_t> produced_{0};
  std::atomic<uint64_t> produce_errors_{0};
  KafkaPtr<rd_kafka_t> consumer_;
  KafkaPtr<rd_kafka_t> producer_;
  std::string input_topic_;
};

// The subject of a Kafka input: its `subject` header, else rebuilt from the key (the
// city) and the payload's kind (a driver_id makes a ping, a request_id a request).
std::string KafkaInputSubject(rd_kafka_message_t* msg);

}  // namespace pricing
